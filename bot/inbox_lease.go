package bot

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// The leases of the items in flight. A worker takes an item for one short
// lease (InboxLease) and renews it while the item's handler runs, which
// may take up to Timeout: a replica that dies mid-item leaves it to
// another within one lease, and a live one keeps it for as long as it
// works on it. Most items finish within a second and are never renewed.

// hold notes an item as being processed, its lease ending as it was
// taken.
func (in *Inbox) hold(it flows.InboxItem) {
	end := it.NextAt
	if end.IsZero() {
		end = in.clock.Now().Add(in.lease)
	}
	in.leaseMu.Lock()
	in.held[it.Key] = end
	in.leaseMu.Unlock()
}

// unhold forgets an item finished, retried or given up.
func (in *Inbox) unhold(key string) {
	in.leaseMu.Lock()
	delete(in.held, key)
	in.leaseMu.Unlock()
}

// renewLoop renews the leases every third of a lease until Close has
// waited for the items in flight (or given up on them): a replica shutting
// down keeps what it is finishing.
func (in *Inbox) renewLoop() {
	tick := time.NewTicker(in.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-in.base.Done():
			return
		case <-tick.C:
			in.renewLeases(in.base)
		}
	}
}

// renewLeases extends, to a lease from now, the lease of every item in
// flight that has less than two thirds of one left, in one store call. A
// failed renewal is logged and tried again at the next tick: the lease
// left covers two of them.
func (in *Inbox) renewLeases(ctx context.Context) {
	now := in.clock.Now()
	var keys []string
	in.leaseMu.Lock()
	for k, end := range in.held {
		if end.Sub(now) < 2*in.lease/3 {
			keys = append(keys, k)
		}
	}
	in.leaseMu.Unlock()
	if len(keys) == 0 {
		return
	}
	until := now.Add(in.lease)
	if err := in.store.ExtendInbox(ctx, until, keys...); err != nil {
		if ctx.Err() == nil {
			in.log.Warn("could not renew the leases of inbox items in flight; another worker may take them when they run out", "items", len(keys), "err", err)
		}
		return
	}
	in.leaseMu.Lock()
	for _, k := range keys {
		if _, ok := in.held[k]; ok {
			in.held[k] = until
		}
	}
	in.leaseMu.Unlock()
}

package bot

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// What only one replica can send. A secret lives in the memory of the
// replica that made it (it is never stored), and with several replicas
// only the leader's dispatcher sends the outbox. So a credentials delivery
// names its keeper (Delivery.Holder, from the event's Keeper): the leader
// leaves it to that replica for as long as the replica is alive
// (DispatcherDeps.Alive: its heartbeat is fresh), and that replica sends
// it itself (RunHeld) while it does not lead. A keeper that dies takes its
// secrets with it: the leader then sends the delivery as its own, and so
// reissues the secret, as after a restart. Before, the leader reissued
// every secret another replica made (one more rotation in Atlas, 10 s
// later at best), and under load most grants ended before their requester
// was told their password.

// heldRecheck is how long the leader leaves a conversation whose head
// another live replica holds before it looks whether that replica sent
// it: a read of the delivery each time.
const heldRecheck = 2 * time.Second

// heldByAnother reports whether another replica that is alive holds dl.
func (d *Dispatcher) heldByAnother(dl flows.Delivery) bool {
	return dl.Holder != "" && dl.Holder != d.deps.Self && d.deps.Alive != nil && d.deps.Alive(dl.Holder)
}

// leaveToHolder is deliver for a delivery another live replica holds: if
// it is gone from the store, that replica sent (or dropped) it; otherwise
// its conversation waits heldRecheck, in memory, and nothing is written.
func (d *Dispatcher) leaveToHolder(ctx context.Context, log *slog.Logger, dl flows.Delivery) bool {
	_, err := d.deps.Store.Waiting(ctx, dl.ID)
	now := d.deps.Clock.Now()
	switch {
	case flows.ErrorCode(err) == flows.ENOTFOUND:
		d.mu.Lock()
		d.sentOrDropped(dl)
		d.unscheduleLocked(dl)
		d.mu.Unlock()
		return true
	case err != nil:
		log.WarnContext(ctx, "could not read a delivery another replica holds", "err", err)
		d.holdBack(dl.Conversation, now.Add(d.backoff(dl.Attempts)))
		return false
	}
	d.stats.add(dl, OutcomeHeld)
	d.mu.Lock()
	d.hold[dl.Conversation] = now.Add(heldRecheck)
	d.mu.Unlock()
	return false
}

// RunHeld sends, until ctx ends, what only this replica can send (the
// deliveries it holds, DispatcherDeps.Self) while another replica's
// dispatcher sends the rest: it reads them every Idle and sends each on a
// goroutine of its own, at most Workers at once and one per conversation,
// recording each as Run's workers do. It must not run beside Run on one
// store and replica: the two would send a held delivery twice.
func (d *Dispatcher) RunHeld(ctx context.Context) {
	if d.deps.Self == "" {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		d.sendHeld(ctx, &wg)
		select {
		case <-ctx.Done():
		case <-d.deps.After(d.cfg.Idle):
		}
	}
}

// sendHeld reads the deliveries this replica holds and starts sending
// those that may go now, on wg.
func (d *Dispatcher) sendHeld(ctx context.Context, wg *sync.WaitGroup) {
	ds, err := d.deps.Store.Held(ctx, d.deps.Self, 4*d.cfg.Workers)
	if err != nil && ctx.Err() == nil {
		d.log.WarnContext(ctx, "could not read the deliveries this replica holds", "err", err)
	}
	for _, dl := range ds {
		if !d.claimHeld(dl) {
			continue
		}
		wg.Go(func() {
			d.deliver(ctx, dl)
			d.mu.Lock()
			delete(d.inflight, dl.Conversation)
			d.mu.Unlock()
		})
	}
}

// claimHeld marks dl's conversation in flight, unless it is already, all
// the workers are busy, or dl or its conversation must wait (a backoff, a
// Retry-After, the platform's pacing after this replica's last post).
func (d *Dispatcher) claimHeld(dl flows.Delivery) bool {
	now, wall := d.deps.Clock.Now(), d.deps.Wall.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, busy := d.inflight[dl.Conversation]; busy || len(d.inflight) >= d.cfg.Workers || dl.NotBefore.After(now) {
		return false
	}
	if h, ok := d.hold[dl.Conversation]; ok {
		if h.After(now) {
			return false
		}
		delete(d.hold, dl.Conversation)
	}
	if p, ok := d.paced[dl.Conversation]; ok && p.After(wall) {
		return false
	}
	d.inflight[dl.Conversation] = dl
	return true
}

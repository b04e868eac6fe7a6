package bot

import (
	"context"

	"github.com/jitbot/jitbot/flows"
)

// ManyWaiting is an outbox that reads several waiting deliveries in one
// round (etcd: one transaction): the heads the schedule must read before
// it can place their conversations are read together, outside the
// dispatcher's lock. One at a time under the lock, each an etcd round,
// they held every sender in turn (the HA bench's goroutine dumps).
type ManyWaiting interface {
	// ManyWaiting returns those of ids still waiting, as stored; the
	// others are left out.
	ManyWaiting(ctx context.Context, ids []uint64) ([]flows.Delivery, error)
}

// headBatch bounds the heads read together.
const headBatch = 128

// readHeadsLocked reads the heads of the conversations to be placed that
// are not held whole, together and outside the lock, and holds them whole
// if they are still heads and nothing was coalesced into a delivery
// meanwhile (a head read before an enqueue updated it in place would go
// out stale); a head gone from the store leaves its queue. Those
// conversations leave the set to be placed while they are read (so that
// no other worker reads them under the lock) and join it again after.
// With one at a time under the lock, every send waited for a read of
// etcd (the HA bench: the leader sent about 20 messages a second). Called
// with mu held; it lets go of it while it reads.
func (d *Dispatcher) readHeadsLocked(ctx context.Context) {
	many, ok := d.deps.Store.(ManyWaiting)
	if !ok {
		return
	}
	var (
		ids   []uint64
		convs []string
	)
	for conv := range d.queues.dirty {
		if _, busy := d.inflight[conv]; busy {
			continue
		}
		if q := d.convs[conv]; q != nil && len(q.dls) > 0 && q.dls[0].full == nil {
			delete(d.queues.dirty, conv)
			ids, convs = append(ids, q.dls[0].id), append(convs, conv)
			if len(ids) == headBatch {
				break
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	coalesced := d.coalesced
	d.mu.Unlock()
	got, err := many.ManyWaiting(ctx, ids)
	d.mu.Lock()
	for _, conv := range convs {
		d.markLocked(conv)
	}
	if err != nil || d.coalesced != coalesced || !d.loaded {
		return // placing them reads them one at a time
	}
	found := make(map[uint64]flows.Delivery, len(got))
	for _, dl := range got {
		found[dl.ID] = dl
	}
	for i, conv := range convs {
		q := d.convs[conv]
		if q == nil || len(q.dls) == 0 || q.dls[0].id != ids[i] || q.dls[0].full != nil {
			continue
		}
		if dl, ok := found[ids[i]]; ok {
			q.dls[0].full = &dl
		} else {
			q.remove(0) // delivered or dropped by another replica (a holder)
		}
	}
}

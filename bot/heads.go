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

// readHeads reads together the heads of the conversations to be placed
// that are not held whole, outside the lock, and holds them whole if they
// are still heads and nothing was coalesced into a delivery meanwhile (a
// head read before an enqueue updated it in place would go out stale).
// One caller at a time; the others go on. Called with mu held; it lets go
// of it while it reads.
func (d *Dispatcher) readHeadsLocked(ctx context.Context) {
	many, ok := d.deps.Store.(ManyWaiting)
	if !ok || d.readingHeads {
		return
	}
	var ids []uint64
	for conv := range d.queues.dirty {
		if _, busy := d.inflight[conv]; busy {
			continue
		}
		if q := d.convs[conv]; q != nil && len(q.dls) > 0 && q.dls[0].full == nil {
			ids = append(ids, q.dls[0].id)
			if len(ids) == headBatch {
				break
			}
		}
	}
	if len(ids) < 2 {
		return // headLocked reads one as cheaply
	}
	d.readingHeads = true
	coalesced := d.coalesced
	d.mu.Unlock()
	got, err := many.ManyWaiting(ctx, ids)
	d.mu.Lock()
	d.readingHeads = false
	if err != nil || d.coalesced != coalesced || !d.loaded {
		return // headLocked reads them one at a time
	}
	for _, dl := range got {
		if q := d.convs[dl.Conversation]; q != nil && len(q.dls) > 0 && q.dls[0].id == dl.ID && q.dls[0].full == nil {
			q.dls[0].full = &dl
		}
	}
}

package etcdstore

import (
	"context"
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// The enqueuer. Every enqueue takes ids from the outbox's one sequence key,
// so its transaction is conditioned on that key, and concurrent enqueues
// all but one fail and run again. The dispatcher is its main writer (the
// inbox's answers wait unnumbered for it: answers.go), but others enqueue
// too (the identity's notices). Within a process they need not collide:
// one enqueue runs at a time, and the small ones that came meanwhile (no
// cursor, no fence) run together in one transaction, each caller answered
// with its own deliveries.

// maxCombinedDeliveries bounds the deliveries combined into one
// transaction: about four keys each, so that they fit in one (128
// operations by default) rather than being staged.
const maxCombinedDeliveries = 24

type enqueueJob struct {
	ds   []flows.Delivery
	out  []flows.Delivery
	err  error
	done chan struct{}
}

type enqueuer struct {
	run     sync.Mutex // held by the one enqueue under way
	mu      sync.Mutex // guards queue and running
	queue   []*enqueueJob
	running bool
}

func (q *enqueuer) enqueue(ctx context.Context, s *Store, cursor uint64, ds []flows.Delivery) ([]flows.Delivery, error) {
	if _, fenced := fenceOf(ctx); cursor != 0 || fenced || len(ds) == 0 || len(ds) > maxCombinedDeliveries {
		q.run.Lock()
		defer q.run.Unlock()
		return s.enqueueAlone(ctx, cursor, ds)
	}
	j := &enqueueJob{ds: ds, done: make(chan struct{})}
	q.mu.Lock()
	q.queue = append(q.queue, j)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.drain(context.WithoutCancel(ctx), s)
	}
	// The job is answered whatever happens to ctx: a caller told "not
	// enqueued" of deliveries that were would enqueue them twice.
	<-j.done
	return j.out, j.err
}

// drain runs what is queued, a transaction's worth at a time, until the
// queue is empty.
func (q *enqueuer) drain(ctx context.Context, s *Store) {
	for {
		q.mu.Lock()
		n, size := 0, 0
		for n < len(q.queue) && (n == 0 || size+len(q.queue[n].ds) <= maxCombinedDeliveries) {
			size += len(q.queue[n].ds)
			n++
		}
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		if n == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()

		all := make([]flows.Delivery, 0, size)
		for _, j := range batch {
			all = append(all, j.ds...)
		}
		q.run.Lock()
		out, err := s.enqueueAlone(ctx, 0, all)
		if err != nil && len(batch) > 1 {
			// One caller's deliveries (too large, say) must not fail the
			// others': each alone, then.
			for _, j := range batch {
				j.out, j.err = s.enqueueAlone(ctx, 0, j.ds)
			}
		}
		q.run.Unlock()
		for _, j := range batch {
			if err == nil {
				j.out, out = out[:len(j.ds):len(j.ds)], out[len(j.ds):]
			} else if len(batch) == 1 {
				j.err = err
			}
			close(j.done)
		}
	}
}

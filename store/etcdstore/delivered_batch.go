package etcdstore

import (
	"context"
	"sync"
)

// Delivered's commits, shared. The dispatcher's senders each record their
// send as it ends (Delivered): eight senders made eight transactions of a
// few deletes each, every one a consensus round among the members, which
// the inbox shares. Within a process, the changes of the Delivered calls
// made while a commit of them is under way wait for it and then go
// together, in one transaction: the first caller to find none under way
// starts a goroutine that commits batch after batch until none waits (no
// goroutine runs while nothing is queued). A batch that is not applied
// as a whole (a delivery another replica changed since it was read, a
// commit that failed) is committed again one change at a time, each with
// the answer it would have had alone. Changes under different fences
// never share a transaction: a broken fence fails only its own.

// deliveredJob is one Delivered's change waiting to be committed and,
// once done is closed, its answer.
type deliveredJob struct {
	ctx     context.Context
	fence   Fence
	fenced  bool
	c       *change
	done    chan struct{}
	applied bool
	err     error
}

type deliveredBatcher struct {
	mu      sync.Mutex
	queue   []*deliveredJob
	running bool
}

// commitDelivered commits c with the changes of the Delivered calls made
// at the same time.
func (s *Store) commitDelivered(ctx context.Context, c *change) (applied bool, err error) {
	j := &deliveredJob{ctx: ctx, c: c, done: make(chan struct{})}
	j.fence, j.fenced = fenceOf(ctx)
	s.dlv.mu.Lock()
	s.dlv.queue = append(s.dlv.queue, j)
	run := !s.dlv.running
	s.dlv.running = true
	s.dlv.mu.Unlock()
	if run {
		// Not on this caller's goroutine: while others keep coming it
		// would not return, its own change long committed.
		go s.runDelivered()
	}
	<-j.done
	return j.applied, j.err
}

// runDelivered commits what is queued, a batch at a time, until nothing
// is.
func (s *Store) runDelivered() {
	for {
		s.dlv.mu.Lock()
		var batch, rest []*deliveredJob
		// Within a transaction's bounds, the marker's operation and
		// compare (marker.go) and a fence's compare counted.
		ops, cmps, bytes := 1, 2, 0
		for _, j := range s.dlv.queue {
			fits := ops+len(j.c.ops) <= s.maxOps && cmps+len(j.c.cmps) <= s.maxOps && bytes+j.c.bytes <= maxRequestBytes
			if len(batch) == 0 || fits && j.fenced == batch[0].fenced && j.fence == batch[0].fence {
				batch = append(batch, j)
				ops, cmps, bytes = ops+len(j.c.ops), cmps+len(j.c.cmps), bytes+j.c.bytes
				continue
			}
			rest = append(rest, j)
		}
		s.dlv.queue = rest
		if len(batch) == 0 {
			s.dlv.running = false
			s.dlv.mu.Unlock()
			return
		}
		s.dlv.mu.Unlock()
		if s.beforeDeliveredBatch != nil {
			s.beforeDeliveredBatch(len(batch))
		}
		s.commitDeliveredBatch(batch)
	}
}

func (s *Store) commitDeliveredBatch(batch []*deliveredJob) {
	if len(batch) > 1 {
		all := &change{}
		for _, j := range batch {
			all.cmps = append(all.cmps, j.c.cmps...)
			all.merge(j.c)
		}
		// The first caller's context: its fence is every one's, and a
		// deadline that cuts the batch short only sends each change alone.
		if applied, err := s.commit(batch[0].ctx, all); err == nil && applied {
			for _, j := range batch {
				j.applied = true
				close(j.done)
			}
			return
		}
	}
	for _, j := range batch {
		j.applied, j.err = s.commit(j.ctx, j.c)
		close(j.done)
	}
}

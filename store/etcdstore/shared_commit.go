package etcdstore

import (
	"context"
	"sync"
)

// Delivered's and FinishInbox's commits, shared. The dispatcher's senders
// each record their send as it ends (Delivered): eight senders made eight
// transactions of a few deletes each, every one a consensus round among
// the members, which the inbox shares. The inbox's 32 workers each finish
// their item the same way (FinishInbox, with its answers): one round per
// slash command of the three etcd applied for each (the receive, the
// request, the finish); shared, the requesters' answers at 200 commands/s
// came in p99 2.4–14 s against 13–22 s. Within a process, the changes of
// those calls made while a commit of them is under way wait for it and
// then go together, in one transaction: the first caller to find none
// under way starts a goroutine that commits batch after batch until none
// waits (no goroutine runs while nothing is queued). A batch that is not
// applied as a whole (a delivery or an inbox item another replica changed
// since it was read, a commit that failed) is committed again one change at a time, each with
// the answer it would have had alone. Changes under different fences
// never share a transaction: a broken fence fails only its own.

// sharedJob is one shared call's change waiting to be committed and,
// once done is closed, its answer.
type sharedJob struct {
	ctx     context.Context
	fence   Fence
	fenced  bool
	c       *change
	done    chan struct{}
	applied bool
	err     error
}

type sharedBatcher struct {
	mu      sync.Mutex
	queue   []*sharedJob
	running bool
}

// commitShared commits c with the changes of the Delivered and
// FinishInbox calls made at the same time.
func (s *Store) commitShared(ctx context.Context, c *change) (applied bool, err error) {
	j := &sharedJob{ctx: ctx, c: c, done: make(chan struct{})}
	j.fence, j.fenced = fenceOf(ctx)
	s.shared.mu.Lock()
	s.shared.queue = append(s.shared.queue, j)
	run := !s.shared.running
	s.shared.running = true
	s.shared.mu.Unlock()
	if run {
		// Not on this caller's goroutine: while others keep coming it
		// would not return, its own change long committed.
		go s.runShared()
	}
	<-j.done
	return j.applied, j.err
}

// runShared commits what is queued, a batch at a time, until nothing
// is.
func (s *Store) runShared() {
	for {
		s.shared.mu.Lock()
		var batch, rest []*sharedJob
		// Within a transaction's bounds, the marker's operation and
		// compare (marker.go) and a fence's compare counted.
		ops, cmps, bytes := 1, 2, 0
		for _, j := range s.shared.queue {
			fits := ops+len(j.c.ops) <= s.maxOps && cmps+len(j.c.cmps) <= s.maxOps && bytes+j.c.bytes <= maxRequestBytes
			if len(batch) == 0 || fits && j.fenced == batch[0].fenced && j.fence == batch[0].fence {
				batch = append(batch, j)
				ops, cmps, bytes = ops+len(j.c.ops), cmps+len(j.c.cmps), bytes+j.c.bytes
				continue
			}
			rest = append(rest, j)
		}
		s.shared.queue = rest
		if len(batch) == 0 {
			s.shared.running = false
			s.shared.mu.Unlock()
			return
		}
		s.shared.mu.Unlock()
		if s.beforeSharedBatch != nil {
			s.beforeSharedBatch(len(batch))
		}
		s.commitSharedBatch(batch)
	}
}

func (s *Store) commitSharedBatch(batch []*sharedJob) {
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

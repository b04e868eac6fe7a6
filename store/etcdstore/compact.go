package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// DefaultCompaction is how long the revisions of jitbot's keys are kept
// before the leader compacts them away (store.etcd.compaction): long
// enough for any read in flight and for an operator to look at recent
// history with etcdctl, short enough that the database stays small
// (jitbot rewrites its keys all the time, and etcd keeps every version
// until compacted).
const DefaultCompaction = time.Hour

// Compactor compacts the cluster's history on a retention in time, as
// etcd's --auto-compaction-mode=periodic does: each Step notes the
// cluster's revision at that time, and compacts to the newest revision
// noted at least the retention ago. Its samples are the memory of one
// process: a new leader starts noting afresh, so the first compaction of
// a term comes a retention after it began. Compaction is idempotent, so
// two replicas that both believe they lead do no harm.
type Compactor struct {
	s         *Store
	retention time.Duration
	mu        sync.Mutex
	samples   []revisionAt // oldest first
}

type revisionAt struct {
	at  time.Time
	rev int64
}

// NewCompactor compacts s's cluster, keeping retention's worth of
// revisions.
func (s *Store) NewCompactor(retention time.Duration) *Compactor {
	return &Compactor{s: s, retention: retention}
}

// Step notes the cluster's revision at now and compacts to the newest
// revision noted at least the retention before now. It returns the
// revision compacted to, 0 when there was nothing to compact yet.
func (c *Compactor) Step(ctx context.Context, now time.Time) (int64, error) {
	rev, err := c.s.Revision(ctx)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.samples = append(c.samples, revisionAt{now, rev})
	target := int64(0)
	i := 0
	for i < len(c.samples) && !c.samples[i].at.After(now.Add(-c.retention)) {
		target = c.samples[i].rev
		i++
	}
	// The sample compacted to stays: it is the floor until a newer one
	// ages past the retention.
	if i > 0 {
		c.samples = c.samples[i-1:]
	}
	c.mu.Unlock()
	if target == 0 {
		return 0, nil
	}
	done, err := c.s.CompactTo(ctx, target)
	if err != nil || !done {
		return 0, err
	}
	return target, nil
}

// Revision is the cluster's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.read(ctx, "read the revision", func(ctx context.Context) error {
		resp, err := s.cli.Get(ctx, s.p+"schema")
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		s.saw(rev)
		return nil
	})
	return rev, err
}

// CompactTo discards the history before rev; done is false when the
// cluster was compacted that far already.
func (s *Store) CompactTo(ctx context.Context, rev int64) (done bool, err error) {
	err = s.read(ctx, fmt.Sprintf("compact to revision %d", rev), func(ctx context.Context) error {
		_, err := s.cli.Compact(ctx, rev)
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			done = false
			return nil
		case err != nil:
			return err
		}
		done = true
		return nil
	})
	return done, err
}

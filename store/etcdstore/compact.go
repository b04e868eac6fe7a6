package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// DefaultCompaction is how long the revisions of jitbot's keys are kept
// before the leader compacts them away (store.etcd.compaction). jitbot
// reads history only within one operation (a range, then its items at
// that revision), so what bounds it is cost: jitbot's queues rewrite
// their keys all the time (an inbox item's index entry moves when it is
// taken, a sent message is deleted), etcd keeps each deleted key in its
// index until it is compacted, and every range over a queue's front walks
// those tombstones. With an hour of history the HA bench's inbox fell
// further behind each minute (the members' CPU went to skipping deleted
// keys).
const DefaultCompaction = time.Minute

// Compactor compacts the cluster's history on a retention in time, as
// etcd's --auto-compaction-mode=periodic does: each Step notes the
// cluster's revision at that time, and compacts to the newest revision
// noted at least the retention ago. The notes are kept in etcd (one key),
// so that they outlive a change of leader: with leaders changing more
// often than the retention, notes kept in memory never aged enough to
// compact anything. Compaction is idempotent, so two replicas that both
// believe they lead do no harm.
type Compactor struct {
	s         *Store
	retention time.Duration
	mu        sync.Mutex // one Step at a time
}

// revisionAt is one note: the cluster's revision at a time.
type revisionAt struct {
	At  time.Time `json:"at"`
	Rev int64     `json:"rev"`
}

// NewCompactor compacts s's cluster, keeping retention's worth of
// revisions.
func (s *Store) NewCompactor(retention time.Duration) *Compactor {
	return &Compactor{s: s, retention: retention}
}

func (s *Store) compactionKey() string { return s.p + "compaction" }

// Step notes the cluster's revision at now and compacts to the newest
// revision noted at least the retention before now. It returns the
// revision compacted to, 0 when there was nothing to compact yet.
func (c *Compactor) Step(ctx context.Context, now time.Time) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var notes []revisionAt
	var rev int64
	err := c.s.read(ctx, "read the compaction notes", func(ctx context.Context) error {
		resp, err := c.s.cli.Get(ctx, c.s.compactionKey())
		if err != nil {
			return err
		}
		rev, notes = resp.Header.Revision, nil
		c.s.saw(rev)
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &notes); err != nil {
			return fmt.Errorf("decode the compaction notes: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// A note a tenth of the retention after the last one at least: about
	// ten cover the retention, however often Step runs.
	changed := len(notes) == 0 || !now.Before(notes[len(notes)-1].At.Add(c.retention/10))
	if changed {
		notes = append(notes, revisionAt{now, rev})
	}
	target := int64(0)
	i := 0
	for i < len(notes) && !notes[i].At.After(now.Add(-c.retention)) {
		target = notes[i].Rev
		i++
	}
	// The note compacted to stays: it is the floor until a newer one ages
	// past the retention.
	if i > 1 {
		notes, changed = notes[i-1:], true
	}
	if changed {
		raw, err := json.Marshal(notes)
		if err != nil {
			return 0, fmt.Errorf("encode the compaction notes: %w", err)
		}
		err = c.s.retry(ctx, "note the revision for compaction", func(ctx context.Context) (bool, error) {
			ch := &change{}
			ch.put(c.s.compactionKey(), string(raw))
			return c.s.commit(ctx, ch)
		})
		if err != nil {
			return 0, err
		}
	}
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

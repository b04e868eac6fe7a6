package etcdstore

import (
	"context"

	"github.com/jitbot/jitbot/flows"
)

// Settle is settle on a marker of the store's lease, for tests.
func (s *Store) Settle(ctx context.Context, marker string) (bool, error) {
	lease, err := s.markerLease(ctx)
	if err != nil {
		return false, err
	}
	return s.settle(ctx, marker, lease)
}

// CrashAfterStagedCommit makes every staged enqueue stop, with err, right
// after its commit, as a process dying there would.
func (s *Store) CrashAfterStagedCommit(err error) { s.afterStagedCommit = func() error { return err } }

// BeforeSharedBatch has f run before each batch of Delivered's changes
// is committed, with its size.
func (s *Store) BeforeSharedBatch(f func(n int)) { s.beforeSharedBatch = f }

// SharedQueued is how many Delivered calls wait for the batch under
// way.
func (s *Store) SharedQueued() int {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return len(s.shared.queue)
}

// CreateCheckedTogether is CreateChecked of each of rs, handed to the
// combiner at once (as UpdateMany's jobs are), so that they meet in one
// batch; it returns whether each was created and its error.
func (s *Store) CreateCheckedTogether(ctx context.Context, rs []*flows.Request, check func([]*flows.Request) error) ([]bool, []error) {
	jobs := make([]*job, len(rs))
	for i, r := range rs {
		jobs[i] = &job{ctx: ctx, kind: jobCreate, r: r, ev: flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: r.CreatedAt}, check: check}
	}
	s.submit(jobs...)
	created, errs := make([]bool, len(rs)), make([]error, len(rs))
	for i, j := range jobs {
		created[i], errs[i] = j.created && j.err == nil, j.err
	}
	return created, errs
}

// LiveOf is liveOf: each requester's live requests, by id.
func (s *Store) LiveOf(ctx context.Context, requesters []string) (map[string][]flows.RequestID, error) {
	got, err := s.liveOf(ctx, requesters)
	out := map[string][]flows.RequestID{}
	for who, l := range got {
		for _, r := range l.reqs {
			out[who] = append(out[who], r.ID)
		}
	}
	return out, err
}

// KVAimedAt is where the store's KV calls go (Open's stores).
func (s *Store) KVAimedAt() []string {
	if s.leader == nil {
		return nil
	}
	return s.leader.aimedAt()
}

package etcdstore

import "context"

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

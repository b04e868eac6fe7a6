package etcdstore

import (
	"context"
	"sync"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// The writers' lock. Every transition's transaction is conditioned on the
// audit chain's head, and every enqueue's on the outbox's sequence: one
// key each that every replica writes. Within a process the combiner and
// the enqueuer make one transaction of many callers' changes; across
// processes optimistic transactions collide, and the large ones (a leader
// revoking a thousand expired grants, its dispatcher expanding the audit
// log) lose almost every race to the small ones the other replicas' inbox
// workers commit all the time: in the HA scenario at 100 requests/s the
// leader's sweep and outbox fell minutes behind. So the processes take
// turns: a process holds a lock in etcd (etcd's concurrency.Mutex, on a
// lease of its own) while it reads and commits one such transaction. The
// lock is for liveness only: the compare-and-swap conditions stay, so a
// writer that could not take it (the lease lost, the lock not granted
// within the request's time) writes as before, and a process killed while
// holding it holds up the others for the lock's TTL at most.

// writerLockTTL is the lease of the lock, in seconds: what a process
// killed while holding it costs the others.
const writerLockTTL = 3

type writerLock struct {
	mu   sync.Mutex
	sess *concurrency.Session
}

// lockWriters takes the writers' lock, or answers at once with a no-op
// unlock when it cannot be taken (the caller then writes optimistically).
func (s *Store) lockWriters(ctx context.Context) (unlock func()) {
	sess := s.writerSession(ctx)
	if sess == nil {
		return func() {}
	}
	m := concurrency.NewMutex(sess, s.p+"locks/writers")
	if err := m.Lock(ctx); err != nil {
		return func() {}
	}
	return sync.OnceFunc(func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_ = m.Unlock(uctx) // on failure the lease ends it
	})
}

// writerSession is the lease the lock is held on, made again when it ended.
func (s *Store) writerSession(ctx context.Context) *concurrency.Session {
	s.wlock.mu.Lock()
	defer s.wlock.mu.Unlock()
	if s.wlock.sess != nil {
		select {
		case <-s.wlock.sess.Done():
			s.wlock.sess = nil
		default:
			return s.wlock.sess
		}
	}
	// The lease is granted within the request's time (a cluster that
	// cannot be reached must not hold up the write); the session keeps it
	// alive on the store's lifetime, not the request's.
	gctx, cancel := context.WithTimeout(ctx, min(s.timeout, 2*time.Second))
	lease, err := s.cli.Grant(gctx, writerLockTTL)
	cancel()
	if err != nil {
		return nil
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil
	}
	s.wlock.sess = sess
	return sess
}

// closeWriterLock ends the lease, releasing the lock at once.
func (s *Store) closeWriterLock() {
	s.wlock.mu.Lock()
	defer s.wlock.mu.Unlock()
	if s.wlock.sess != nil {
		_ = s.wlock.sess.Close()
		s.wlock.sess = nil
	}
}

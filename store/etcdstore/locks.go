package etcdstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/jitbot/jitbot/flows"
)

// Locks among the replicas (flows.Locks): etcd's mutex
// (client/v3/concurrency) under <prefix>locks/<key in hex>, each lock on a
// lease of its own. A lock shares no lease with another, so giving one
// back (revoking its lease) never gives back another the process holds,
// and one whose unlock fails lapses with its lease instead of staying for
// as long as the process lives. A replica that dies holding one loses it
// within LockTTL; so does one cut off from etcd that long, whose provisioner
// call may then still be under way when another replica takes the lock:
// Atlas's calls are idempotent, and reconcile finds what such a race left.

// LockTTL is the lease of a lock: how long a replica that died holding it
// keeps the others waiting.
const LockTTL = 10 * time.Second

var _ flows.Locks = (*Store)(nil)

// Lock implements flows.Locks: it waits for key among every process on
// the store's prefix, or until ctx ends.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	gctx, cancel := context.WithTimeout(ctx, s.timeout)
	lease, err := s.cli.Grant(gctx, int64(LockTTL/time.Second))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("etcdstore: lock %q: a lease: %w", key, err)
	}
	// The session keeps the lease alive on the client's context, not on
	// ctx: the lock lives until unlock, whatever the caller's deadline.
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(LockTTL/time.Second)))
	if err != nil {
		s.revoke(lease.ID)
		return nil, fmt.Errorf("etcdstore: lock %q: a session: %w", key, err)
	}
	m := concurrency.NewMutex(sess, s.p+"locks/"+hex.EncodeToString([]byte(key)))
	if err := m.Lock(ctx); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("etcdstore: lock %q: %w", key, err)
	}
	// Closing the session revokes its lease, which deletes the lock's key:
	// the next waiter goes on. Should the revoke fail, the lease lapses
	// (the keep-alive stops with the session).
	return func() { _ = sess.Close() }, nil
}

// revoke ends a lease now, bounded by the request timeout.
func (s *Store) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, _ = s.cli.Revoke(ctx, id)
}

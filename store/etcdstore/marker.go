package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An etcd write can fail without saying whether it was applied: the
// leader changed or the call timed out while the proposal was in flight,
// and it may still commit. Retrying blindly could apply a change twice
// (an audit event recorded twice, an attempt counted twice); giving up
// could report a failure that in fact happened. So every transaction also
// creates a marker key of its own, on condition that the marker does not
// exist yet. After an ambiguous failure the store writes the marker
// itself, on the same condition: if that succeeds, the original can never
// commit (its condition now fails) and retrying is safe; if the marker is
// there already, the original committed. Markers live on a short lease
// and vanish by themselves.

// markerTTL is how long markers live: far longer than any call's timeout.
const markerTTL = 60 // seconds

type markers struct {
	mu      sync.Mutex
	lease   clientv3.LeaseID
	granted time.Time
}

// lease returns a lease with at least half its time to live, granting a
// new one when needed.
func (s *Store) markerLease(ctx context.Context) (clientv3.LeaseID, error) {
	s.marks.mu.Lock()
	defer s.marks.mu.Unlock()
	if s.marks.lease != 0 && time.Since(s.marks.granted) < markerTTL/2*time.Second {
		return s.marks.lease, nil
	}
	resp, err := s.cli.Grant(ctx, markerTTL)
	if err != nil {
		return 0, fmt.Errorf("grant the markers' lease: %w", err)
	}
	s.marks.lease, s.marks.granted = resp.ID, time.Now()
	return resp.ID, nil
}

// forgetLease drops a lease etcd no longer knows (it expired while the
// process stood still).
func (s *Store) forgetLease(id clientv3.LeaseID) {
	s.marks.mu.Lock()
	defer s.marks.mu.Unlock()
	if s.marks.lease == id {
		s.marks.lease = 0
	}
}

func (s *Store) newMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return s.p + "txn/" + hex.EncodeToString(b[:])
}

// settle decides what became of a transaction that failed ambiguously:
// applied, or never to be.
func (s *Store) settle(ctx context.Context, marker string, lease clientv3.LeaseID) (applied bool, err error) {
	// The caller's deadline may be what failed: settling gets a time of
	// its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	for {
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)).
			Then(clientv3.OpPut(marker, "settled", clientv3.WithLease(lease))).Commit()
		if err == nil {
			return !resp.Succeeded, nil
		}
		if !transient(err) || ctx.Err() != nil {
			return false, fmt.Errorf("the outcome of a write is unknown (%w)", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// transient reports an error after which the same call may succeed: etcd
// without a leader for a moment, a member unreachable, or the revision a
// long read was pinned to compacted away under it (read again, as of
// now).
func transient(err error) bool {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	}
	return false
}

// leaseGone reports that a write named a lease etcd no longer has.
func leaseGone(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) || status.Code(err) == codes.NotFound
}

package etcdstore

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PingTimeout bounds Ping when its context allows longer.
const PingTimeout = 2 * time.Second

// Ping proves this replica reaches the cluster and that the cluster
// answers with a quorum: a linearizable read of one key, counted only,
// within PingTimeout. It is what /readyz asks: a replica that cannot
// commit an inbox item must not be sent webhooks.
func (s *Store) Ping(ctx context.Context) error {
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.p+"schema", clientv3.WithCountOnly())
	if err != nil {
		return unreachable(caller, err, fmt.Errorf("etcdstore: reach etcd at %v: %w", s.cli.Endpoints(), err))
	}
	s.saw(resp.Header.Revision)
	return nil
}

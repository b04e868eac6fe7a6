package etcdstore

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitbot/jitbot/flows"
)

// unreachable marks err (an operation's, wrapped) as flows'
// ErrStoreUnreachable when the cluster could not be reached: no member
// answered, or none with a quorum, within the store's own timeout (the
// caller's context still alive: a caller that gave up is not an outage).
// Intake then tells people it cannot take their request now, and the
// replicas revoke from their due lists (flows.OfflineRevoker).
func unreachable(caller context.Context, cause, err error) error {
	if err == nil || caller.Err() != nil {
		return err
	}
	switch {
	case transient(cause) && !errors.Is(cause, rpctypes.ErrCompacted),
		errors.Is(cause, context.DeadlineExceeded),
		status.Code(cause) == codes.DeadlineExceeded,
		errors.Is(cause, rpctypes.ErrNoLeader),
		errors.Is(cause, rpctypes.ErrTimeout),
		errors.Is(cause, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(cause, rpctypes.ErrTimeoutDueToConnectionLost):
		return flows.StoreUnreachable(err)
	}
	return err
}

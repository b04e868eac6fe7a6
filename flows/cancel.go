package flows

import (
	"context"
	"time"
)

// Cancel withdraws a pending request. Only its requester and admins may;
// anyone who takes no part in it is answered as for an unknown id.
func (s *Service) Cancel(ctx context.Context, id RequestID, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	admin := s.Policy().IsAdmin(actor)
	r, err := s.act(ctx, id, actor, func(r *Request, now time.Time) (Event, error) {
		if r.Scheduled() && now.Before(r.StartsAt) && r.State.HoldsAccess() && (r.State != StateApproved || r.Attempts > 0) {
			// Provisioned ahead of its start (scheduled.go): what was made
			// is removed, as a revocation does.
			if actor != r.Requester && !admin {
				return Event{}, Errorf(EFORBIDDEN, "only %s can cancel request %s", r.Requester, r.ID)
			}
			return r.StartRevoking(now, actor, StateRevoked, "cancelled before its start")
		}
		return r.Cancel(actor, admin, now)
	})
	if err != nil {
		return nil, err
	}
	if r.State == StateRevoking {
		got, err := s.revoke(ctx, id, respectLease)
		return s.current(ctx, id, got, err)
	}
	return r, nil
}

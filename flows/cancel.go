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
	return s.act(ctx, id, actor, func(r *Request, now time.Time) (Event, error) {
		return r.Cancel(actor, s.Policy().IsAdmin(actor), now)
	})
}

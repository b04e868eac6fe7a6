package flows

import (
	"context"
	"time"
)

// Cancel withdraws a pending request.
func (s *Service) Cancel(ctx context.Context, id, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		return r.Cancel(actor, s.policy.IsAdmin(actor), now)
	})
}

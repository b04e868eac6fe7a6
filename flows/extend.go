package flows

import (
	"context"
	"time"
)

// Extend lengthens an active grant, or asks its approvers to. Only its
// requester may; anyone who takes no part in it is answered as for an
// unknown id.
func (s *Service) Extend(ctx context.Context, id, actor string, d time.Duration) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	var ev Event
	r, err := s.act(ctx, id, actor, func(r *Request, now time.Time) (Event, error) {
		e, err := r.Extend(actor, d, now, s.cfg.RemindBefore)
		ev = e
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if ev.Type == EventExtended {
		if moved, err := s.moveBackstop(ctx, r); err == nil {
			return moved, nil
		}
	}
	return r, nil
}

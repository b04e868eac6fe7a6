package flows

import (
	"context"
	"time"
)

// backstop is where Atlas's deleteAfterDate should be for a grant that expires
// at expiresAt: expiry plus grace, but never more than Atlas's one week ahead.
// A clamped backstop is moved forward again a day later.
func (s *Service) backstop(now, expiresAt time.Time) (at, refreshAt time.Time) {
	at = expiresAt.Add(s.cfg.BackstopGrace).Truncate(time.Second)
	if limit := now.Add(Week - 10*time.Minute).Truncate(time.Second); at.After(limit) {
		return limit, now.Add(24 * time.Hour)
	}
	return at, time.Time{}
}

// moveBackstop brings the Atlas-side removal date of an active grant in line
// with its expiry, after an extension or when a clamped backstop can move
// forward; a kind without a Backstopper has none to move. r is the request
// as the caller last had it from the store. It returns the request as the
// move left it (r itself when nothing needed moving), or the error that kept
// the outcome from being recorded.
func (s *Service) moveBackstop(ctx context.Context, r *Request) (*Request, error) {
	b, ok := s.backstopper(r.Kind)
	if r.State != StateActive || !ok {
		return r, nil
	}
	id := r.ID
	now := s.clock.Now()
	at, refreshAt := s.backstop(now, r.ExpiresAt)
	if !at.After(r.BackstopAt) {
		if !r.BackstopRefreshAt.IsZero() && refreshAt.IsZero() {
			return s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.SetBackstop(now, r.BackstopAt, time.Time{}) })
		}
		return r, nil
	}
	g := s.grant(r)
	g.BackstopAt = at
	if err := s.onTarget(ctx, g, func(g Grant) error { return b.SetBackstop(ctx, g) }); err != nil {
		s.log.WarnContext(ctx, "could not move the Atlas backstop; will retry", "request_id", id, "err", err)
		return s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
			r.DeferBackstop(s.clock.Now().Add(s.backoff(1)))
			return nil, nil
		})
	}
	return s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.SetBackstop(now, at, refreshAt) })
}

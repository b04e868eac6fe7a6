package flows

import (
	"context"
	"time"
)

// Extend lengthens an active grant, or asks its approvers to. Only its
// requester may; anyone who takes no part in it is answered as for an
// unknown id.
func (s *Service) Extend(ctx context.Context, id RequestID, actor string, d time.Duration) (*Request, error) {
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
		if moved, err := s.extended(ctx, r); err == nil {
			return moved, nil
		}
	}
	return r, nil
}

// extended carries an extension just recorded over to Atlas: the kind's own
// step, if it has one (Extender), then the backstop. It returns the request
// as the backstop move left it, or the error that kept that from being
// recorded.
func (s *Service) extended(ctx context.Context, r *Request) (*Request, error) {
	if x, ok := s.provs[r.Kind.orDefault()].(Extender); ok {
		if err := x.Extend(ctx, s.grant(r)); err != nil {
			// jitbot revokes at the new expiry whatever Atlas holds, so the
			// extension stands.
			s.log.WarnContext(ctx, "could not extend the grant in Atlas; it is still revoked at its new expiry", "request_id", r.ID, "err", err)
		}
	}
	if sl, ok := s.provs[r.Kind.orDefault()].(SecretLifetime); ok {
		// The secret expires in Atlas at a date fixed when it was issued:
		// past it the requester needs a new one (kind_programmatic.go).
		if at := sl.SecretExpiresAt(s.grant(r)); !at.IsZero() && r.ExpiresAt.After(at) {
			if rotated, err := s.rotate(ctx, r); err != nil {
				s.log.WarnContext(ctx, "could not issue a secret for the extension; the old one expires first", "request_id", r.ID, "secret_expires", at, "err", err)
			} else {
				r = rotated
			}
		}
	}
	return s.moveBackstop(ctx, r)
}

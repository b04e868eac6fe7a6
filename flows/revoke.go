package flows

import (
	"context"
	"time"
)

// Revoke ends access early. Its participants may: the requester, the
// request's approvers and admins (anyone else is answered as for an unknown
// id); a pending request revoked by its requester or an admin is cancelled.
func (s *Service) Revoke(ctx context.Context, id RequestID, actor, reason string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	admin := s.Policy().IsAdmin(actor)
	r, err := s.act(ctx, id, actor, func(r *Request, now time.Time) (Event, error) {
		if r.State == StatePending {
			if actor != r.Requester && !admin {
				return Event{}, Errorf(ECONFLICT, "request %s is still pending: deny it instead", r.ID)
			}
			return r.Cancel(actor, admin, now)
		}
		if reason == "" {
			reason = "revoked by " + actor
		}
		return r.StartRevoking(now, actor, StateRevoked, reason)
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

// revoke deletes the grant of a request being revoked. Failures are
// retried with backoff for as long as it takes; after RevokeAlertAfter
// attempts the grant is flagged revoke_failed and people are told. It
// returns the request as the attempt left it; the error says the attempt
// could not begin (ECONFLICT: another holds the lease, or the request is not
// being revoked) or its outcome could not be recorded, and then the request
// is nil.
func (s *Service) revoke(ctx context.Context, id RequestID, l lease) (*Request, error) {
	r, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		now := s.clock.Now()
		if s.takeOver(l, r) {
			r.NextAttemptAt = now
		}
		return nil, r.ClaimRevocation(now, now.Add(s.cfg.RevokeLease))
	})
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			s.log.ErrorContext(ctx, "could not start revocation", "request_id", id, "err", err)
		}
		return nil, err
	}
	// The principal is recorded before any create, so without one (revoked
	// before provisioning began) there is nothing in Atlas to delete.
	if r.Principal == "" {
		return s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.FinishRevocation(now) })
	}
	note, err := s.deleteNoting(ctx, r)
	if err != nil {
		s.log.WarnContext(ctx, "revocation failed", "request_id", id, "principal", r.Principal, "attempt", r.Attempts, "err", err)
		return s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
			return r.RetryRevocation(now, now.Add(s.backoff(r.Attempts)), ErrorMessage(err), s.cfg.RevokeAlertAfter)
		})
	}
	return s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
		ev, err := r.FinishRevocation(now)
		return withNote(ev, note), err
	})
}

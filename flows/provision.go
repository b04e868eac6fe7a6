package flows

import (
	"context"
	"errors"
	"time"
)

// provision creates the Atlas user of an approved request, waits until Atlas
// has applied it, activates the grant and hands the credentials over. The
// intent (username, backstop, lease) is persisted before Atlas is called and
// the outcome after, so a crash at any point is finished by Resume.
func (s *Service) provision(ctx context.Context, id string, l lease) {
	log := s.log.With("request_id", id)
	var ev Event
	r, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		now := s.clock.Now()
		if r.State == StateProvisioning && s.takeOver(l, r) {
			r.NextAttemptAt = now
		}
		username := r.Username
		if username == "" {
			username = Username(r.Requester, r.ID)
		}
		backstop, refresh := s.backstop(now, now.Add(r.Duration))
		e, err := r.StartProvisioning(now, now.Add(s.cfg.Lease), username, backstop, refresh)
		ev = e
		return []Event{e}, err
	})
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			log.ErrorContext(ctx, "could not start provisioning", "err", err)
		}
		return
	}
	s.announce(ctx, ev, r, nil)
	// A revocation that began while this attempt held its lease waits for
	// it: whatever Atlas did meanwhile, the user is removed on the way out.
	defer s.revokeIfRevoking(ctx, id)

	g := s.grant(r)
	creds, err := s.prov.Create(ctx, g)
	if err != nil {
		// Nothing of ours exists unless an earlier attempt made it, in which
		// case the user stays for the retry, or for the revocation or
		// reconcile that follows a failure. A refused create may also mean
		// the name belongs to someone else: never delete on its account.
		s.provisionFailed(ctx, id, err, false)
		return
	}
	if err := s.prov.WaitApplied(ctx, g); err != nil {
		if errors.Is(err, ErrNotApplied) {
			// The password just made is thrown away: the next attempt's Create
			// finds the user and resets it, so the requester gets one that works.
			s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
				return r.NoteApplyDelayed(now, now.Add(s.backoff(r.Attempts)))
			})
			return
		}
		s.provisionFailed(ctx, id, err, true)
		return
	}

	ev = Event{}
	r, err = s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		e, err := r.Activate(s.clock.Now(), s.cfg.RemindBefore)
		ev = e
		return []Event{e}, err
	})
	if err != nil {
		// Revoked or cancelled while Atlas worked: the revocation removes the user.
		log.InfoContext(ctx, "grant not activated", "err", err)
		return
	}
	log.InfoContext(ctx, "grant active", "username", r.Username, "expires_at", r.ExpiresAt)
	creds.AccessDetails = s.accessDetails(r, creds)
	if err := s.announce(ctx, ev, r, &creds); err != nil {
		s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
			return r.NoteCredentials(now, false, "the credentials could not be delivered: "+ErrorMessage(err))
		})
	}
}

// revokeIfRevoking runs the revocation of a request revoked while it was
// being provisioned, now that the provisioning attempt is over.
func (s *Service) revokeIfRevoking(ctx context.Context, id string) {
	r, err := s.store.Get(ctx, id)
	if err != nil || (r.State != StateRevoking && r.State != StateRevokeFailed) {
		return
	}
	s.revoke(ctx, id, takeAnyLease)
}

// provisionFailed retries a transient failure or gives up on a permanent
// one. created says the user exists (this attempt made it), so giving up
// must remove it.
func (s *Service) provisionFailed(ctx context.Context, id string, cause error, created bool) {
	retryable := ErrorCode(cause) == EUNAVAILABLE || ErrorCode(cause) == EINTERNAL
	msg := ErrorMessage(cause)
	s.log.WarnContext(ctx, "provisioning failed", "request_id", id, "retryable", retryable, "err", cause)
	r, err := s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
		if retryable && r.Attempts < s.cfg.ProvisionAttempts {
			return r.RetryProvisioning(now, now.Add(s.backoff(r.Attempts)), msg)
		}
		return r.FailProvisioning(now, msg)
	})
	if err == nil && r.State == StateFailed && created {
		// Remove the user now rather than leave it to reconcile.
		if err := s.prov.Delete(ctx, s.grant(r)); err != nil {
			s.log.WarnContext(ctx, "could not remove the user of a failed request; reconcile will", "request_id", id, "err", err)
		}
	}
}

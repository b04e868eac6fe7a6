package flows

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"
)

// lease says whether an attempt may take over the lease of another.
type lease int

const (
	respectLease  lease = iota // wait for the lease to run out
	takeDeadLease              // take over a lease a dead process left (Resume)
	takeAnyLease               // take over any lease (its holder is done with it)
)

// takeOver reports whether an attempt under l may ignore r's lease.
func (s *Service) takeOver(l lease, r *Request) bool {
	switch l {
	case takeAnyLease:
		return true
	case takeDeadLease:
		return !r.NextAttemptAt.After(s.started.Add(s.cfg.Lease))
	}
	return false
}

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

// revoke deletes the Atlas user of a request being revoked. Failures are
// retried with backoff for as long as it takes; after RevokeAlertAfter
// attempts the grant is flagged revoke_failed and people are told.
func (s *Service) revoke(ctx context.Context, id string, l lease) {
	r, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		now := s.clock.Now()
		if s.takeOver(l, r) {
			r.NextAttemptAt = now
		}
		return nil, r.ClaimRevocation(now, now.Add(s.cfg.Lease))
	})
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			s.log.ErrorContext(ctx, "could not start revocation", "request_id", id, "err", err)
		}
		return
	}
	// The username is recorded before any create, so without one (revoked
	// before provisioning began) there is nothing in Atlas to delete.
	if r.Username == "" {
		s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.FinishRevocation(now) })
		return
	}
	if err := s.prov.Delete(ctx, s.grant(r)); err != nil {
		s.log.WarnContext(ctx, "revocation failed", "request_id", id, "username", r.Username, "attempt", r.Attempts, "err", err)
		s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
			return r.RetryRevocation(now, now.Add(s.backoff(r.Attempts)), ErrorMessage(err), s.cfg.RevokeAlertAfter)
		})
		return
	}
	s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.FinishRevocation(now) })
}

// step is transition for background work: failures are logged, not returned
// to a person.
func (s *Service) step(ctx context.Context, id string, fn func(r *Request, now time.Time) (Event, error)) (*Request, error) {
	r, err := s.transition(ctx, id, fn)
	if err != nil && ErrorCode(err) != ECONFLICT {
		s.log.ErrorContext(ctx, "could not record a transition", "request_id", id, "err", err)
	}
	return r, err
}

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

// moveBackstop brings the deleteAfterDate of an active grant in line with its
// expiry, after an extension or when a clamped backstop can move forward.
func (s *Service) moveBackstop(ctx context.Context, id string) {
	r, err := s.store.Get(ctx, id)
	if err != nil || r.State != StateActive {
		return
	}
	now := s.clock.Now()
	at, refreshAt := s.backstop(now, r.ExpiresAt)
	if !at.After(r.BackstopAt) {
		if !r.BackstopRefreshAt.IsZero() && refreshAt.IsZero() {
			s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.SetBackstop(now, r.BackstopAt, time.Time{}) })
		}
		return
	}
	g := s.grant(r)
	g.BackstopAt = at
	if err := s.prov.SetBackstop(ctx, g); err != nil {
		s.log.WarnContext(ctx, "could not move the Atlas backstop; will retry", "request_id", id, "err", err)
		_, _ = s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
			r.DeferBackstop(s.clock.Now().Add(s.backoff(1)))
			return nil, nil
		})
		return
	}
	s.step(ctx, id, func(r *Request, now time.Time) (Event, error) { return r.SetBackstop(now, at, refreshAt) })
}

// rotate gives an active grant a new password and sends it to the requester.
func (s *Service) rotate(ctx context.Context, r *Request) (*Request, error) {
	creds, err := s.prov.Rotate(ctx, s.grant(r))
	if err != nil {
		return nil, err
	}
	var ev Event
	r, err = s.store.Update(ctx, r.ID, func(r *Request) ([]Event, error) {
		e, err := r.NoteCredentials(s.clock.Now(), true, "")
		ev = e
		return []Event{e}, err
	})
	if err != nil {
		return nil, err
	}
	creds.AccessDetails = s.accessDetails(r, creds)
	if err := s.announce(ctx, ev, r, &creds); err != nil {
		s.step(ctx, r.ID, func(r *Request, now time.Time) (Event, error) {
			return r.NoteCredentials(now, false, "the new credentials could not be delivered: "+ErrorMessage(err))
		})
		return nil, WrapError(EUNAVAILABLE, err, "the password was changed but the message with it could not be sent; try again")
	}
	return r, nil
}

// RotateDue rotates the passwords of active grants older than RotateAfter.
func (s *Service) RotateDue(ctx context.Context, now time.Time) (int, error) {
	if s.cfg.RotateAfter < 0 {
		return 0, nil
	}
	active, err := s.store.Find(ctx, Query{States: []State{StateActive}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range active {
		if now.Sub(r.CredentialsIssuedAt) < s.cfg.RotateAfter {
			continue
		}
		if _, err := s.rotate(ctx, r); err != nil {
			s.log.WarnContext(ctx, "rotation failed", "request_id", r.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

func (s *Service) grant(r *Request) Grant {
	return Grant{
		RequestID: r.ID, Integration: r.Resource.Integration, Requester: r.Requester, Username: r.Username,
		Resource: r.Resource, Role: r.Role, ExpiresAt: r.ExpiresAt, BackstopAt: r.BackstopAt,
	}
}

// accessDetails fills in the integration's instructions for the requester.
func (s *Service) accessDetails(r *Request, c Credentials) string {
	in, ok := s.policy.Integration(r.Resource.Integration)
	if !ok || in.AccessDetails == "" {
		return ""
	}
	return strings.NewReplacer("$USERNAME", c.Username, "$CONNECTION_STRING", c.ConnectionString, "$DATABASE", r.Resource.Database).Replace(in.AccessDetails)
}

// backoff is the wait before attempt n+1: RetryBase doubling up to RetryMax,
// with ±50% jitter so that many grants failing together do not retry together.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	return d/2 + rand.N(d)
}

package flows

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// provision creates the grant of an approved request, waits until Atlas has
// applied it (for a kind whose provisioner is an ApplyWaiter), activates it
// and hands the credentials over. The intent (principal, backstop, lease) is
// persisted before Atlas is called and the outcome after, so a crash at any
// point is finished by Resume.
//
// It returns the request as the attempt left it, so a caller that answers a
// person need not read it back; the error says the attempt could not begin
// (ECONFLICT: another holds the lease, or the request moved on) or its end
// could not be read, and then the request is nil. A failed Atlas call is no
// error: it is recorded on the request, which says what happens next.
func (s *Service) provision(ctx context.Context, id RequestID, l lease) (*Request, error) {
	var ev Event
	var kindErr error
	var owners *Cluster // read for the start of a scheduled request approved by owners
	var target Resource
	update := func(r *Request) ([]Event, error) {
		now := s.clock.Now()
		// A scheduled request is judged again at its start (scheduled.go).
		if r.State == StateApproved && r.Scheduled() && r.Attempts == 0 && !now.Before(r.NextAttemptAt) {
			// Its whole window passed before it could start (jitbot was
			// not running): nothing is made in Atlas to be removed at once.
			if end := r.StartsAt.Add(r.Duration); !now.Before(end) {
				e, ferr := r.FailProvisioning(now, fmt.Sprintf("not started: its window ended at %s, before jitbot could start it (jitbot was not running)", end.UTC().Format(time.RFC3339)))
				ev = e
				return []Event{e}, ferr
			}
			target = r.Resource
			if why := s.startRefusal(s.Policy(), r, owners); errors.Is(why, errNeedOwners) {
				return nil, why
			} else if why != nil {
				e, ferr := r.FailProvisioning(now, "not started: "+ErrorMessage(why))
				ev = e
				return []Event{e}, ferr
			}
		}
		if r.State == StateProvisioning && s.takeOver(l, r) {
			r.NextAttemptAt = now
		}
		principal := r.Principal
		if principal == "" {
			kind, err := s.kindOf(r)
			if err != nil {
				// Nothing was created: the request fails, with the reason.
				kindErr = err
				e, ferr := r.FailProvisioning(now, ErrorMessage(err))
				ev = e
				return []Event{e}, ferr
			}
			principal = kind.principalOf(r)
		}
		var backstop, refresh time.Time
		if _, ok := s.backstopper(r.Kind); ok {
			backstop, refresh = s.backstop(now, r.windowStart(now).Add(r.Duration))
		}
		e, err := r.StartProvisioning(now, now.Add(s.cfg.Lease), principal, backstop, refresh)
		ev = e
		return []Event{e}, err
	}
	r, err := s.store.Update(ctx, id, update)
	if errors.Is(err, errNeedOwners) {
		// The catalog is read outside the transaction, which runs again.
		c, cerr := s.cluster(ctx, target)
		if cerr != nil {
			s.log.WarnContext(ctx, "could not check a scheduled request at its start; trying again", "request_id", id, "err", cerr)
			return nil, cerr
		}
		owners = &c
		r, err = s.store.Update(ctx, id, update)
	}
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			s.log.ErrorContext(ctx, "could not start provisioning", "request_id", id, "err", err)
		}
		return nil, err
	}
	s.announce(ctx, ev, r)
	if kindErr != nil {
		s.log.ErrorContext(ctx, "cannot provision a request of this kind", "request_id", id, "kind", string(r.Kind), "err", kindErr)
		return r, nil
	}
	if r.State == StateFailed { // refused at its start
		return r, nil
	}
	// A revocation that began while this attempt held its lease waits for
	// it: whatever Atlas did meanwhile, the user is removed on the way out.
	return s.revokeIfRevoking(ctx, id, s.attempt(ctx, r))
}

// attempt is the Atlas side of one provisioning attempt that holds the
// lease on r. It returns the request as its last step recorded it, or nil
// when that step recorded nothing (the request moved on meanwhile).
func (s *Service) attempt(ctx context.Context, r *Request) *Request {
	log := s.log.With("request_id", r.ID)
	g := s.grant(r)
	n := r.Attempts
	prov, err := s.provisioner(r.Kind)
	if err != nil {
		r, _ := s.provisionFailed(ctx, r.ID, n, err, false)
		return r
	}
	// The Atlas calls may take long (an apply waited for): the lease is
	// renewed meanwhile, and released to the steps below, which record
	// nothing if another attempt took the request over.
	release := s.holdLease(ctx, r.ID, n)
	defer release()
	var creds Credentials
	err = s.onTarget(ctx, g, func(g Grant) (err error) {
		creds, err = prov.Create(ctx, g)
		return err
	})
	if err != nil {
		release()
		// Nothing of ours exists unless an earlier attempt made it, in which
		// case it stays for the retry, or for the revocation or
		// reconcile that follows a failure. A refused create may also mean
		// the name belongs to someone else: never delete on its account.
		r, _ := s.provisionFailed(ctx, r.ID, n, err, false)
		return r
	}
	err = waitApplied(ctx, prov, g)
	release()
	if err != nil {
		if errors.Is(err, ErrNotApplied) {
			// The password just made is thrown away: the next attempt's Create
			// finds the user and resets it, so the requester gets one that works.
			r, _ := s.step(ctx, r.ID, func(r *Request, now time.Time) (Event, error) {
				if err := r.HeldBy(n); err != nil {
					return Event{}, err
				}
				return r.NoteApplyDelayed(now, now.Add(s.backoff(r.Attempts)))
			})
			return r
		}
		r, _ := s.provisionFailed(ctx, r.ID, n, err, true)
		return r
	}

	var ev Event
	active, err := s.store.Update(ctx, r.ID, func(r *Request) ([]Event, error) {
		if err := r.HeldBy(n); err != nil {
			return nil, err
		}
		e, err := r.Activate(s.clock.Now(), s.cfg.RemindBefore)
		if err == nil && r.Guest == nil {
			// A guest's password is set again when they sign in
			// (thirdparty.go): this one is never shown to anyone.
			s.keep(r, creds, &e)
		}
		ev = e
		return []Event{e}, err
	})
	if err != nil {
		// Revoked or cancelled while Atlas worked: the revocation removes the user.
		log.InfoContext(ctx, "grant not activated", "err", err)
		return nil
	}
	log.InfoContext(ctx, "grant active", "principal", active.Principal, "expires_at", active.ExpiresAt)
	s.announce(ctx, ev, active)
	return active
}

// revokeIfRevoking runs the revocation of a request revoked while it was
// being provisioned, now that the provisioning attempt is over, and returns
// the request as it then stands. last is the request as the attempt left it
// (nil: unknown). A revocation can begin during an attempt only while the
// request is provisioning; once the attempt has made it active or ended it,
// whoever revokes it later carries the revocation out, so last is the answer
// and no read is needed.
func (s *Service) revokeIfRevoking(ctx context.Context, id RequestID, last *Request) (*Request, error) {
	if last != nil && (last.State == StateActive || last.State.Terminal()) {
		return last, nil
	}
	r, err := s.store.Get(ctx, id)
	if err != nil || (r.State != StateRevoking && r.State != StateRevokeFailed) {
		return r, err
	}
	return s.revoke(ctx, id, takeAnyLease)
}

// provisionFailed retries a transient failure of the given attempt or
// gives up on a permanent one, unless another attempt took the request
// over. created says the grant exists (this attempt made it), so giving up
// must remove it. It returns the request with the failure recorded, or the
// error that kept it from being recorded.
func (s *Service) provisionFailed(ctx context.Context, id RequestID, attempt int, cause error, created bool) (*Request, error) {
	retryable := ErrorCode(cause) == EUNAVAILABLE || ErrorCode(cause) == EINTERNAL
	msg := ErrorMessage(cause)
	s.log.WarnContext(ctx, "provisioning failed", "request_id", id, "retryable", retryable, "err", cause)
	r, err := s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
		if err := r.HeldBy(attempt); err != nil {
			// Taken over: the grant is the other attempt's now.
			return Event{}, err
		}
		if retryable && r.Attempts < s.cfg.ProvisionAttempts {
			return r.RetryProvisioning(now, now.Add(s.backoff(r.Attempts)), msg)
		}
		return r.FailProvisioning(now, msg)
	})
	if err == nil && r.State == StateFailed && created {
		// Remove the grant now rather than leave it to reconcile.
		if err := s.delete(ctx, r); err != nil {
			s.log.WarnContext(ctx, "could not remove the grant of a failed request; reconcile will", "request_id", id, "err", err)
		}
	}
	return r, err
}

// current is what a use case answers after an internal step: the request
// the step returned, or, when the step could not say how it left the
// request, the request as stored.
func (s *Service) current(ctx context.Context, id RequestID, r *Request, err error) (*Request, error) {
	if err == nil && r != nil {
		return r, nil
	}
	return s.store.Get(ctx, id)
}

// waitApplied waits for Atlas to apply a grant, when its kind's changes
// take time to apply (ApplyWaiter); any other kind's are live on Create.
func waitApplied(ctx context.Context, prov Provisioner, g Grant) error {
	if w, ok := prov.(ApplyWaiter); ok {
		return w.WaitApplied(ctx, g)
	}
	return nil
}

// delete removes the grant of r through its kind's provisioner.
func (s *Service) delete(ctx context.Context, r *Request) error {
	_, err := s.deleteNoting(ctx, r)
	return err
}

// deleteNoting is delete, also saying, for the audit record of the end,
// which other live grants kept a shared target (shared.go).
func (s *Service) deleteNoting(ctx context.Context, r *Request) (note string, err error) {
	prov, err := s.provisioner(r.Kind)
	if err != nil {
		return "", err
	}
	err = s.onTarget(ctx, s.grant(r), func(g Grant) error {
		note = holdersNote(g)
		return prov.Delete(ctx, g)
	})
	return note, err
}

package flows

import (
	"context"
	"time"
)

// Rotate gives an active grant a new secret (a database user a new
// password) and sends it to its requester, for a requester who lost the
// first message. Only kinds whose provisioner is a Reissuer have a secret
// to replace. Anyone who takes no part in the request is answered as for an
// unknown id.
func (s *Service) Rotate(ctx context.Context, id RequestID, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	r, err := s.visible(ctx, id, actor)
	if err != nil {
		return nil, err
	}
	if r.Requester != actor {
		return nil, Errorf(EFORBIDDEN, "only %s can get new credentials for request %s", r.Requester, r.ID)
	}
	if r.State != StateActive {
		return nil, Errorf(ECONFLICT, "request %s is %s, not active", r.ID, r.describeState())
	}
	if r.Guest != nil {
		return nil, Errorf(EINVALID, "request %s is for %s, who gets a password only through a guest link: make a new one with guest-link %s", r.ID, r.Guest.Email, r.ID)
	}
	if _, ok := s.reissuer(r.Kind); !ok {
		return nil, Errorf(EINVALID, "request %s grants %s, which has no secret to replace: there are no new credentials to send", r.ID, aKind(r.Kind))
	}
	if r.Auth.Passwordless() {
		return nil, Errorf(EINVALID, "request %s signs in with %s, without a password: there is no secret to replace; sign in again as your credentials message says", r.ID, r.Auth)
	}
	return s.rotate(ctx, r)
}

// reissuer returns the provisioner of a kind as a Reissuer, if it is one.
func (s *Service) reissuer(k Kind) (Reissuer, bool) {
	re, ok := s.provs[k.orDefault()].(Reissuer)
	return re, ok
}

// rotate gives an active grant a new secret and sends it to the requester.
func (s *Service) rotate(ctx context.Context, r *Request) (*Request, error) {
	re, ok := s.reissuer(r.Kind)
	if !ok {
		return nil, Errorf(EINVALID, "%s has no secret to replace", upperFirst(aKind(r.Kind)))
	}
	creds, err := re.Reissue(ctx, s.grant(r))
	if err != nil {
		return nil, err
	}
	var ev Event
	r, err = s.store.Update(ctx, r.ID, func(r *Request) ([]Event, error) {
		e, err := r.NoteCredentials(s.clock.Now(), true, "")
		if err == nil {
			s.keep(r, creds, &e)
		}
		ev = e
		return []Event{e}, err
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ev, r)
	return r, nil
}

// RotateDue rotates the secrets of active grants older than RotateAfter
// (of the kinds that have one to replace).
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
		// A guest's password is set when they open a new link, never sent
		// to chat.
		if _, ok := s.reissuer(r.Kind); !ok || r.Guest != nil || r.Auth.Passwordless() || now.Sub(r.CredentialsIssuedAt) < s.cfg.RotateAfter {
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

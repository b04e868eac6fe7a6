package flows

import (
	"context"
	"time"
)

// Rotate gives an active grant a new password and sends it to its requester,
// for a requester who lost the first message. Anyone who takes no part in the
// request is answered as for an unknown id.
func (s *Service) Rotate(ctx context.Context, id, actor string) (*Request, error) {
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
	return s.rotate(ctx, r)
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

package flows

import (
	"context"
	"errors"
	"time"
)

// RevokePerson ends everything a person has under way, as jitbot: their
// pending requests are cancelled and their live grants revoked. It is what
// happens when jitbot can no longer tell that a chat account is its person
// (the identity provider refused them, or they did not prove it again): a
// grant held by someone unproven is only a risk. It returns the requests
// it ended; the requester hears of each from its event, and the caller
// tells the admins.
func (s *Service) RevokePerson(ctx context.Context, person, why string) ([]RequestID, error) {
	person, err := NormalizeEmail(person)
	if err != nil {
		return nil, err
	}
	rs, err := s.store.Find(ctx, Query{Requester: person, States: LiveStates()})
	if err != nil {
		return nil, err
	}
	var ended []RequestID
	var errs []error
	for _, r := range rs {
		got, err := s.transition(ctx, r.ID, func(r *Request, now time.Time) (Event, error) {
			if r.State == StatePending {
				return r.Cancel(SystemActor, true, now)
			}
			return r.StartRevoking(now, SystemActor, StateRevoked, why)
		})
		if err != nil {
			if ErrorCode(err) != ECONFLICT { // over already
				errs = append(errs, err)
			}
			continue
		}
		ended = append(ended, r.ID)
		if got.State == StateRevoking {
			if _, err := s.revoke(ctx, r.ID, respectLease); err != nil {
				// The sweep retries a revocation that failed.
				errs = append(errs, err)
			}
		}
	}
	return ended, errors.Join(errs...)
}

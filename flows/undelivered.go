package flows

import (
	"context"
	"errors"
	"time"
)

// EventMessageUndelivered records a message a chat platform refused for
// good (a deactivated account, a channel that is gone): the dispatcher drops
// it instead of retrying forever, and the audit log says so. It changes no
// request and tells nobody: an approver's card is one of several, and
// undeliverable credentials are EventCredentialsUndelivered instead.
const EventMessageUndelivered EventType = "message_undelivered"

// ReissueLost gives an active grant new credentials because those issued
// at issued were lost before their message went out (the process stopped
// while the secret was only in memory): the dispatcher calls it instead of
// sending a message without the secret. Credentials replaced or a grant
// ended since need nothing: nil.
func (s *Service) ReissueLost(ctx context.Context, id RequestID, issued time.Time) error {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.State != StateActive || !r.CredentialsIssuedAt.Equal(issued) || r.Guest != nil {
		return nil
	}
	if _, ok := s.reissuer(r.Kind); !ok || r.Auth.Passwordless() {
		return ErrNothingToReissue
	}
	_, err = s.rotate(ctx, r)
	return err
}

// ErrNothingToReissue: the grant's kind holds no secret (network access,
// Atlas UI roles, a passwordless user), so a credentials message lost in a
// restart has nothing to replace: its message goes out without them.
var ErrNothingToReissue = errors.New("flows: the grant holds no secret to reissue")

// CredentialsUndeliverable revokes a grant whose credentials can never reach
// its requester (the platform she asked from refuses them for good, or no
// longer knows her): a grant nobody can use is only a risk. The admins hear
// of it from the EventCredentialsUndelivered the dispatcher records; the
// requester from the revocation, wherever she can still be reached.
func (s *Service) CredentialsUndeliverable(ctx context.Context, id RequestID, why string) (*Request, error) {
	r, err := s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		return r.StartRevoking(now, SystemActor, StateRevoked, "the credentials could not be delivered: "+why)
	})
	if err != nil {
		return nil, err
	}
	if r.State != StateRevoking {
		return r, nil
	}
	got, err := s.revoke(ctx, id, respectLease)
	return s.current(ctx, id, got, err)
}

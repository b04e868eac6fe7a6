package flows

import (
	"context"
	"slices"
)

// Request again: a person asks once more for what one of their requests
// asked for (the same kind, target, roles, duration and reason), as a new
// request that goes through the policy in force like any other: the flow
// that covers it now, its approvers, its limits. Only the requester of the
// old request may: to anyone else its id is unknown, as for every command
// about a request (participants.go), since asking again would tell them
// what it asked for.

// againStates are the requests whose access has ended, which the chats
// offer to request again.
var againStates = []State{StateExpired, StateRevoked}

// RecentLimit is how many ended requests Recent lists.
const RecentLimit = 3

// Again is what a new request like the person's request id would ask: its
// kind, target, roles, duration and reason, for a form to prefill or
// SubmitAgain to submit.
func (s *Service) Again(ctx context.Context, id RequestID, actor string) (SubmitInput, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return SubmitInput{}, err
	}
	r, err := s.store.Get(ctx, id)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return SubmitInput{}, noSuchRequest(id)
	case err != nil:
		return SubmitInput{}, err
	case r.Requester != actor:
		return SubmitInput{}, noSuchRequest(id)
	}
	t := r.Resource
	// The catalog's ids are found again at submission: the cluster may
	// have been re-created since.
	t.ProjectID, t.ClusterID = "", ""
	in := SubmitInput{Requester: actor, Kind: r.Kind, Resource: t, Roles: slices.Clone(r.Roles), Duration: r.Duration, Reason: r.Reason}
	if r.Guest != nil {
		in.Guest = r.Guest.Email // for the same guest, judged again
	}
	return in, nil
}

// SubmitAgain submits, as a new request from origin, what the person's
// request id asked for. key is the delivery's idempotency key. A refusal
// says it is about asking again, and why, in the words Submit uses.
func (s *Service) SubmitAgain(ctx context.Context, id RequestID, actor, origin, key string) (*Request, error) {
	in, err := s.Again(ctx, id, actor)
	if err != nil {
		return nil, err
	}
	in.Origin, in.IdempotencyKey = origin, key
	r, err := s.Submit(ctx, in)
	if err != nil && ErrorCode(err) != EINTERNAL {
		return nil, WrapError(ErrorCode(err), err, "asking again for %s as in request %s: %s", DescribeAccess(&Request{Kind: in.Kind, Resource: in.Resource, Roles: in.Roles}), id, ErrorMessage(err))
	}
	return r, err
}

// Recent lists the person's latest requests whose access has ended
// (expired or revoked), newest first, at most RecentLimit: what list and
// the App Home offer to request again.
func (s *Service) Recent(ctx context.Context, actor string) ([]*Request, error) {
	return s.store.Find(ctx, Query{Requester: actor, States: againStates, Limit: RecentLimit})
}

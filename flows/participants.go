package flows

import (
	"context"
	"slices"
	"strconv"
	"time"
	"unicode"
)

// A request's participants are the people it concerns: its requester,
// everyone it was routed to for approval (Request.Approvers, who also decide
// its extensions), and the policy's admins. Nobody else may learn that it
// exists: every command and click about it (Get, Cancel, Revoke, Extend,
// Rotate, Decide) answers anyone else exactly as it answers an id that does
// not exist, with noSuchRequest, and changes nothing. Refusals to
// participants may then name people and states, which they know already.

// isParticipant reports whether person takes part in r.
func (s *Service) isParticipant(r *Request, person string) bool {
	return person == r.Requester || slices.Contains(r.Approvers, person) || s.Policy().IsAdmin(person)
}

// noSuchRequest is the one answer to an id that names no request, or one the
// person does not take part in: the same code and the same words, so the
// answer tells a stranger nothing, not even that the id is real.
func noSuchRequest(id RequestID) error {
	return Errorf(ENOTFOUND, "there is no request %s that you can see", shownID(id))
}

// shownID is an id as a person typed or a button carried it, fit to be
// quoted back: bounded, and quoted with escapes when it holds anything but
// visible characters, so no control or invisible character travels back.
func shownID(rid RequestID) string {
	id := excerpt(string(rid))
	if id == "" {
		return `""`
	}
	for _, c := range id {
		if c == unicode.ReplacementChar || !unicode.IsGraphic(c) || unicode.IsSpace(c) {
			return strconv.QuoteToGraphic(id)
		}
	}
	return id
}

// act applies a person's step to a request they take part in, in one store
// transaction, and announces its event. For anyone else, and for an id that
// names no request, it answers noSuchRequest and writes nothing.
func (s *Service) act(ctx context.Context, id RequestID, actor string, step func(r *Request, now time.Time) (Event, error)) (*Request, error) {
	r, err := s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		if !s.isParticipant(r, actor) {
			return Event{}, noSuchRequest(id)
		}
		return step(r, now)
	})
	if ErrorCode(err) == ENOTFOUND {
		// The store's own words for a missing id may differ from ours.
		return nil, noSuchRequest(id)
	}
	return r, err
}

// visible reads a request for a person who takes part in it; anyone else,
// and an id that names no request, get noSuchRequest.
func (s *Service) visible(ctx context.Context, id RequestID, actor string) (*Request, error) {
	r, err := s.store.Get(ctx, id)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, noSuchRequest(id)
	case err != nil:
		return nil, err
	case !s.isParticipant(r, actor):
		return nil, noSuchRequest(id)
	}
	return r, nil
}

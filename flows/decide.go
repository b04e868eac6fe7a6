package flows

import (
	"context"
	"time"
)

// DecideInput is an approver's click.
type DecideInput struct {
	RequestID RequestID
	Actor     string
	Approve   bool
	Reason    string
	// Extension is the number of the extension decided on; 0 for the request.
	Extension int
}

// Decide records an approval or a denial. The click is authorized here, on the
// current state: the actor must be an approver of this request and not its
// requester, and the request (or extension) must still wait for a decision.
// A repeated click changes nothing and says so. Anyone who takes no part in
// the request is answered as for an unknown id.
func (s *Service) Decide(ctx context.Context, in DecideInput) (*Request, error) {
	actor, err := NormalizeEmail(in.Actor)
	if err != nil {
		return nil, err
	}
	if !in.Approve {
		if err := checkReason(in.Reason); err != nil {
			return nil, err
		}
	}
	var ev Event
	r, err := s.act(ctx, in.RequestID, actor, func(r *Request, now time.Time) (Event, error) {
		var e Event
		var err error
		switch {
		case in.Extension > 0:
			e, err = r.DecideExtension(in.Extension, actor, in.Approve, in.Reason, now, s.cfg.RemindBefore)
		case in.Approve:
			e, err = r.Approve(actor, now)
		default:
			e, err = r.Deny(actor, in.Reason, now)
		}
		ev = e
		return e, err
	})
	if err != nil {
		return nil, err
	}
	switch ev.Type {
	case EventApproved:
		p, err := s.provision(ctx, r.ID, respectLease)
		return s.current(ctx, r.ID, p, err)
	case EventExtended:
		if moved, err := s.extended(ctx, r); err == nil {
			return moved, nil
		}
	}
	return r, nil
}

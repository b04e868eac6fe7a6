package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// ClickInput is what came with a click besides its action id.
type ClickInput struct {
	// Reason is what the person typed in the form a Deny button opened (or
	// the note of a break-glass review).
	Reason string
}

// Click does what a button asks, as who, and answers. Buttons only carry
// what the person asked for: flows authorizes every click again on the
// request as it is now.
//
// Who hears about the outcome: a decision says nothing when it works (every
// approver's card updates through the notices), and neither do an
// extension done at once or a revocation by the requester on the platform
// they asked from (the direct message about the event follows there).
// Anything else is answered here, since no notice will reach this person
// on this platform.
func (e *Engine) Click(ctx context.Context, who Actor, a Action, in ClickInput) Reply {
	svc, err := e.service()
	if err != nil {
		return e.Refused(ctx, who, err)
	}
	if who, err = e.trust(ctx, who); err != nil {
		return e.Refused(ctx, who, err)
	}
	v := who.Viewer()
	var reply Reply
	var r *flows.Request
	switch a.Kind {
	case ActionApprove, ActionApproveExtension, ActionDeny, ActionDenyExtension:
		reason := strings.TrimSpace(in.Reason)
		if len(reason) > MaxReasonLength {
			err = flows.Errorf(flows.EINVALID, "the reason is %d characters long; keep it under %d", len(reason), MaxReasonLength)
			break
		}
		_, err = svc.Decide(ctx, flows.DecideInput{
			RequestID: a.RequestID, Actor: who.Email, Approve: a.Kind == ActionApprove || a.Kind == ActionApproveExtension,
			Reason: reason, Extension: a.Extension,
		})
	case ActionExtend:
		if r, err = svc.Extend(ctx, a.RequestID, who.Email, a.Duration); err == nil && (r.Extension != nil || r.Origin != who.Platform) {
			reply = cardReply(ExtendOutcome(r, v, a.Duration))
		}
	case ActionRevoke:
		if r, err = svc.Revoke(ctx, a.RequestID, who.Email, ""); err == nil &&
			(who.Email != r.Requester || r.Origin != who.Platform || r.State == flows.StateCancelled) {
			reply = cardReply(RevokeOutcome(r, v))
		}
	case ActionCancel:
		if r, err = svc.Cancel(ctx, a.RequestID, who.Email); err == nil {
			reply = cardReply(Outcome(r, v, "Cancelled."))
		}
	case ActionAgain:
		reply, err = e.againForm(ctx, svc, who, a.RequestID)
	case ActionReview:
		// The note was asked for by the form the button opened.
		if r, err = svc.Review(ctx, a.RequestID, who.Email, in.Reason); err == nil {
			reply = cardReply(Outcome(r, v, "Review recorded: thank you."))
		}
	case ActionRotate:
		if r, err = svc.Rotate(ctx, a.RequestID, who.Email); err == nil {
			reply = cardReply(RotateOutcome(r, v, who.Platform, e.wording(who.Platform).Here))
		}
	case ActionGuestLink:
		reply, err = e.guestLink(ctx, who, a.RequestID)
	default:
		err = flows.Errorf(flows.EINVALID, "that button does nothing here")
	}
	if need := (*flows.StepUpNeeded)(nil); errors.As(err, &need) {
		if reply, ok := e.stepUp(ctx, who, need); ok {
			return reply
		}
	}
	if err != nil {
		return e.Refused(ctx, who, err)
	}
	return reply
}

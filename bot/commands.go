package bot

import (
	"context"
	"errors"

	"github.com/jitbot/jitbot/flows"
)

// Run does what a parsed command asks, as who, and answers. key names the
// delivery for flows.Submit (a Slack trigger or view id, a Teams activity),
// so that a replayed delivery makes one request. Every answer is one of the
// engine's: platforms parse (Parse) and deliver, nothing more.
func (e *Engine) Run(ctx context.Context, who Actor, cmd Command, key string) Reply {
	svc, err := e.service()
	if err != nil {
		return e.Refused(ctx, who, err)
	}
	if cmd.Verb != VerbHelp {
		if who, err = e.trust(ctx, who); err != nil {
			return e.Refused(ctx, who, err)
		}
	}
	w := e.wording(who.Platform)
	v := who.Viewer()
	var reply Reply
	var r *flows.Request
	switch cmd.Verb {
	case VerbHelp:
		reply = cardReply(UsageCard(w, nil))
	case VerbForm:
		reply, err = e.form(ctx, svc, who)
	case VerbRequest, VerbNetwork:
		if r, err = svc.Submit(ctx, flows.SubmitInput{
			Requester: who.Email, Kind: cmd.Kind, Resource: cmd.Resource, Roles: cmd.Roles, Duration: cmd.Duration, Reason: cmd.Reason, StartAt: cmd.StartAt,
			Identity: cmd.Identity, Origin: who.Platform, IdempotencyKey: key, Guest: cmd.Guest,
		}); err == nil {
			reply = cardReply(SubmittedCard(r, v))
		}
	case VerbList:
		var rs []*flows.Request
		if rs, err = svc.Mine(ctx, who.Email); err == nil {
			// The latest that ended follow, to request again (again.go).
			var ended []*flows.Request
			if ended, err = svc.Recent(ctx, who.Email); err != nil {
				break
			}
			l := NewList("Your requests", "You have no requests under way. "+w.AskHint, append(rs, ended...), v)
			reply = Reply{List: &l}
		}
	case VerbPending:
		var rs []*flows.Request
		if rs, err = svc.Pending(ctx, who.Email); err == nil {
			l := NewList("Waiting for your approval", "Nothing waits for your approval.", rs, v)
			reply = Reply{List: &l}
		}
	case VerbCancel:
		if r, err = svc.Cancel(ctx, cmd.RequestID, who.Email); err == nil {
			reply = cardReply(Outcome(r, v, "Cancelled."))
		}
	case VerbRevoke:
		if r, err = svc.Revoke(ctx, cmd.RequestID, who.Email, cmd.Reason); err == nil {
			reply = cardReply(RevokeOutcome(r, v))
		}
	case VerbExtend:
		if r, err = svc.Extend(ctx, cmd.RequestID, who.Email, cmd.Duration); err == nil {
			reply = cardReply(ExtendOutcome(r, v, cmd.Duration))
		}
	case VerbBreakGlass:
		if r, err = svc.Submit(ctx, flows.SubmitInput{
			Requester: who.Email, Kind: cmd.Kind, Resource: cmd.Resource, Roles: cmd.Roles, Duration: cmd.Duration, Reason: cmd.Reason,
			Identity: cmd.Identity, Origin: who.Platform, IdempotencyKey: key, BreakGlass: true,
		}); err == nil {
			reply = cardReply(Outcome(r, v, "Break glass: access without approval. The owners, the admins and the reviewers were alerted; your credentials follow."))
		} else if need := (*flows.StepUpNeeded)(nil); errors.As(err, &need) {
			// Its flow wants a fresh sign-in first (flows/breakglass_stepup.go).
			if reply, ok := e.stepUp(ctx, who, need); ok {
				return reply
			}
		}
	case VerbAgain:
		if r, err = svc.SubmitAgain(ctx, cmd.RequestID, who.Email, who.Platform, key); err == nil {
			reply = cardReply(SubmittedCard(r, v))
		}
	case VerbRotate:
		if r, err = svc.Rotate(ctx, cmd.RequestID, who.Email); err == nil {
			reply = cardReply(RotateOutcome(r, v, who.Platform, w.Here))
		}
	case VerbGuestLink:
		reply, err = e.guestLink(ctx, who, cmd.RequestID)
	default:
		err = flows.Errorf(flows.EINVALID, "%s is not something jitbot can do from here", cmd.Verb)
	}
	if err != nil {
		return e.Refused(ctx, who, err)
	}
	return reply
}

// form answers the access command alone: the request form, offering what
// the person may ask for, or why there is nothing to offer.
func (e *Engine) form(ctx context.Context, svc Service, who Actor) (Reply, error) {
	choices, err := svc.Options(ctx, who.Email)
	if err != nil {
		return Reply{}, err
	}
	if len(choices) == 0 {
		return cardReply(Card{
			Title: "Nothing to ask for yet",
			Text:  "No access flow lets you ask for anything yet. Ask an admin to add you to one.",
			Tone:  ToneInfo,
		}), nil
	}
	return Reply{Form: choices}, nil
}

package bot

import (
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/flows"
)

// Break-glass (flows/breakglass.go) in chat: `breakglass ...` takes access
// at once; the use is announced loudly (an alert to the reviewers, the
// owners, the admins, and the flow's channel); every card marks the grant;
// the reviewers' cards carry a Review button that asks for a note (the
// Slack modal of the deny form, an input in the Teams card), authorized
// again by flows.

// breakGlassMark is how a break-glass grant is marked where its approval
// would be named.
const breakGlassMark = "BREAK-GLASS: taken without approval"

// reviewButton asks a reviewer to acknowledge a break-glass use.
func reviewButton(r *flows.Request) Button {
	return Button{Label: "Review", ActionID: Action{Kind: ActionReview, RequestID: r.ID}.ID(), Style: StylePrimary, ReasonRequired: true}
}

// reviewsFor reports whether v is one of r's reviewers who may still review it.
func reviewsFor(r *flows.Request, v Viewer) bool {
	return r.BreakGlass != nil && !r.BreakGlass.Reviewed() && v.Email != r.Requester && slices.Contains(r.BreakGlass.Reviewers, v.Email)
}

// breakGlassField describes a break-glass grant's review, for every card
// about the request.
func breakGlassField(r *flows.Request, v Viewer) (Field, bool) {
	rv := r.BreakGlass
	if rv == nil {
		return Field{}, false
	}
	taken := "taken without approval"
	if rv.MFA {
		taken += " (with a fresh MFA sign-in)"
	}
	value := fmt.Sprintf("%s; review by %s before %s", taken, joinNames(rv.Reviewers), v.FormatTime(rv.Due))
	switch {
	case rv.Reviewed():
		value = fmt.Sprintf("%s; reviewed by %s at %s: %s", taken, rv.ReviewedBy, v.FormatTime(rv.ReviewedAt), rv.Note)
	case rv.Overdue:
		value = fmt.Sprintf("%s; review OVERDUE (was due %s) from %s", taken, v.FormatTime(rv.Due), joinNames(rv.Reviewers))
	}
	return Field{Label: "Break-glass", Value: value}, true
}

// BreakGlassCard is the message about a break-glass event for v: the alert
// of a use, a reminder or a tier of its review, the review overdue, or
// done. ok is false for other events.
func BreakGlassCard(n flows.Notice, v Viewer) (Card, bool) {
	r, ev := n.Request, n.Event
	if r == nil || r.BreakGlass == nil {
		return Card{}, false
	}
	bg, _ := breakGlassField(r, v)
	fields := []Field{{Label: "Requester", Value: r.Requester}, {Label: "Access", Value: flows.DescribeAccess(r)},
		{Label: "Duration", Value: flows.FormatDuration(r.Duration)}, {Label: "Reason", Value: orNone(r.Reason)}, {Label: "Flow", Value: r.Flow}, bg}
	c := Card{Fields: fields, Tone: ToneAlert}
	switch ev.Type {
	case flows.EventBrokeGlass:
		c.Title = "BREAK-GLASS: " + r.Requester + " took access without approval (request " + string(r.ID) + ")"
		c.Subtitle = fmt.Sprintf("%s for %s, at %s", flows.DescribeAccess(r), flows.FormatDuration(r.Duration), v.FormatTime(ev.At))
		c.Text = "Nobody approved this: the access flow lets its requesters break glass in an emergency, once per window. " +
			"The reviewers must review it; the owners and admins may revoke it."
		if v.Email == r.Requester {
			c.Title = "You broke glass: request " + string(r.ID)
			c.Text = "Access is being set up now, without approval; your credentials follow. The owners, the admins and the reviewers were alerted, and the reviewers must review this use."
		}
	case flows.EventReviewReminded, flows.EventReviewEscalated:
		c.Title = "Review due: break-glass request " + string(r.ID)
		c.Subtitle = r.Requester + " took " + flows.DescribeAccess(r) + " without approval at " + v.FormatTime(r.CreatedAt)
		c.Text = "Review it: say what you checked (the reason, what was done), in a note kept in the audit."
		c.Tone = ToneWarning
	case flows.EventReviewOverdue:
		c.Title = "Break-glass review overdue: request " + string(r.ID)
		c.Subtitle = r.Requester + " took " + flows.DescribeAccess(r) + " without approval at " + v.FormatTime(r.CreatedAt)
		c.Text = "Nobody has reviewed this use in time. The reviewers are still reminded until one does."
	case flows.EventReviewed:
		c.Title = "Break-glass use reviewed: request " + string(r.ID)
		c.Subtitle = "by " + ev.Actor + " at " + v.FormatTime(ev.At)
		c.Tone = ToneGood
	default:
		return Card{}, false
	}
	if reviewsFor(r, v) {
		c.Actions = []Button{reviewButton(r)}
	} else if ev.Type == flows.EventBrokeGlass && r.State == flows.StateActive && v.Email != "" && v.Email != r.Requester {
		c.Actions = []Button{revokeButton(r, "Revoke")}
	}
	return c, true
}

// BreakGlassChannelCard is the alert a break-glass flow's channel gets:
// the card, without buttons.
func BreakGlassChannelCard(r *flows.Request, ev flows.Event) Card {
	c, _ := BreakGlassCard(flows.Notice{Event: ev, Request: r}, Viewer{})
	c.Actions = nil
	return c
}

// breakGlassChannel posts the alert of a use to its flow's channel, on the
// platforms that post to channels.
func (x *expansion) breakGlassChannel(seq uint64, n flows.Notice) {
	r := n.Request
	if r.BreakGlass == nil || r.BreakGlass.Channel == "" {
		return
	}
	channel := r.BreakGlass.Channel
	for _, p := range x.platforms {
		if p.Channel(&flows.Request{ApprovalsChannel: channel}) == "" {
			continue // a platform without channels (Teams)
		}
		name := p.Name()
		x.add(flows.Delivery{Conversation: conversation(name, channel), Platform: name, Priority: flows.PriorityApproval,
			What: whatChannelNotice, Recipient: channel, RequestID: r.ID, EventSeq: seq, Payload: encodePayload(n.Event, "")}, "")
	}
}

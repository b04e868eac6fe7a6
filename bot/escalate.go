package bot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Reminders and escalation of pending requests (flows/escalate.go), as
// messages: an approver is reminded once for everything waiting for them,
// however many requests were due; an escalation sends the tier's new
// approvers their approval cards and its channel a notice without buttons;
// the requester hears of each step.

// What a delivery is, for reminders and escalation.
const (
	// whatNudge reminds an approver of what waits for them. It is about no
	// one request: coalesced per approver (nudgeKey), it lists at send
	// time every request still waiting for them.
	whatNudge = "nudge"
	// whatChannelNotice tells an escalation tier's channel of a request,
	// without buttons: its members are not approvers.
	whatChannelNotice = "channel_notice"
)

// nudgeMax is how many waiting requests a reminder lists with buttons.
const nudgeMax = 5

func nudgeKey(email string) string { return "nudge:" + email }

// nudges are the reminders of the approvers who have not decided: one per
// approver per platform, coalesced with any still waiting.
func (x *expansion) nudges(seq uint64, n flows.Notice) {
	body := encodePayload(n.Event, "")
	for _, p := range x.platforms {
		name := p.Name()
		for _, email := range n.To {
			if email == n.Request.Requester {
				continue
			}
			x.add(flows.Delivery{Conversation: conversation(name, email), Platform: name, Priority: flows.PriorityApproval,
				What: whatNudge, Recipient: email, EventSeq: seq, Coalesce: nudgeKey(email), Payload: body}, "")
		}
	}
}

// escalated sends the approval cards to the approvers an escalation tier
// added, and its notice to the tier's channel on the platforms that post
// to channels.
func (x *expansion) escalated(seq uint64, n flows.Notice) {
	r := n.Request
	body := encodePayload(n.Event, KindApproval)
	channel := ""
	if t := n.Event.Tier; t >= 1 && t <= len(r.Escalation) {
		channel = r.Escalation[t-1].Channel
	}
	for _, p := range x.platforms {
		name := p.Name()
		for _, email := range n.To {
			if email == r.Requester {
				continue
			}
			x.add(flows.Delivery{Conversation: conversation(name, email), Platform: name, Priority: flows.PriorityApproval,
				What: whatCard, Recipient: email, RequestID: r.ID, EventSeq: seq, Payload: body}, KindApproval)
		}
		// A platform without channels (Teams) names none for any request.
		if channel != "" && p.Channel(&flows.Request{ApprovalsChannel: channel}) != "" {
			x.add(flows.Delivery{Conversation: conversation(name, channel), Platform: name, Priority: flows.PriorityApproval,
				What: whatChannelNotice, Recipient: channel, RequestID: r.ID, EventSeq: seq, Payload: encodePayload(n.Event, "")}, "")
		}
	}
}

// sendNudge reminds an approver of every request still waiting for them,
// as the store says at send time: the coalesced deliveries of several
// sweeps become one message, and a request decided meanwhile is left out.
func (d *Dispatcher) sendNudge(ctx context.Context, p Platform, dl flows.Delivery) (*flows.MessageRef, error) {
	rs, err := d.deps.Store.Find(ctx, flows.Query{Approver: dl.Recipient, States: []flows.State{flows.StatePending}})
	if err != nil {
		return nil, fmt.Errorf("read what waits for %s: %w", dl.Recipient, err)
	}
	rs = slices.DeleteFunc(rs, func(r *flows.Request) bool { return !slices.Contains(r.AwaitingApprovalFrom(), dl.Recipient) })
	if len(rs) == 0 {
		return nil, skip("nothing waits for the approver any more")
	}
	who, found, err := p.Find(ctx, dl.Recipient)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, skip("not on this platform")
	}
	_, err = d.sendTo(ctx, p, dl, who, ApproverReminderCard(rs, Viewer{Email: dl.Recipient, Location: who.Location}))
	return nil, err
}

// sendChannelNotice posts an escalation's notice to its channel.
func (d *Dispatcher) sendChannelNotice(ctx context.Context, p Platform, dl flows.Delivery, n flows.Notice) (*flows.MessageRef, error) {
	if n.Request == nil {
		return nil, skip("the request is gone")
	}
	if n.Event.Type == flows.EventBrokeGlass { // breakglass.go
		_, err := d.postTo(ctx, p, dl, dl.Recipient, BreakGlassChannelCard(n.Request, n.Event))
		return nil, err
	}
	if n.Request.State != flows.StatePending {
		return nil, skip("the request no longer waits")
	}
	_, err := d.postTo(ctx, p, dl, dl.Recipient, EscalationChannelCard(n.Request, n.Event, Viewer{}))
	return nil, err
}

// ApproverReminderCard lists the requests waiting for the viewer's
// decision, oldest first, with Approve and Deny buttons for the first
// nudgeMax of them.
func ApproverReminderCard(rs []*flows.Request, v Viewer) Card {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b *flows.Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	title := "Reminder: a request waits for your decision"
	if len(rs) > 1 {
		title = "Reminder: " + strconv.Itoa(len(rs)) + " requests wait for your decision"
	}
	c := Card{Title: title, Tone: ToneWarning}
	for i, r := range rs {
		if i == nudgeMax {
			c.Text = fmt.Sprintf("and %d more: list shows them all.", len(rs)-nudgeMax)
			break
		}
		c.Fields = append(c.Fields, Field{
			Label: "Request " + string(r.ID),
			Value: fmt.Sprintf("%s asks for %s for %s · %s · waiting since %s, decide by %s", r.Requester, flows.DescribeAccess(r),
				flows.FormatDuration(r.Duration), Truncate(orNone(r.Reason), 80), v.FormatTime(r.CreatedAt), v.FormatTime(r.PendingUntil)),
		})
		c.Actions = append(c.Actions,
			Button{Label: "Approve " + string(r.ID), ActionID: Action{Kind: ActionApprove, RequestID: r.ID}.ID(), Style: StylePrimary},
			Button{Label: "Deny " + string(r.ID), ActionID: Action{Kind: ActionDeny, RequestID: r.ID}.ID(), Style: StyleDanger, ReasonRequired: r.DenyReasonRequired})
	}
	return c
}

// EscalationChannelCard tells an escalation tier's channel that a request
// is waiting: who asks for what, and who may approve. Its members are not
// approvers, so it has no buttons.
func EscalationChannelCard(r *flows.Request, ev flows.Event, v Viewer) Card {
	return Card{
		Title:    "Escalated: access request " + string(r.ID) + " is waiting",
		Subtitle: fmt.Sprintf("%s asks for %s for %s", r.Requester, flows.DescribeAccess(r), flows.FormatDuration(r.Duration)),
		Fields:   append(requestFields(r, v), Field{Label: "Approvers", Value: joinNames(r.AwaitingApprovalFrom())}),
		Text:     "Nobody has decided since " + v.FormatTime(r.CreatedAt) + ". The approvers above can approve it; this channel is told so someone can reach them.",
		Status:   fmt.Sprintf("Escalation tier %d at %s · decide by %s", ev.Tier, v.FormatTime(ev.At), v.FormatTime(r.PendingUntil)),
		Tone:     ToneWarning,
	}
}

// waitingNoticeCard tells the requester that their request's approvers
// were reminded, or that it was escalated.
func waitingNoticeCard(r *flows.Request, ev flows.Event, v Viewer) Card {
	c := Card{
		Subtitle: flows.DescribeAccess(r),
		Status:   "Still waiting for " + approvals(r.Quorum-len(r.Approvals)) + " · until " + v.FormatTime(r.PendingUntil),
		Actions:  []Button{{Label: "Cancel request", ActionID: Action{Kind: ActionCancel, RequestID: r.ID}.ID()}},
		Tone:     ToneInfo,
	}
	if ev.Type == flows.EventEscalated {
		c.Title = "Request " + string(r.ID) + " escalated"
		added := addedBy(r, ev.Tier)
		c.Text = "Nobody has decided yet, so more people may now approve it"
		if len(added) > 0 {
			c.Text += ": " + joinNames(added)
		}
		c.Text += "."
		return c
	}
	c.Title = "Request " + string(r.ID) + ": approvers reminded"
	c.Text = "Nobody has decided yet. jitbot reminded " + joinNames(r.AwaitingApprovalFrom()) + "."
	return c
}

// addedBy lists the approvers escalation tier n added, decided or not.
func addedBy(r *flows.Request, n int) []string {
	if n < 1 || n > len(r.Escalation) {
		return nil
	}
	return r.Escalation[n-1].Added
}

// escalationField says on an approval card how far the request has been
// escalated, so an approver who was not asked at first sees why they are.
func escalationField(r *flows.Request) (Field, bool) {
	if r.Tier == 0 {
		return Field{}, false
	}
	var tiers []string
	for i, st := range r.Escalation[:min(r.Tier, len(r.Escalation))] {
		tiers = append(tiers, fmt.Sprintf("tier %d: %s", i+1, orNone(strings.Join(st.Added, ", "))))
	}
	return Field{Label: "Escalated", Value: strings.Join(tiers, "; ")}, true
}

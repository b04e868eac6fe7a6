package flows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reminders and escalation: a pending request nobody answers (the most
// common failure of approval bots, at 3 a.m.) reminds its approvers every
// remind_after, and after each escalation tier's delay reaches more
// approvers, telling the requester each time and, where a tier names one, a
// channel (whose members are told, not made approvers). The pending TTL
// still ends the request.
//
// Everything is decided when the request is made: the tiers are resolved
// into people then, as the first approvers are, and kept on the request
// with their due times; DueAt includes the next of them, so the store's due
// index (big-endian time keys) finds it in O(due) and a kill -9 loses no
// reminder. The sweep commits what is due in one UpdateMany, and the outbox
// tells people: one coalesced reminder per approver, listing what waits for
// them.

// Events of reminders and escalation.
const (
	// EventApproversReminded: the approvers who have not decided on a
	// pending request were reminded (its Message names them).
	EventApproversReminded EventType = "approvers_reminded"
	// EventEscalated: a pending request reached another tier of approvers
	// (Event.Tier, from 1), who may now approve it.
	EventEscalated EventType = "escalated"
)

// EscalationSpec is one escalation tier as written: after how long (since
// the request was made) it is reached, who may approve from then on, and
// the channel told.
type EscalationSpec struct {
	After     string
	Approvers []string // owners, integration-owners, user:<email>, group:<name>
	Channel   string
}

// EscalationTier is a validated escalation tier.
type EscalationTier struct {
	After     time.Duration
	Approvers []Principal
	Channel   string
}

// EscalationStep is an escalation tier of one request: when it is due and
// the people it adds (the requester never among them).
type EscalationStep struct {
	At        time.Time
	Approvers []string
	Channel   string
	// Added are those of Approvers the tier made approvers when it was
	// reached (not approvers before it).
	Added []string
}

func cloneSteps(s []EscalationStep) []EscalationStep {
	if s == nil {
		return nil
	}
	out := make([]EscalationStep, len(s))
	for i, st := range s {
		st.Approvers, st.Added = slices.Clone(st.Approvers), slices.Clone(st.Added)
		out[i] = st
	}
	return out
}

// nextNudge is when the request next needs a reminder or an escalation;
// zero when neither is due any more.
func (r *Request) nextNudge() time.Time {
	next := r.RemindApproversAt
	if r.Tier < len(r.Escalation) {
		if at := r.Escalation[r.Tier].At; next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// NudgeDue reports whether a reminder or an escalation is due at now.
func (r *Request) NudgeDue(now time.Time) bool {
	at := r.nextNudge()
	return r.State == StatePending && !at.IsZero() && !now.Before(at) && now.Before(r.PendingUntil)
}

// Nudge does what is due at now: each escalation tier reached (after a
// long outage, several at once), or else a reminder of the approvers who
// have not decided. An escalation pushes the next reminder back a full
// period, since its new approvers have just been asked.
func (r *Request) Nudge(now time.Time) ([]Event, error) {
	if !r.NudgeDue(now) {
		return nil, Errorf(ECONFLICT, "no reminder or escalation is due for request %s", r.ID)
	}
	var evs []Event
	for r.Tier < len(r.Escalation) && !now.Before(r.Escalation[r.Tier].At) {
		evs = append(evs, r.escalate(now))
	}
	if len(evs) > 0 {
		if !r.RemindApproversAt.IsZero() {
			r.scheduleReminder(now)
		}
		return evs, nil
	}
	ev := r.event(EventApproversReminded, SystemActor, now, StatePending)
	ev.Message = "reminded " + strings.Join(r.AwaitingApprovalFrom(), ", ")
	r.scheduleReminder(now)
	return []Event{ev}, nil
}

// escalate reaches the next tier: its people join the approvers.
func (r *Request) escalate(now time.Time) Event {
	step := r.Escalation[r.Tier]
	r.Tier++
	var added []string
	for _, a := range step.Approvers {
		if a != r.Requester && !slices.Contains(r.Approvers, a) {
			added = append(added, a)
		}
	}
	r.Approvers = append(r.Approvers, added...)
	r.Escalation[r.Tier-1].Added = added
	ev := r.event(EventEscalated, SystemActor, now, StatePending)
	ev.Tier = r.Tier
	var msg []string
	if len(added) > 0 {
		msg = append(msg, "asked "+strings.Join(added, ", "))
	} else {
		msg = append(msg, "no new approvers")
	}
	if step.Channel != "" {
		msg = append(msg, "told "+step.Channel)
	}
	ev.Message = fmt.Sprintf("escalation tier %d: %s", r.Tier, strings.Join(msg, "; "))
	return ev
}

// scheduleReminder sets the next reminder of the approvers a period after
// now, or none when the request times out first.
func (r *Request) scheduleReminder(now time.Time) {
	r.RemindApproversAt = time.Time{}
	if at := now.Add(r.RemindApproversEvery); r.RemindApproversEvery > 0 && at.Before(r.PendingUntil) {
		r.RemindApproversAt = at
	}
}

// TierAdded lists the approvers that escalation tier n (from 1) added to
// the request who have not decided yet: those its approval cards go to.
func (r *Request) TierAdded(n int) []string {
	if n < 1 || n > r.Tier || n > len(r.Escalation) {
		return nil
	}
	awaiting := r.AwaitingApprovalFrom()
	var out []string
	for _, a := range r.Escalation[n-1].Added {
		if slices.Contains(awaiting, a) {
			out = append(out, a)
		}
	}
	return out
}

// planEscalation copies a flow's reminders and escalation onto a request
// made at now, its tiers resolved into people by resolve.
func (r *Request) planEscalation(f *Flow, now time.Time, resolve func([]Principal) []string) {
	r.RemindApproversEvery = f.RemindAfter
	if f.RemindAfter > 0 {
		r.RemindApproversAt = time.Time{}
		if at := now.Add(f.RemindAfter); at.Before(r.PendingUntil) {
			r.RemindApproversAt = at
		}
	}
	for _, t := range f.Escalation {
		r.Escalation = append(r.Escalation, EscalationStep{At: now.Add(t.After), Approvers: resolve(t.Approvers), Channel: t.Channel})
	}
}

// compileEscalation validates a flow's reminders and escalation tiers.
func (p *Policy) compileEscalation(v *validator, at string, fs FlowSpec, f *Flow) {
	if fs.RemindAfter != "" {
		d, err := ParseDuration(fs.RemindAfter)
		switch {
		case err != nil:
			v.add(at+".remind_after", "%s", ErrorMessage(err))
		case d >= f.PendingTTL:
			v.add(at+".remind_after", "%s is not shorter than pending_ttl %s: the request would time out before any reminder", FormatDuration(d), FormatDuration(f.PendingTTL))
		default:
			f.RemindAfter = d
		}
	}
	if fs.AutoApprove && (fs.RemindAfter != "" || len(fs.Escalation) > 0) {
		v.add(at+".auto_approve", "an auto-approved flow never waits for anyone: remove remind_after and escalation")
	}
	var last time.Duration
	for i, es := range fs.Escalation {
		path := fmt.Sprintf("%s.escalation[%d]", at, i)
		tier := EscalationTier{Channel: strings.TrimSpace(es.Channel)}
		switch d, err := ParseDuration(es.After); {
		case es.After == "":
			v.add(path+".after", "required: how long after the request was made this tier is reached, such as 30m")
		case err != nil:
			v.add(path+".after", "%s", ErrorMessage(err))
		case d <= last:
			v.add(path+".after", "%s is not after the tier before (%s): tiers are reached in order, each counted from when the request was made", FormatDuration(d), FormatDuration(last))
		case d >= f.PendingTTL:
			v.add(path+".after", "%s is not shorter than pending_ttl %s: the request would time out before this tier", FormatDuration(d), FormatDuration(f.PendingTTL))
		default:
			tier.After, last = d, d
		}
		if len(es.Approvers) == 0 && tier.Channel == "" {
			v.add(path, "name approvers, a channel, or both")
		}
		if strings.ContainsAny(tier.Channel, " \t\n") {
			v.add(path+".channel", "%q: a channel name (#dba-oncall) or id has no spaces", tier.Channel)
		}
		for j, a := range es.Approvers {
			switch a {
			case string(Owners):
				tier.Approvers = append(tier.Approvers, Principal{Kind: Owners})
				continue
			case string(IntegrationOwners):
				tier.Approvers = append(tier.Approvers, Principal{Kind: IntegrationOwners})
				continue
			}
			if pr, ok := p.parsePrincipal(v, fmt.Sprintf("%s.approvers[%d]", path, j), a); ok {
				tier.Approvers = append(tier.Approvers, pr)
			}
		}
		f.Escalation = append(f.Escalation, tier)
	}
}

// tierApprovers lists the principals of the tiers a request has reached,
// under f as the policy now says.
func (f *Flow) tierApprovers(reached int) []Principal {
	var out []Principal
	for i, t := range f.Escalation {
		if i >= reached {
			break
		}
		out = append(out, t.Approvers...)
	}
	return out
}

// DescribeEscalation says, for jitbot explain, how a flow reminds and
// escalates a request nobody decides on: one line each.
func DescribeEscalation(f *Flow) []string {
	var out []string
	if f.RemindAfter > 0 {
		out = append(out, "approvers who have not decided are reminded every "+FormatDuration(f.RemindAfter))
	}
	for i, t := range f.Escalation {
		var who []string
		for _, a := range t.Approvers {
			who = append(who, a.String())
		}
		line := fmt.Sprintf("escalation tier %d after %s:", i+1, FormatDuration(t.After))
		if len(who) > 0 {
			line += " " + strings.Join(who, ", ") + " may approve too"
		}
		if t.Channel != "" {
			if len(who) > 0 {
				line += ";"
			}
			line += " " + t.Channel + " is told"
		}
		out = append(out, line)
	}
	return out
}

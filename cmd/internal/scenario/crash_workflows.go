package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// The crash scenario's workflows (issue 17): scheduled starts and
// reminders with escalation tiers, under the same kills.
//
// Their due times are data on the request (a scheduled grant's
// provisioning time, ScheduledLead before its start; a pending request's
// next reminder and tier), found by the store's due index; a kill must
// lose none of them. The policy's least durations are minutes and the
// lead is 10 minutes, so, as the expiring grants are, they are seeded
// with jitbot down, due one after another from a few seconds into the
// runs (some while jitbot is down, caught up by the next start); and the
// bursts ask for access at a later minute now and then, approved (and so
// provisioned, the start being within the lead) like any other request.
//
// After every kill and at the end, with jitbot down, the store's audit
// trail of each says:
//   - no reminder lost: each reminder or escalation tier that came due
//     while jitbot ran at least a sweep tick and a round trip past
//     max(due, its start) was done by then (its audit event), not before
//     it was due, and each tier once; at the end, the requester was told of
//     each (a repeat only inside a send-to-commit window: chatlog.go);
//   - no scheduled start lost: each scheduled request approved ahead was
//     provisioned no more than ScheduledLead before its start and, once
//     its provisioning time was covered the same way, by then; it held
//     access from its start on (an active grant expires start + duration
//     + extensions: consistency), and once its end was covered, it ended.

// crashWorkflowFlows: escalation (a reminder after 1m, a tier after 2m,
// timed out after 3m: one reminder and one tier each) and nothing else
// new: scheduled requests go through the crash flow.
var crashWorkflowFlows = `  - name: crash-escalate
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/ops/*"]
    roles: [read]
    default_duration: 1m
    max_duration: 3m
    approvers: [` + rig.Olivia.Email + `]
    require_reason: true
    pending_ttl: 3m
    remind_after: 1m
    escalation:
      - after: 2m
        approvers: [` + rig.Dana.Email + `]
`

const (
	crashEscalations  = 8 // pending requests seeded with a reminder or a tier due during the runs
	crashScheduled    = 6 // approved scheduled requests seeded
	crashEscPrefix    = crashSeedPrefix + "esc"
	crashSchPrefix    = crashSeedPrefix + "sch"
	crashRemindAfter  = time.Minute
	crashTierAfter    = 2 * time.Minute
	crashEscalatedTTL = 3 * time.Minute
)

// seedWorkflows records, with jitbot down, pending requests of the
// escalation flow and approved scheduled requests of the crash flow.
//
// Escalations: the even ones' reminder is due 5s+4i into the runs (their
// tier a minute later); the odd ones were made a minute earlier, so their
// reminder came due while jitbot was down (the first start catches it
// up) and their tier is due 5s+4i in. Each request has approvers of its
// own (and a tier approver of its own): a reminder lists what waits for
// its approver, and two reminders of one approver listing the same
// requests would be the same message twice.
//
// Scheduled: the first half start 15s+8i into the runs, their lead passed
// while jitbot was down; the others' provisioning time (start - lead) is
// 8s+6i in, their start ten minutes later.
func (c *crashRun) seedWorkflows(ctx context.Context) error {
	db, err := store.Open(c.r.StorePath(), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	for i := range crashEscalations {
		created := now.Add(-crashRemindAfter + 5*time.Second + time.Duration(i)*4*time.Second)
		if i%2 == 1 {
			created = created.Add(-time.Minute)
		}
		id := flows.RequestID(fmt.Sprintf("%s%04d", crashEscPrefix, i))
		r := &flows.Request{
			ID: id, Requester: rig.Requester(i).Email, Kind: flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Minute,
			Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "ops", Collection: fmt.Sprintf("esc%d", i)},
			Reason:   "seeded escalation", Origin: "slack", Flow: "crash-escalate", Approvers: []string{rig.Requester(20 + i).Email},
			Quorum: 1, MaxDuration: 3 * time.Minute, DenyReasonRequired: true, State: flows.StatePending,
			CreatedAt: created, UpdatedAt: created, PendingUntil: created.Add(crashEscalatedTTL),
			RemindApproversEvery: crashRemindAfter, RemindApproversAt: created.Add(crashRemindAfter),
			Escalation: []flows.EscalationStep{{At: created.Add(crashTierAfter), Approvers: []string{rig.Requester(30 + i).Email}}},
		}
		ev := flows.Event{Type: flows.EventSubmitted, RequestID: id, Actor: r.Requester, At: created, To: flows.StatePending, Message: r.Reason, Duration: r.Duration}
		if _, _, err := db.Create(ctx, r, ev, ""); err != nil {
			return err
		}
	}
	for i := range crashScheduled {
		created := now.Add(-time.Minute)
		start := now.Add(15*time.Second + time.Duration(i)*8*time.Second)
		if i >= crashScheduled/2 {
			start = now.Add(flows.ScheduledLead + 8*time.Second + time.Duration(i)*6*time.Second)
		}
		start = start.Truncate(time.Second)
		until := created.Add(2 * time.Minute)
		if start.Before(until) {
			until = start // not approved by its start, it never starts
		}
		id := flows.RequestID(fmt.Sprintf("%s%04d", crashSchPrefix, i))
		r := &flows.Request{
			ID: id, Requester: rig.Requester(10 + i).Email, Kind: flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Minute,
			Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "sales", Collection: fmt.Sprintf("sch%d", i)},
			Reason:   "seeded scheduled", Origin: "slack", Flow: "crash", Approvers: []string{rig.Olivia.Email},
			Quorum: 1, MaxDuration: 3 * time.Minute, DenyReasonRequired: true, State: flows.StatePending, StartsAt: start,
			CreatedAt: created, UpdatedAt: created, PendingUntil: until,
		}
		ev := flows.Event{Type: flows.EventSubmitted, RequestID: id, Actor: r.Requester, At: created, To: flows.StatePending, Message: r.Reason, Duration: r.Duration}
		if _, _, err := db.Create(ctx, r, ev, ""); err != nil {
			return err
		}
		if _, err := db.Update(ctx, id, func(r *flows.Request) ([]flows.Event, error) {
			ev, err := r.Approve(rig.Olivia.Email, created)
			return []flows.Event{ev}, err
		}); err != nil {
			return err
		}
	}
	return nil
}

// submitScheduled asks, in Slack, for a database resource from a later
// minute (one to two minutes ahead), with a reason of its own.
func (c *crashRun) submitScheduled(ctx context.Context) (acked, error) {
	email, res := c.requester(false, crashResources[c.rng.IntN(len(crashResources))])
	a := acked{kind: ackSlash, marker: c.marker("SCHED"), who: email, run: c.res.Runs}
	start := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute)
	text := fmt.Sprintf("request %s read 1m at %s UTC %s", res, start.Format("2006-01-02T15:04"), a.marker)
	var err error
	a.answerURL, err = c.slashAt(ctx, c.people[email], text)
	if err == nil {
		a.at = time.Now()
		c.acked = append(c.acked, a)
		c.schedAsked[email+" "+res] = true
	}
	return a, err
}

// scheduledPending are the pending requests of views that may be
// scheduled ones the bursts asked for (by requester and resource).
func (c *crashRun) scheduledPending(pending []app.GrantView) []app.GrantView {
	var out []app.GrantView
	for _, v := range pending {
		if c.schedAsked[v.Requester+" "+v.Resource] {
			out = append(out, v)
		}
	}
	return out
}

// upWindows are the spans jitbot ran: from each start answering to the
// kill, or to the stop of a last start that left messages to send (or to
// stopped, for the last start).
func (c *crashRun) upWindows(stopped time.Time) [][2]time.Time {
	var out [][2]time.Time
	ends := append(slices.Clone(c.kills), c.stops...)
	for i, u := range c.ups {
		switch {
		case i < len(ends):
			out = append(out, [2]time.Time{u, ends[i]})
		case !stopped.IsZero():
			out = append(out, [2]time.Time{u, stopped})
		}
	}
	return out
}

// doneBy is when something due at due must have been done: a sweep tick
// and a round trip after jitbot was running at or after due, in a span
// long enough for that; zero when no span was.
func doneBy(due time.Time, ups [][2]time.Time) time.Time {
	for _, w := range ups {
		at := due
		if at.Before(w[0]) {
			at = w[0]
		}
		if by := at.Add(SweepTick + crashRoundTrip); !by.After(w[1]) {
			return by
		}
	}
	return time.Time{}
}

// leftPending is when r's trail left pending (zero: it has not).
func leftPending(evs []flows.Event) time.Time {
	for _, ev := range evs {
		if ev.Type != flows.EventSubmitted && ev.To != flows.StatePending {
			return ev.At
		}
	}
	return time.Time{}
}

// checkWorkflows checks the reminders and tiers, and the scheduled starts,
// against the audit trails (see the top of this file).
func (c *crashRun) checkWorkflows(rs []*flows.Request, events map[string][]flows.Event, final bool, stopped time.Time) {
	ups := c.upWindows(stopped)
	// What was checked is counted once, at the end; what was lost, at every check.
	nudges, starts := c.res.Nudges, c.res.Starts
	defer func() {
		if !final {
			c.res.Nudges, c.res.Starts = nudges, starts
		}
	}()
	for _, r := range rs {
		evs := events[string(r.ID)]
		if r.RemindApproversEvery > 0 || len(r.Escalation) > 0 {
			c.checkNudges(r, evs, ups, final)
		}
		if r.Scheduled() {
			c.checkStart(r, evs, ups)
		}
	}
}

// checkNudges replays the reminders and tiers r's flow planned against
// what its trail says was done.
func (c *crashRun) checkNudges(r *flows.Request, evs []flows.Event, ups [][2]time.Time, final bool) {
	const early = time.Millisecond // the event's time is the sweep's
	var nudges []flows.Event
	for _, ev := range evs {
		if ev.Type == flows.EventApproversReminded || ev.Type == flows.EventEscalated {
			nudges = append(nudges, ev)
		}
	}
	left := leftPending(evs)
	remindAt, tier := time.Time{}, 0
	if r.RemindApproversEvery > 0 {
		remindAt = r.CreatedAt.Add(r.RemindApproversEvery)
	}
	schedule := func(now time.Time) {
		remindAt = time.Time{}
		if at := now.Add(r.RemindApproversEvery); r.RemindApproversEvery > 0 && at.Before(r.PendingUntil) {
			remindAt = at
		}
	}
	for j := 0; ; j++ {
		// The earliest of the next reminder and the next tier is due first.
		due, isTier := remindAt, false
		if tier < len(r.Escalation) && (due.IsZero() || !r.Escalation[tier].At.After(due)) {
			due, isTier = r.Escalation[tier].At, true
		}
		if due.IsZero() || !due.Before(r.PendingUntil) {
			if j < len(nudges) {
				c.res.ExtraNudges++
				c.problem("request %s: %s at %s, when nothing was due", r.ID, nudges[j].Type, nudges[j].At.Format(time.RFC3339Nano))
			}
			return
		}
		by := doneBy(due, ups)
		if j >= len(nudges) {
			if !by.IsZero() && (left.IsZero() || left.After(by)) {
				c.res.LostNudges++
				c.problem("request %s: its %s due %s was not done by %s (jitbot ran)", r.ID, nudgeName(isTier), due.Format(time.RFC3339Nano), by.Format(time.RFC3339Nano))
			}
			return
		}
		ev := nudges[j]
		c.res.Nudges++
		// What the sweep does at ev.At: every tier due then (a reminder due
		// as well is not sent: the tier asked its people), or else a reminder.
		tierDue := tier < len(r.Escalation) && !ev.At.Before(r.Escalation[tier].At)
		switch {
		case ev.At.Before(due.Add(-early)):
			c.problem("request %s: %s at %s, before it was due (%s)", r.ID, ev.Type, ev.At.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
		case !by.IsZero() && ev.At.After(by):
			c.res.LostNudges++
			c.problem("request %s: its %s due %s was done only at %s, after %s (jitbot ran)", r.ID, nudgeName(isTier), due.Format(time.RFC3339Nano), ev.At.Format(time.RFC3339Nano), by.Format(time.RFC3339Nano))
		case tierDue != (ev.Type == flows.EventEscalated) || tierDue && ev.Tier != tier+1:
			c.problem("request %s: %s (tier %d) at %s where its %s was due", r.ID, ev.Type, ev.Tier, ev.At.Format(time.RFC3339Nano), nudgeName(tierDue))
		}
		if final {
			c.toldOfNudge(r, ev)
		}
		if ev.Type == flows.EventEscalated {
			tier++
			if !remindAt.IsZero() {
				schedule(ev.At)
			}
			continue
		}
		schedule(ev.At)
	}
}

func nudgeName(tier bool) string {
	if tier {
		return "escalation tier"
	}
	return "reminder"
}

// toldOfNudge checks, at the end, that the requester was told of a
// reminder or a tier (the approvers' own messages are coalesced or skipped
// once nothing waits for them).
func (c *crashRun) toldOfNudge(r *flows.Request, ev flows.Event) {
	want := "Request " + string(r.ID) + ": approvers reminded"
	if ev.Type == flows.EventEscalated {
		want = "Request " + string(r.ID) + " escalated"
	}
	if _, ok := c.chat.find(c.convOf(r), want); !ok {
		c.res.LostMessages++
		c.problem("lost message: %s was never told %q", r.Requester, want)
	}
}

// checkStart checks a scheduled request's start against its trail.
func (c *crashRun) checkStart(r *flows.Request, evs []flows.Event, ups [][2]time.Time) {
	var approved, provisioning, activated, ended time.Time
	for _, ev := range evs {
		switch {
		case (ev.Type == flows.EventApproved || ev.Type == flows.EventAutoApproved) && ev.To == flows.StateApproved && approved.IsZero():
			approved = ev.At
		case ev.Type == flows.EventProvisioning && provisioning.IsZero():
			provisioning = ev.At
		case ev.Type == flows.EventActivated && activated.IsZero():
			activated = ev.At
		case ev.To.Terminal() || ev.To == flows.StateRevoking:
			if ended.IsZero() {
				ended = ev.At
			}
		}
	}
	if approved.IsZero() {
		return // never approved: nothing to start
	}
	c.res.Starts++
	lead := r.StartsAt.Add(-flows.ScheduledLead)
	if !provisioning.IsZero() && provisioning.Before(lead) {
		c.problem("scheduled request %s: provisioned at %s, more than %s before its start %s", r.ID, provisioning.Format(time.RFC3339Nano), flows.FormatDuration(flows.ScheduledLead), r.StartsAt.Format(time.RFC3339Nano))
	}
	due := lead
	if approved.After(due) {
		due = approved
	}
	if by := doneBy(due, ups); !by.IsZero() && (ended.IsZero() || ended.After(by)) && (provisioning.IsZero() || provisioning.After(by)) {
		c.res.LostStarts++
		c.problem("scheduled request %s: approved at %s, due to be provisioned at %s, not by %s (jitbot ran)", r.ID, approved.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano), by.Format(time.RFC3339Nano))
	}
	// Active from its start: provisioned (and applied) by the start, or by
	// the tick after jitbot came up past it.
	if by := doneBy(r.StartsAt, ups); !by.IsZero() && (ended.IsZero() || ended.After(by)) && (activated.IsZero() || activated.After(by)) {
		c.res.LostStarts++
		c.problem("scheduled request %s: not active by %s, its start %s (jitbot ran)", r.ID, by.Format(time.RFC3339Nano), r.StartsAt.Format(time.RFC3339Nano))
	}
	if !activated.IsZero() && !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(r.StartsAt.Add(r.Duration)) {
		c.problem("scheduled request %s: expires %s, before its start + duration", r.ID, r.ExpiresAt.Format(time.RFC3339Nano))
	}
	// Ended on time: once its end was covered, the trail ended it.
	if !activated.IsZero() && !r.ExpiresAt.IsZero() {
		if by := doneBy(r.ExpiresAt, ups); !by.IsZero() && (ended.IsZero() || ended.After(by)) {
			c.res.LostStarts++
			c.problem("scheduled request %s: due to end at %s, not ended by %s (jitbot ran)", r.ID, r.ExpiresAt.Format(time.RFC3339Nano), by.Format(time.RFC3339Nano))
		}
	}
}

// cardForApprover says whether one of r's approvers (other than olivia:
// the seeded escalations have their own) holds a card on which they can
// approve r.
func (c *crashRun) cardForApprover(r *flows.Request) bool {
	for _, a := range r.Approvers {
		u, ok := c.people[a]
		if !ok || a == rig.Olivia.Email {
			continue
		}
		for _, m := range c.r.Slack.DMs(u.ID) {
			if _, ok := rig.Button(m, "approve:"+string(r.ID)); ok {
				return true
			}
		}
	}
	return false
}

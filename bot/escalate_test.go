package bot_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// escalate puts in force a policy whose flow reminds its approvers (bob
// and carol, the dba group that owns Cluster0) after 10m and escalates to
// dave, telling #dba-oncall, after 20m.
func (w *dworld) escalate() {
	w.t.Helper()
	policy, err := flows.Compile(flows.PolicySpec{
		Admins: []string{dave},
		Groups: map[string][]string{"dba": {bob, carol}},
		Integrations: []flows.IntegrationSpec{{
			Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
		}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read"}, DefaultDuration: "1h", MaxDuration: "8h", Approvers: []string{"owners"},
			Approvals: 1, PendingTTL: "1h", RemindAfter: "10m",
			Escalation: []flows.EscalationSpec{{After: "20m", Approvers: []string{"user:" + dave}, Channel: "#dba-oncall"}},
		}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.svc.SetPolicy(policy); err != nil {
		w.t.Fatal(err)
	}
}

func (w *dworld) sweepAt(at time.Time) flows.SweepReport {
	w.t.Helper()
	w.clock.Set(at)
	rep, err := w.svc.Sweep(w.ctx, at)
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

// TestDispatchRemindersCoalescePerApprover: three requests due for a
// reminder at once give each approver one reminder per platform, listing
// all three; the requesters hear that their approvers were reminded.
func TestDispatchRemindersCoalescePerApprover(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	w.escalate()
	const erin = "erin@example.com"
	w.slack.Add(erin, nil)
	rs := []*flows.Request{w.askAs(alice, "slack"), w.askAs(dave, "slack"), w.askAs(erin, "slack")}
	w.expand()
	w.deliver()
	w.newOps()

	if rep := w.sweepAt(flowstest.T0.Add(10 * time.Minute)); rep.Nudged != 3 {
		t.Fatalf("reminders: %+v", rep)
	}
	w.expand()
	var nudges []string
	for _, d := range w.pending() {
		if d.What == "nudge" {
			nudges = append(nudges, d.Conversation)
		}
	}
	slices.Sort(nudges)
	want := []string{"slack:dm:bob@example.com", "slack:dm:carol@example.com", "teams:dm:bob@example.com", "teams:dm:carol@example.com"}
	if !slices.Equal(nudges, want) {
		t.Fatalf("reminder deliveries %v, want one per approver per platform %v", nudges, want)
	}
	// One of the three is decided before the reminders go: it is left out.
	w.approve(rs[2].ID, carol)
	w.expand()
	w.deliver()
	for _, m := range [][]string{{"slack", bob}, {"teams", bob}, {"teams", carol}} {
		p := w.slack
		if m[0] == "teams" {
			p = w.teams
		}
		var got []bot.Card
		for _, msg := range p.To(m[1]) {
			if strings.HasPrefix(msg.Card.Title, "Reminder") {
				got = append(got, msg.Card)
			}
		}
		if len(got) != 1 || !strings.Contains(got[0].Title, "2 requests") || len(got[0].Actions) != 4 {
			t.Fatalf("%s reminders to %s: %+v", m[0], m[1], got)
		}
		if !strings.Contains(got[0].String(), string(rs[0].ID)) || strings.Contains(got[0].String(), string(rs[2].ID)) {
			t.Fatalf("%s reminder to %s lists the wrong requests: %s", m[0], m[1], got[0])
		}
	}
	told := 0
	for _, msg := range w.slack.To(alice) {
		if strings.Contains(msg.Card.Title, "approvers reminded") {
			told++
		}
	}
	if told != 1 || len(w.teams.To(alice)) != 0 {
		t.Fatalf("the requester was told %d times on slack, %d on teams", told, len(w.teams.To(alice)))
	}
}

// TestDispatchEscalation: an escalation sends the new approver their card
// (not the approvers asked before), a notice without buttons to the tier's
// channel on the platforms that post to channels, updates the cards sent,
// and tells the requester; the escalated approver's click approves.
func TestDispatchEscalation(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	w.escalate()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.newOps()

	w.sweepAt(flowstest.T0.Add(20 * time.Minute))
	w.expand()
	w.deliver()
	ops := w.newOps()
	for _, want := range []string{"send dave@example.com", "post #dba-oncall", "send alice@example.com", "update bob@example.com"} {
		if !slices.Contains(ops, want) {
			t.Fatalf("ops %v, want %q among them", ops, want)
		}
	}
	for _, op := range ops {
		if strings.HasPrefix(op, "send bob") || strings.HasPrefix(op, "send carol") {
			t.Fatalf("an approver asked before got another message: %v", ops)
		}
	}
	notice := w.slack.To("#dba-oncall")
	if len(notice) != 1 || len(notice[0].Card.Actions) != 0 || !strings.Contains(notice[0].Card.Title, "Escalated") {
		t.Fatalf("channel notice: %+v", notice)
	}
	card := w.slack.To(dave)
	if len(card) != 1 || len(card[0].Card.Actions) != 2 || !strings.Contains(card[0].Card.String(), "Escalated: tier 1: dave@example.com") {
		t.Fatalf("dave's card: %+v", card)
	}
	w.approve(r.ID, dave)
	if got, _ := w.store.Get(w.ctx, r.ID); got.State != flows.StateActive {
		t.Fatalf("after dave's approval: %s", got.State)
	}
}

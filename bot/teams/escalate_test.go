package teams

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// escalate puts in force the test policy with reminders after 10m and an
// escalation to carol, telling #dba-oncall, after 20m.
func (h *harness) escalate() {
	h.t.Helper()
	p, err := flows.Compile(flows.PolicySpec{
		Admins: []string{"admin@example.com"},
		Groups: map[string][]string{"dba": {"owner@example.com", "carol@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/*"},
			Roles: []string{"read"}, MaxDuration: "8h", Approvers: []string{"owners"}, RequireReason: true, PendingTTL: "1h",
			RemindAfter: "10m",
			Escalation:  []flows.EscalationSpec{{After: "20m", Approvers: []string{"user:carol@example.com"}, Channel: "#dba-oncall"}},
		}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.svc.SetPolicy(p); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) sweepAt(at time.Time) flows.SweepReport {
	h.t.Helper()
	h.clock.Set(at)
	rep, err := h.svc.Sweep(h.ctx, at)
	if err != nil {
		h.t.Fatal(err)
	}
	h.settle()
	return rep
}

// TestEscalationJourney: on Teams, the owner is reminded with buttons,
// carol gets her approval card when the request escalates (Teams posts to
// no channel, so #dba-oncall is Slack's alone), alice hears of each step,
// and carol's Approve on her card grants the access.
func TestEscalationJourney(t *testing.T) {
	h := newHarness(t)
	h.escalate()
	h.install(owner, ownerConv)
	h.install(carol, carolConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-123")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if len(h.sentWith(carolConv, "Access request")) != 0 {
		t.Fatal("carol was asked before the escalation")
	}

	h.sweepAt(t0.Add(10 * time.Minute))
	reminders := h.sentWith(ownerConv, "Reminder: a request waits for your decision")
	if len(reminders) != 1 || !strings.Contains(cardText(reminders[0].Cards()[0]), string(r.ID)) {
		t.Fatalf("owner's reminders: %d", len(reminders))
	}
	if titles := actionTitles(reminders[0].Cards()[0]); len(titles) == 0 || titles[0] != "Approve "+string(r.ID) {
		t.Fatalf("reminder actions: %v", titles)
	}
	if len(h.sentWith(aliceConv, "approvers reminded")) != 1 {
		t.Fatal("alice not told of the reminder")
	}

	h.sweepAt(t0.Add(20 * time.Minute))
	cardAct, card := h.last(carolConv)
	if text := cardText(card); !strings.Contains(text, "Access request "+string(r.ID)) || !strings.Contains(text, "tier 1: carol@example.com") {
		t.Fatalf("carol's card:\n%s", text)
	}
	if len(h.sentWith(aliceConv, "escalated")) != 1 {
		t.Fatal("alice not told of the escalation")
	}
	h.click(carol, carolConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	if r = h.request(string(r.ID)); r.State != flows.StateActive || r.Approvals[0].By != "carol@example.com" || r.Tier != 1 {
		t.Fatalf("after carol's approval: %s %+v tier %d", r.State, r.Approvals, r.Tier)
	}
}

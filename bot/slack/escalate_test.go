package slack

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// withEscalation reminds the approvers after 10m and escalates to carol,
// telling #dba-oncall, after 20m.
func withEscalation() option {
	return func(s *setup) {
		s.spec.Flows[0].RemindAfter = "10m"
		s.spec.Flows[0].Escalation = []flows.EscalationSpec{{After: "20m", Approvers: []string{"user:carol@example.com"}, Channel: "#dba-oncall"}}
	}
}

// TestEscalationJourney: nobody answers alice's request, so bob is
// reminded (with buttons), then carol is asked and #dba-oncall told (no
// buttons); alice hears of each step; carol's click on her card approves,
// and bob's card shows it.
func TestEscalationJourney(t *testing.T) {
	h := newHarness(t, withEscalation())
	h.slack.AddChannel("CONCALL", "#dba-oncall")
	h.slash(alice, `request prod/Cluster0/sales read 2h "INC-9"`)
	r := h.only("alice@example.com")
	bobCard := h.lastDM(bob)
	if len(h.dms(carol)) != 0 {
		t.Fatal("carol was asked before the escalation")
	}

	h.sweepAt(t0.Add(10 * time.Minute))
	reminder := h.lastDM(bob)
	if reminder.TS == bobCard.TS || !strings.Contains(reminder.AllText(), "Reminder: a request waits for your decision") ||
		!strings.Contains(strings.Join(actionIDs(reminder), " "), "approve:"+string(r.ID)) {
		t.Fatalf("bob's reminder: %v\n%s", actionIDs(reminder), reminder.AllText())
	}
	if m := h.lastDM(alice); !strings.Contains(m.AllText(), "approvers reminded") {
		t.Fatalf("alice not told of the reminder:\n%s", m.AllText())
	}

	h.sweepAt(t0.Add(20 * time.Minute))
	carolCard := h.lastDM(carol)
	if len(carolCard.Buttons()) != 2 || !strings.Contains(carolCard.AllText(), "tier 1: carol@example.com") {
		t.Fatalf("carol's card: %v\n%s", actionIDs(carolCard), carolCard.AllText())
	}
	notice := h.channelMessages("CONCALL")
	if len(notice) != 1 || len(notice[0].Buttons()) != 0 || !strings.Contains(notice[0].AllText(), "Escalated") {
		t.Fatalf("#dba-oncall: %+v", notice)
	}
	if m := h.lastDM(alice); !strings.Contains(m.AllText(), "escalated") || !strings.Contains(m.AllText(), "carol@example.com") {
		t.Fatalf("alice not told of the escalation:\n%s", m.AllText())
	}
	if m, _ := h.message(bobCard.Channel, bobCard.TS); !strings.Contains(m.AllText(), "carol@example.com") {
		t.Fatalf("bob's card does not show the escalation:\n%s", m.AllText())
	}

	// Eve, who is in no tier, is refused; carol approves from her card.
	h.click(eve, carolCard, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StatePending {
		t.Fatalf("eve's click made it %s", s)
	}
	h.click(carol, carolCard, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("carol's approval made it %s", s)
	}
	if m, _ := h.message(bobCard.Channel, bobCard.TS); len(m.Buttons()) != 0 || !strings.Contains(m.AllText(), "Approved by carol@example.com") {
		t.Fatalf("bob's card after carol's approval:\n%s", m.AllText())
	}
	var events []flows.EventType
	for _, ev := range h.store.Events() {
		if ev.RequestID == r.ID {
			events = append(events, ev.Type)
		}
	}
	want := []flows.EventType{flows.EventSubmitted, flows.EventApproversReminded, flows.EventEscalated, flows.EventApproved}
	if got := events[:min(len(events), len(want))]; !slices.Equal(got, want) {
		t.Fatalf("audit: %v, want it to begin %v", events, want)
	}
	h.noViolations()
}

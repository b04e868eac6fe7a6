package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestScheduledJourney: a request for later, over the real handlers. The
// approver sees the window and approves ahead; nothing is made in Atlas
// until 10 minutes before the start, when the credentials arrive; the
// grant ends the duration after the start. Another, cancelled before its
// start, leaves nothing in Atlas.
func TestScheduledJourney(t *testing.T) {
	h := newHarness(t)
	start := h.clock.Now().Add(26 * time.Hour).Truncate(time.Hour).UTC()
	_, ru := h.slash(alice, `request prod/Cluster0/sales/orders read 1h at `+start.Format("2006-01-02T15:04")+` UTC "maintenance"`)
	r := h.only("alice@example.com")
	if !r.StartsAt.Equal(start) || r.State != flows.StatePending {
		t.Fatalf("request %+v", r)
	}
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "Window") {
		t.Errorf("requester's card lacks the window:\n%s", out.AllText())
	}
	card := h.lastDM(bob)
	if !strings.Contains(card.AllText(), "Window") || !strings.Contains(card.AllText(), "maintenance") {
		t.Fatalf("approver's card lacks the window:\n%s", card.AllText())
	}
	h.click(bob, card, "approve:"+string(r.ID))
	r = h.get(string(r.ID))
	if r.State != flows.StateApproved || h.prov.Count("create") != 0 || len(h.dms(alice)) != 0 {
		t.Fatalf("after approval ahead: %s, %d creates, %d DMs to alice", r.State, h.prov.Count("create"), len(h.dms(alice)))
	}
	h.sweepAt(start.Add(-11 * time.Minute))
	if h.prov.Count("create") != 0 {
		t.Fatal("provisioned more than 10 minutes before the start")
	}
	h.sweepAt(start.Add(-10 * time.Minute))
	r = h.get(string(r.ID))
	if r.State != flows.StateActive || !r.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("at the lead: %s, expires %v", r.State, r.ExpiresAt)
	}
	if creds := h.lastDM(alice); !strings.Contains(string(creds.BlocksJSON), "pw-"+r.Principal) {
		t.Fatalf("no credentials:\n%s", creds.AllText())
	}
	h.sweepAt(start.Add(time.Hour))
	if r = h.get(string(r.ID)); r.State != flows.StateExpired || h.prov.Count("delete") != 1 {
		t.Fatalf("after the window: %s, %d deletes", r.State, h.prov.Count("delete"))
	}

	// Cancelled before its start: nothing reaches Atlas.
	later := start.Add(48 * time.Hour)
	h.slash(carol, `request prod/Cluster0/sales/orders read 1h at `+later.Format("2006-01-02T15:04")+` UTC "later"`)
	c := h.only("carol@example.com")
	h.click(bob, h.lastDM(bob), "approve:"+string(c.ID))
	h.slash(carol, "cancel "+string(c.ID))
	if c = h.get(string(c.ID)); c.State != flows.StateCancelled {
		t.Fatalf("cancelled: %s", c.State)
	}
	h.sweepAt(later)
	if h.prov.Count("create") != 1 {
		t.Fatalf("creates %d, want only the first request's", h.prov.Count("create"))
	}
	h.noViolations()
}

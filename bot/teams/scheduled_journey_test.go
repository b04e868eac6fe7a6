package teams

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestScheduledJourneyInTeams: a request for later, through the Teams
// handler. The approver's card shows the window and is approved ahead;
// nothing reaches Atlas until 10 minutes before the start, when the
// credentials arrive; the grant ends the duration after the start (not
// after the approval). Another, approved and cancelled before its start,
// leaves nothing in Atlas.
func TestScheduledJourneyInTeams(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	sweepAt := func(at time.Time) {
		t.Helper()
		h.clock.Set(at)
		if _, err := h.svc.Sweep(h.ctx, at); err != nil {
			t.Fatal(err)
		}
		h.settle()
	}
	start := h.clock.Now().Add(26 * time.Hour).Truncate(time.Hour).UTC()
	h.say(alice, aliceConv, `access request `+orders+` read 1h at `+start.Format("2006-01-02T15:04")+` UTC "maintenance"`)
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if !r.StartsAt.Equal(start) || r.State != flows.StatePending {
		t.Fatalf("request %+v", r)
	}
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "Window") {
		t.Errorf("requester's card lacks the window:\n%s", cardText(c))
	}
	cardAct, card := h.last(ownerConv)
	if text := cardText(card); !strings.Contains(text, "Window") || !strings.Contains(text, "maintenance") || !strings.Contains(text, start.Format("15:04")) {
		t.Fatalf("approver's card lacks the window:\n%s", text)
	}
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	r = h.request(string(r.ID))
	if r.State != flows.StateApproved || h.prov.Count("create") != 0 || len(h.sentWith(aliceConv, "Access granted")) != 0 {
		t.Fatalf("after approval ahead: %s, %d creates", r.State, h.prov.Count("create"))
	}

	sweepAt(start.Add(-11 * time.Minute))
	if h.prov.Count("create") != 0 || h.request(string(r.ID)).State != flows.StateApproved {
		t.Fatal("provisioned more than 10 minutes before the start")
	}
	sweepAt(start.Add(-10 * time.Minute))
	r = h.request(string(r.ID))
	if r.State != flows.StateActive || !r.ExpiresAt.Equal(start.Add(time.Hour)) || h.prov.Count("create") != 1 {
		t.Fatalf("at the lead: %s, expires %v, %d creates", r.State, r.ExpiresAt, h.prov.Count("create"))
	}
	creds := h.sentWith(aliceConv, "Access granted")
	if len(creds) != 1 || !strings.Contains(cardText(creds[0].Cards()[0]), "pw-"+r.Principal) {
		t.Fatalf("credentials messages: %d", len(creds))
	}
	sweepAt(start.Add(time.Hour - time.Minute)) // a sweep revokes what expires before the next one (5s)
	if h.request(string(r.ID)).State != flows.StateActive || h.prov.Count("delete") != 0 {
		t.Fatal("ended before its window closed")
	}
	sweepAt(start.Add(time.Hour))
	if r = h.request(string(r.ID)); r.State != flows.StateExpired || h.prov.Count("delete") != 1 {
		t.Fatalf("after the window: %s, %d deletes", r.State, h.prov.Count("delete"))
	}

	// Approved ahead, cancelled before its start: nothing reaches Atlas.
	later := start.Add(48 * time.Hour)
	h.say(alice, aliceConv, `access request `+invoices+` read 1h at `+later.Format("2006-01-02T15:04")+` UTC "later"`)
	var c *flows.Request
	rs, _ := h.svc.Mine(h.ctx, "alice@example.com")
	for _, x := range rs {
		if x.StartsAt.Equal(later) {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("no scheduled request for %v in %d", later, len(rs))
	}
	act, cc := h.last(ownerConv)
	h.click(owner, ownerConv, act.ActivityID, submitData(t, cc, "Approve"))
	if c = h.request(string(c.ID)); c.State != flows.StateApproved {
		t.Fatalf("approved ahead: %s", c.State)
	}
	h.say(alice, aliceConv, "access cancel "+string(c.ID))
	if c = h.request(string(c.ID)); c.State != flows.StateCancelled {
		t.Fatalf("cancelled: %s", c.State)
	}
	sweepAt(later.Add(-10 * time.Minute))
	sweepAt(later)
	if h.prov.Count("create") != 1 || h.prov.Count("delete") != 1 {
		t.Fatalf("creates %d deletes %d, want only the first request's", h.prov.Count("create"), h.prov.Count("delete"))
	}
}

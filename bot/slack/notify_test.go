package slack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func (h *harness) submit(requester, resource, origin string) *flows.Request {
	h.t.Helper()
	res, err := flows.ParseResource(resource)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := h.svc.Submit(h.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1", Origin: origin})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// A request made in Teams: Slack approvers get their cards, but everything
// private to the requester (credentials first) is left to the Teams adapter.
func TestTeamsRequestsStayPrivateToTeams(t *testing.T) {
	h := newHarness(t)
	r := h.submit("alice@example.com", "prod/Cluster0/sales/orders", "teams")
	card := h.lastDM(bob)
	h.click(bob, card, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("state %s", s)
	}
	if dms := h.dms(alice); len(dms) != 0 {
		t.Errorf("the Teams requester got %d Slack DMs", len(dms))
	}
	for _, m := range h.messages() {
		if strings.Contains(string(m.BlocksJSON), "pw-") {
			t.Errorf("credentials of a Teams request went to %s", m.Channel)
		}
	}
	// The approver's card still tracks the request.
	card, _ = h.message(card.Channel, card.TS)
	if len(card.Buttons()) != 0 || !strings.Contains(card.AllText(), "access active until") {
		t.Errorf("card:\n%s", card.AllText())
	}
	// And the service did not record a delivery failure.
	for _, ev := range h.store.Events() {
		if ev.Type == flows.EventCredentialsUndelivered {
			t.Error("a Teams request's credentials were reported undelivered by Slack")
		}
	}
}

// A Slack request whose requester left the workspace: the credentials cannot
// be delivered, flows records it, and the admin is alerted by DM.
func TestUndeliverableCredentialsAlertAdmins(t *testing.T) {
	h := newHarness(t)
	r := h.submit("frank@example.com", "prod/Cluster0/sales/orders", "slack")
	h.click(bob, h.lastDM(bob), "approve:"+string(r.ID))
	var undelivered bool
	for _, ev := range h.store.Events() {
		undelivered = undelivered || ev.Type == flows.EventCredentialsUndelivered && strings.Contains(ev.Message, "frank@example.com")
	}
	if !undelivered {
		t.Fatal("no credentials_undelivered event")
	}
	alert := h.lastDM(dave)
	if text := alert.AllText(); !strings.Contains(text, "Credentials not delivered: request "+string(r.ID)) || !strings.Contains(text, "rotate "+string(r.ID)) {
		t.Errorf("admin alert:\n%s", text)
	}
	if strings.Contains(string(alert.BlocksJSON), "pw-") {
		t.Error("the alert carries the password")
	}
}

// Admin alerts reach admins whatever the request's origin; requesters of
// Teams requests are left to Teams.
func TestRevokeFailedAlertsAdmins(t *testing.T) {
	h := newHarness(t)
	r := h.submit("alice@example.com", "prod/Cluster0/sales/orders", "teams")
	h.click(bob, h.lastDM(bob), "approve:"+string(r.ID))
	h.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "delete" {
			return flows.Errorf(flows.EUNAVAILABLE, "Atlas is down")
		}
		return nil
	}
	r = h.get(string(r.ID))
	at := r.ExpiresAt
	for i := 0; i < 7 && h.get(string(r.ID)).State != flows.StateRevokeFailed; i++ {
		h.sweepAt(at)
		at = h.get(string(r.ID)).NextAttemptAt.Add(time.Second)
	}
	if s := h.get(string(r.ID)).State; s != flows.StateRevokeFailed {
		t.Fatalf("state %s", s)
	}
	alert := h.lastDM(dave)
	if text := alert.AllText(); !strings.Contains(text, "Could not remove access: request "+string(r.ID)) || !strings.Contains(text, "Atlas is down") {
		t.Errorf("admin alert:\n%s", text)
	}
	if len(h.dms(alice)) != 0 {
		t.Error("the Teams requester got a Slack DM")
	}
	card := h.dms(bob)[0]
	card, _ = h.message(card.Channel, card.TS)
	if !strings.Contains(card.AllText(), "Atlas has not confirmed the removal yet") {
		t.Errorf("card:\n%s", card.AllText())
	}
}

// Orphans found by reconcile belong to no request: admins are told.
func TestOrphanAlert(t *testing.T) {
	h := newHarness(t)
	h.prov.AddUser(flows.Grant{RequestID: "gone123456", Integration: "prod", Principal: "jit-x-gone123456"})
	if _, err := h.svc.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	if text := h.lastDM(dave).AllText(); !strings.Contains(text, "Deleted an orphaned Atlas user") || !strings.Contains(text, "jit-x-gone123456") {
		t.Errorf("orphan alert:\n%s", text)
	}
}

// Pacing: three posts to one channel in a burst reach Slack a second apart
// (on the injected clock), and Slack records no breach.
func TestPacing(t *testing.T) {
	clock := flowstest.NewClock(t0)
	h := newHarness(t, withPacing(time.Second), func(s *setup) {
		s.slackOpts = []slacktest.Option{slacktest.WithClock(clock)}
		s.cfg = func(c *Config) { c.Clock = clock }
	})
	h.bot.sleep = func(ctx context.Context, d time.Duration) error {
		clock.Advance(d)
		return nil
	}
	for i := range 3 {
		if _, _, err := h.bot.dm(h.ctx, h.bot.callNow, bob.ID, cardTitled("message "+string(rune('A'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	posts := h.slack.CallsTo("chat.postMessage")
	if len(posts) != 3 {
		t.Fatalf("%d posts", len(posts))
	}
	for i := 1; i < len(posts); i++ {
		if gap := posts[i].Time.Sub(posts[i-1].Time); gap < time.Second {
			t.Errorf("posts %d and %d %s apart", i-1, i, gap)
		}
	}
	// Another channel is not held up.
	before := clock.Now()
	if _, _, err := h.bot.dm(h.ctx, h.bot.callNow, carol.ID, cardTitled("elsewhere")); err != nil {
		t.Fatal(err)
	}
	if clock.Now() != before {
		t.Error("a post to another channel waited")
	}
	h.noViolations()
}

func cardTitled(title string) bot.Card { return bot.Card{Title: title} }

// Nobody decides: the requester is told and the cards lose their buttons.
func TestTimeout(t *testing.T) {
	h := newHarness(t, withChannel("#db-access"))
	r := h.submit("alice@example.com", "prod/Cluster0/sales/orders", "slack")
	h.sweepAt(r.PendingUntil)
	if s := h.get(string(r.ID)).State; s != flows.StateTimedOut {
		t.Fatalf("state %s", s)
	}
	if text := h.lastDM(alice).AllText(); !strings.Contains(text, "Request "+string(r.ID)+" timed out") {
		t.Errorf("requester told:\n%s", text)
	}
	for _, m := range append(h.dms(bob), h.channelMessages("CAPPROVALS")...) {
		m, _ = h.message(m.Channel, m.TS)
		if len(m.Buttons()) != 0 || !strings.Contains(m.AllText(), "Timed out at") {
			t.Errorf("card in %s:\n%s", m.Channel, m.AllText())
		}
	}
}

// An extension that waits when the grant ends: its card stops offering
// buttons, once; a decided extension's card keeps its outcome.
func TestExtensionCardsCloseWithTheGrant(t *testing.T) {
	h := newHarness(t, withExtendApproval())
	r := h.submit("alice@example.com", "prod/Cluster0/sales/orders", "slack")
	h.click(bob, h.lastDM(bob), "approve:"+string(r.ID))
	if _, err := h.svc.Extend(h.ctx, r.ID, "alice@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}
	first := h.lastDM(bob)
	if _, err := h.svc.Decide(h.ctx, flows.DecideInput{RequestID: r.ID, Actor: "bob@example.com", Approve: false, Reason: "enough", Extension: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Extend(h.ctx, r.ID, "alice@example.com", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	second := h.lastDM(bob)
	if len(second.Buttons()) != 2 || second.TS == first.TS {
		t.Fatalf("second extension card: %v", actionIDs(second))
	}
	if _, err := h.svc.Revoke(h.ctx, r.ID, "alice@example.com", "done"); err != nil {
		t.Fatal(err)
	}
	first, _ = h.message(first.Channel, first.TS)
	second, _ = h.message(second.Channel, second.TS)
	if !strings.Contains(first.AllText(), "Denied by bob@example.com") || len(first.Updates) != 1 {
		t.Errorf("first extension card (%d updates):\n%s", len(first.Updates), first.AllText())
	}
	if len(second.Buttons()) != 0 || !strings.Contains(second.AllText(), "No longer waiting for a decision") || len(second.Updates) != 1 {
		t.Errorf("second extension card (%d updates):\n%s", len(second.Updates), second.AllText())
	}
	if text := h.lastDM(alice).AllText(); !strings.Contains(text, "Access revoked") {
		t.Errorf("requester told:\n%s", text)
	}
}

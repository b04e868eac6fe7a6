package slack

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// homeOpened is the app_home_opened event Slack sends when a user opens the
// bot's Home tab.
func homeOpened(userID, eventID string) map[string]any {
	return map[string]any{
		"token": "legacy", "team_id": "T0JITBOT", "api_app_id": "AJITBOT", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{"type": "app_home_opened", "user": userID, "channel": "D" + userID, "tab": "home", "event_ts": "1700000000.000100"},
	}
}

func (h *harness) signedEvent(ev any) *http.Request {
	h.t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.srv.URL+"/slack/events", strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	slacktest.Sign(req, body, signingSecret, time.Now())
	return req
}

func TestURLVerification(t *testing.T) {
	h := newHarness(t)
	status, body := h.do(h.signedEvent(map[string]any{"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}))
	if status != http.StatusOK || string(body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("challenge: %d %q", status, body)
	}
}

func TestAppHome(t *testing.T) {
	h := newHarness(t)
	// Alice: one active grant and one pending request; Bob: one request to approve.
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-1"`)
	first := h.only("alice@example.com")
	h.click(bob, h.lastDM(bob), "approve:"+string(first.ID))
	h.slash(alice, `request prod/Cluster0/sales/customers read 2h "INC-2"`)
	var pending *flows.Request
	rs, _ := h.svc.Mine(h.ctx, "alice@example.com")
	for _, r := range rs {
		if r.State == flows.StatePending {
			pending = r
		}
	}
	if pending == nil {
		t.Fatal("no pending request")
	}

	h.do(h.signedEvent(homeOpened(alice.ID, "EvA")))
	views := h.slack.ViewsPublished(alice.ID)
	if len(views) != 1 {
		t.Fatalf("alice's home published %d times", len(views))
	}
	home := views[0]
	text := home.AllText()
	for _, want := range []string{"Your access", "Your pending requests", "Waiting for your approval", "Nothing waits for you.", string(first.ID), string(pending.ID)} {
		if !strings.Contains(text, want) {
			t.Errorf("alice's home lacks %q:\n%s", want, text)
		}
	}
	ids := actionIDs(home)
	for _, want := range []string{"revoke:" + string(first.ID), "extend:" + string(first.ID) + ":1h", "cancel:" + string(pending.ID)} {
		if !slices.Contains(ids, want) {
			t.Errorf("alice's home lacks button %s: %v", want, ids)
		}
	}

	h.do(h.signedEvent(homeOpened(bob.ID, "EvB")))
	bobHome := h.slack.ViewsPublished(bob.ID)[0]
	if got := actionIDs(bobHome); !slices.Equal(got, []string{"approve:" + string(pending.ID), "deny:" + string(pending.ID)}) {
		t.Errorf("bob's home buttons: %v", got)
	}

	// Acting from the Home tab refreshes it.
	status, _ := h.interact(slacktest.BlockActions(slacktest.Click{
		UserID: alice.ID, ActionID: "cancel:" + string(pending.ID), TriggerID: h.slack.NewTriggerIDFor(alice.ID), ViewID: home.ID,
	}))
	if status != http.StatusOK {
		t.Fatal(status)
	}
	if s := h.get(string(pending.ID)).State; s != flows.StateCancelled {
		t.Fatalf("cancel from home: %s", s)
	}
	views = h.slack.ViewsPublished(alice.ID)
	if len(views) != 2 || slices.Contains(actionIDs(views[1]), "cancel:"+string(pending.ID)) || !strings.Contains(views[1].AllText(), "No requests waiting.") {
		t.Errorf("home after cancel: %d views\n%s", len(views), views[len(views)-1].AllText())
	}
	// Bob's card for the cancelled request lost its buttons.
	bobCards := h.dms(bob)
	last, _ := h.message(bobCards[len(bobCards)-1].Channel, bobCards[len(bobCards)-1].TS)
	if len(last.Buttons()) != 0 || !strings.Contains(last.AllText(), "Cancelled by alice@example.com") {
		t.Errorf("bob's card after cancel:\n%s", last.AllText())
	}
	h.noViolations()
}

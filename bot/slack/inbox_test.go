package slack

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// inboxDepth is how many deliveries the store holds unfinished.
func (h *harness) inboxDepth() int { return bottest.InboxDepth(h.t, h.store) }

// TestCrashAfterAckLosesNothing: a slash command, a modal submission and a
// click are each in the store when their 200 leaves; a bot stopped right
// after the acks, before any of them ran, is replaced by a new one on the
// same store, which runs them all and answers.
func TestCrashAfterAckLosesNothing(t *testing.T) {
	h := newHarness(t)

	// A request to click on, made the ordinary way.
	h.slash(alice, `request prod/Cluster0/sales read 1h "INC-1"`)
	r := h.only("alice@example.com")
	card := h.lastDM(bob)
	// The request form, opened (nothing recorded yet: a form asks nothing).
	h.slash(eve, "")
	view := h.slack.Views()[len(h.slack.Views())-1]

	h.hold = true
	// The slash command.
	ack, ru := h.slash(carol, `request prod/Cluster0/sales readWrite 2h "INC-2"`)
	if ack.Text != "Working on it…" {
		t.Errorf("ack: %+v", ack)
	}
	if n := h.inboxDepth(); n != 1 {
		t.Fatalf("inbox holds %d items after the command's ack", n)
	}
	// The request form, submitted.
	h.submitSalesRead(eve, view, "INC-3")
	// The click.
	h.click(bob, card, "approve:"+string(r.ID))
	if n := h.inboxDepth(); n != 3 {
		t.Fatalf("inbox holds %d items after the acks, want 3", n)
	}
	for _, who := range []string{"carol@example.com", "eve@example.com"} {
		if rs, _ := h.svc.Mine(h.ctx, who); len(rs) != 0 {
			t.Errorf("%s has a request before anything was processed", who)
		}
	}
	if st := h.get(string(r.ID)).State; st != flows.StatePending {
		t.Errorf("approved before the click was processed: %s", st)
	}

	// The crash, and a new process on the same store.
	h.hold = false
	bottest.Resume(t, h.store, h.restart, func() { h.idle() })
	carols := h.only("carol@example.com")
	if got := h.outcome(ru).AllText(); !strings.Contains(got, string(carols.ID)) {
		t.Errorf("carol's answer: %q", got)
	}
	h.only("eve@example.com")
	if got := h.get(string(r.ID)).Approvals; len(got) != 1 {
		t.Errorf("approvals after the restart: %+v", got)
	}
}

// TestRetriedCommandActsOnce: Slack's retry (X-Slack-Retry-Num) and a
// replay of a slash command carry its trigger id: acknowledged, not redone.
func TestRetriedCommandActsOnce(t *testing.T) {
	h := newHarness(t)
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: `request prod/Cluster0/sales read 1h "INC-1"`, UserID: alice.ID, TeamID: h.slack.TeamID(),
		ChannelID: "CGENERAL", TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: h.slack.NewResponseURL(),
	})
	h.send("/slack/commands", form)
	for retry := range 3 {
		req, err := slacktest.SignedRequest(h.ctx, h.srv.URL+"/slack/commands", form, signingSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Slack-Retry-Num", string(rune('1'+retry)))
		if status, body := h.do(req); status != http.StatusOK || len(body) != 0 {
			t.Errorf("retry %d: %d %s", retry, status, body)
		}
	}
	h.only("alice@example.com")
	if n := len(h.dms(bob)); n != 1 {
		t.Errorf("bob got %d cards", n)
	}
}

// TestTypoAnsweredWithoutRecord: what does not parse is answered in the ack
// and leaves nothing in the inbox.
func TestTypoAnsweredWithoutRecord(t *testing.T) {
	h := newHarness(t)
	h.hold = true
	ack, _ := h.slash(alice, "requets prod/Cluster0/sales read 1h")
	if !strings.Contains(ack.Text+blocksText(t, ack.Blocks), "did not work") {
		t.Errorf("typo ack: %+v", ack)
	}
	if n := h.inboxDepth(); n != 0 {
		t.Errorf("a typo left %d inbox items", n)
	}
}

// TestTransientFailureRetries: a command whose first attempt fails (Slack
// rate limits the lookup of the person past the call's own retries) is
// tried again once its backoff has passed on the clock, and answered.
func TestTransientFailureRetries(t *testing.T) {
	h := newHarness(t)
	h.bot.sleep = func(context.Context, time.Duration) error { return nil }
	h.slack.RateLimit("auth.test", maxRateLimitRetries+1, time.Second)
	_, ru := h.slash(alice, "list")
	if posts := h.slack.ResponsePosts(ru); len(posts) != 0 {
		t.Fatalf("answered before the retry: %+v", posts)
	}
	if n := h.inboxDepth(); n != 1 {
		t.Fatalf("inbox holds %d items, want the one waiting for its retry", n)
	}
	h.clock.Advance(2 * time.Second)
	h.idle()
	if got := h.outcome(ru).AllText(); !strings.Contains(got, "no requests") {
		t.Errorf("after the retry: %q", got)
	}
}

// TestGiveUpTellsThePerson: a command that keeps failing is retried on the
// clock, then given up, and the person is told through the response_url.
func TestGiveUpTellsThePerson(t *testing.T) {
	h := newHarness(t)
	h.bot.sleep = func(context.Context, time.Duration) error { return nil }
	h.slack.RateLimit("auth.test", 1000, time.Second)
	_, ru := h.slash(alice, "list")
	h.retryAll()
	if n := h.inboxDepth(); n != 0 {
		t.Errorf("inbox holds %d items after giving up", n)
	}
	posts := h.slack.ResponsePosts(ru)
	if len(posts) != 1 || !strings.Contains(posts[0].AllText(), "could not look you up in Slack right now") {
		t.Errorf("after giving up: %+v", posts)
	}
}

// TestAnswersSurviveACrashAfterTheAction: an item acted on and finished
// has its answer in the outbox, committed with the finish; a process that
// dies before sending it leaves it to the next, which sends it once.
func TestAnswersSurviveACrashAfterTheAction(t *testing.T) {
	h := newHarness(t)
	h.hold = true
	_, ru := h.slash(alice, "request prod/Cluster0/sales read 1h INC-9")
	h.bot.idle() // acted on and finished; the outbox not run
	if n := len(h.slack.ResponsePosts(ru)); n != 0 {
		t.Fatalf("%d answers before the outbox ran", n)
	}
	if pending, err := h.store.Pending(h.ctx, 0); err != nil || len(pending) != 1 || pending[0].What != "reply" ||
		pending[0].Priority != flows.PriorityActor || strings.Contains(string(pending[0].Payload), "pw-") {
		t.Fatalf("outbox after the action: %+v %v", pending, err)
	}
	h.restart()
	h.hold = false
	if got := h.outcome(ru).AllText(); !strings.Contains(got, "sent for approval") {
		t.Fatalf("answer after the restart: %q", got)
	}
	h.idle()
	if n := len(h.slack.ResponsePosts(ru)); n != 1 {
		t.Errorf("%d answers, want 1", n)
	}
}

// TestALateAnswerGoesToDirectMessages: an answer held back longer than a
// response_url lives (an outage) goes to the person's direct messages.
func TestALateAnswerGoesToDirectMessages(t *testing.T) {
	slackClock := flowstest.NewClock(time.Now())
	h := newHarness(t, func(s *setup) { s.cfg = func(c *Config) { c.Clock = slackClock } })
	h.hold = true
	_, ru := h.slash(alice, "list")
	h.bot.idle()
	slackClock.Advance(30 * time.Minute)
	h.hold = false
	h.idle()
	if n := len(h.slack.ResponsePosts(ru)); n != 0 {
		t.Errorf("a response_url used after 30 minutes (%d posts)", n)
	}
	if dms := h.dms(alice); len(dms) != 1 || !strings.Contains(dms[0].AllText(), "You have no requests") {
		t.Errorf("alice's direct messages: %d", len(dms))
	}
}

// TestAGoneResponseURLFallsBackToDirectMessages: a response_url Slack
// no longer takes (404: expired, used up) is not retried, which would hold
// back the person's later answers: the answer goes to their direct
// messages at once.
func TestAGoneResponseURLFallsBackToDirectMessages(t *testing.T) {
	h := newHarness(t)
	gone := h.slack.NewResponseURL() + "-gone" // a URL the fake never issued: 404
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: "list", UserID: alice.ID, UserName: alice.Name, TeamID: h.slack.TeamID(), ChannelID: "CGENERAL",
		TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: gone,
	})
	if status, body := h.send("/slack/commands", form); status != http.StatusOK {
		t.Fatalf("status %d %s", status, body)
	}
	if dms := h.dms(alice); len(dms) != 1 || !strings.Contains(dms[0].AllText(), "You have no requests") {
		t.Fatalf("alice's direct messages: %d", len(dms))
	}
	if pending, _ := h.store.Pending(h.ctx, 0); len(pending) != 0 {
		t.Errorf("%d deliveries left", len(pending))
	}
}

package teams

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

const slackSigningSecret = "0123456789abcdef0123456789abcdef"

// eventually polls cond until it holds or a few seconds pass: the Slack adapter's detached
// work cannot be waited for from this package.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMixedJourney: a request made in Slack is approved in Teams by an owner who is not in the
// Slack workspace. The Teams adapter sends the approval card and updates it; the credentials
// go to the requester in Slack, never to Teams, where the request did not come from.
func TestMixedJourney(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access help") // alice is in Teams too: Teams must still not DM her

	sl := slacktest.New(slacktest.WithPacing(10 * time.Millisecond))
	t.Cleanup(sl.Close)
	slackAlice := sl.AddUser(slacktest.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"})
	sb, err := slack.New(slack.Config{
		BotToken: sl.BotToken(), SigningSecret: slackSigningSecret, APIURL: sl.APIURL(),
		Pacing: 10 * time.Millisecond, Clock: h.clock,
	}, h.svc, h.db, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.notify.add(sb)
	ssrv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		ssrv.Close()
		_ = sb.Close()
	})

	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: "request " + orders + " read 1h INC-42", UserID: slackAlice.ID, UserName: "alice",
		TeamID: sl.TeamID(), ChannelID: "CGENERAL", TriggerID: sl.NewTriggerIDFor(slackAlice.ID), ResponseURL: sl.NewResponseURL(),
	})
	req, err := slacktest.SignedRequest(h.ctx, ssrv.URL+"/slack/commands", form, slackSigningSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slash command: %d", resp.StatusCode)
	}
	eventually(t, "the approval card in Teams", func() bool { return len(h.sent(ownerConv)) == 1 })
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if r.Origin != slack.Platform {
		t.Fatalf("origin %q", r.Origin)
	}

	cardAct, card := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	if got := h.request(r.ID).State; got != flows.StateActive {
		t.Fatalf("after approval in Teams: %s", got)
	}
	eventually(t, "the credentials in Slack", func() bool {
		for _, m := range sl.DMs(slackAlice.ID) {
			if strings.Contains(m.AllText(), "pw-"+h.request(r.ID).Principal) {
				return true
			}
		}
		return false
	})
	if got := cardText(h.current(ownerConv, cardAct.ActivityID)); !strings.Contains(got, "Approved by owner@example.com") {
		t.Errorf("Teams approval card:\n%s", got)
	}
	for _, a := range h.sent(aliceConv) {
		if text := cardText(a.Cards()[0]); strings.Contains(text, "Access granted") || strings.Contains(text, "pw-") {
			t.Fatalf("Teams told the Slack requester:\n%s", text)
		}
	}
}

package slack

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// TestSocketMode runs a request's approval over Socket Mode: a real
// slack-go socketmode client connected to the fake, the same handlers as
// HTTP, and acks carrying the same payloads.
func TestSocketMode(t *testing.T) {
	h := newHarness(t, withQuorum(2))
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = h.bot.RunSocketMode(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("RunSocketMode: %v", runErr)
		}
	})
	wait, done := context.WithTimeout(h.ctx, 10*time.Second)
	defer done()
	if err := h.slack.Wait(wait, h.slack.SocketModeConnected); err != nil {
		t.Fatal(err)
	}

	// A slash command: the ack is the "Working on it…" message.
	ru := h.slack.NewResponseURL()
	ack, err := h.slack.SendSocketMode(wait, slacktest.EnvelopeSlashCommands, slackgo.SlashCommand{
		Command: "/access", Text: `request prod/Cluster0/sales read 1h "INC-5"`, UserID: alice.ID, ChannelID: "CGENERAL",
		TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: ru,
	})
	if err != nil {
		t.Fatal(err)
	}
	var msg ackMessage
	if err := json.Unmarshal(ack, &msg); err != nil || msg.Text != "Working on it…" || msg.ResponseType != "ephemeral" {
		t.Fatalf("slash ack %s (%v)", ack, err)
	}
	h.idle()
	r := h.only("alice@example.com")
	if !strings.Contains(h.outcome(ru).AllText(), "sent for approval") {
		t.Error("no outcome")
	}

	// A click: acked without payload, acted on once. flows would refuse a
	// second approval by bob anyway; what the dedupe saves is acting on the
	// replay, which would answer it on the click's response_url ("you
	// already approved").
	card := h.lastDM(bob)
	click := slacktest.BlockActions(slacktest.Click{
		UserID: bob.ID, ActionID: "approve:" + string(r.ID), TriggerID: h.slack.NewTriggerIDFor(bob.ID),
		ResponseURL: h.slack.NewMessageResponseURL(card.Channel, card.TS), ChannelID: card.Channel, MessageTS: card.TS,
	})
	if ack, err := h.slack.SendSocketMode(wait, slacktest.EnvelopeInteractive, click); err != nil || ack != nil {
		t.Fatalf("click ack %s, %v", ack, err)
	}
	h.idle()
	if got := h.get(string(r.ID)).Approvals; len(got) != 1 {
		t.Fatalf("approvals %+v", got)
	}
	callsBefore := len(h.slack.Calls())
	// The second delivery is a replay.
	if ack, err := h.slack.SendSocketMode(wait, slacktest.EnvelopeInteractive, click); err != nil || ack != nil {
		t.Fatalf("replayed click ack %s, %v", ack, err)
	}
	h.idle()
	if posts := h.slack.ResponsePosts(click.ResponseURL); len(posts) != 0 {
		t.Errorf("the replayed click was acted on: %+v", posts)
	}
	if calls := h.slack.Calls()[callsBefore:]; len(calls) != 0 {
		t.Errorf("the replayed click called Slack: %+v", calls)
	}

	// A deny form submitted without its required reason: the errors come
	// back in the ack, as over HTTP.
	meta, _ := json.Marshal(denyState{Action: "deny:" + string(r.ID), Required: true})
	ack, err = h.slack.SendSocketMode(wait, slacktest.EnvelopeInteractive, slacktest.ViewSubmission(slacktest.Submission{
		UserID: carol.ID, ViewID: "VDENY", CallbackID: denyCallback, PrivateMetadata: string(meta),
		Values: map[string]map[string]slackgo.BlockAction{fieldReason: {fieldReason: slacktest.TextValue("")}},
	}))
	var vsr slackgo.ViewSubmissionResponse
	if err != nil || json.Unmarshal(ack, &vsr) != nil || vsr.ResponseAction != slackgo.RAErrors || vsr.Errors[fieldReason] == "" {
		t.Fatalf("deny form ack %s, %v", ack, err)
	}

	// An event: the Home tab is published.
	raw, _ := json.Marshal(homeOpened(carol.ID, "EvSocket"))
	if _, err := h.slack.SendSocketMode(wait, slacktest.EnvelopeEventsAPI, json.RawMessage(raw)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.slack.WaitForCalls(wait, "views.publish", 1); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if home := h.slack.ViewsPublished(carol.ID); len(home) != 1 || !strings.Contains(home[0].AllText(), string(r.ID)) {
		t.Errorf("carol's home: %+v", home)
	}

	// Carol approves over the socket too: credentials go out.
	carolCard := h.lastDM(carol)
	if _, err := h.slack.SendSocketMode(wait, slacktest.EnvelopeInteractive, slacktest.BlockActions(slacktest.Click{
		UserID: carol.ID, ActionID: "approve:" + string(r.ID), TriggerID: h.slack.NewTriggerIDFor(carol.ID), ChannelID: carolCard.Channel, MessageTS: carolCard.TS,
	})); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if s := h.get(string(r.ID)).State; s != flows.StateActive || !strings.Contains(string(h.lastDM(alice).BlocksJSON), "pw-") {
		t.Fatalf("after the second approval: %s", s)
	}
	// Every envelope was acknowledged (how fast is for the benchmarks).
	for _, env := range h.slack.SocketModeEnvelopes() {
		if !env.Acked {
			t.Errorf("envelope %s %s not acked", env.Type, env.ID)
		}
	}
	h.noViolations()
}

func TestSocketModeNeedsAnAppToken(t *testing.T) {
	h := newHarness(t, func(s *setup) { s.cfg = func(c *Config) { c.AppToken = "" } })
	if err := h.bot.RunSocketMode(h.ctx); err == nil {
		t.Fatal("socket mode ran without an app token")
	}
}

package slack

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// TestJourney walks one request through its whole life over the real HTTP
// handlers, with signed requests, the recording Slack, a real flows.Service
// and the bbolt store: ask, approve, receive credentials, be reminded, expire,
// and see every card updated.
func TestJourney(t *testing.T) {
	h := newHarness(t, withChannel("#db-access"))

	ack, ru := h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-123"`)
	if ack.ResponseType != "ephemeral" || ack.Text != "Working on it…" {
		t.Fatalf("ack = %+v", ack)
	}
	r := h.only("alice@example.com")
	if r.State != flows.StatePending || r.Reason != "INC-123" || r.Origin != "slack" || r.Duration != time.Hour {
		t.Fatalf("request %+v", r)
	}
	out := h.outcome(ru)
	if !out.ReplaceOriginal || !strings.Contains(out.AllText(), "Request "+string(r.ID)+" sent for approval") || !slices.Contains(actionIDs(out), "cancel:"+string(r.ID)) {
		t.Errorf("outcome: %+v\n%s", out, out.AllText())
	}

	// The owner gets the approval card by DM, the channel a copy.
	card := h.lastDM(bob)
	if got := actionIDs(card); !slices.Equal(got, []string{"approve:" + string(r.ID), "deny:" + string(r.ID)}) {
		t.Fatalf("owner's card buttons: %v", got)
	}
	if text := card.AllText(); !strings.Contains(text, "alice@example.com asks for read on prod/Cluster0/sales/orders for 1h") || !strings.Contains(text, "INC-123") {
		t.Errorf("owner's card:\n%s", text)
	}
	shared := h.channelMessages("CAPPROVALS")
	if len(shared) != 1 || len(shared[0].Buttons()) != 2 {
		t.Fatalf("approvals channel: %+v", shared)
	}

	// The owner approves: credentials reach the requester, in one message
	// that says who approved.
	h.click(bob, card, "approve:"+string(r.ID))
	r = h.get(string(r.ID))
	if r.State != flows.StateActive {
		t.Fatalf("after approval: %s", r.State)
	}
	dms := h.dms(alice)
	if len(dms) != 1 {
		t.Fatalf("alice's DMs: %d, want the credentials only", len(dms))
	}
	creds := dms[0]
	raw := string(creds.BlocksJSON)
	password := "pw-" + r.Principal + "-1"
	for _, want := range []string{password, r.Principal, "mongodb+srv://Cluster0.example.mongodb.net", "read on prod/Cluster0/sales/orders", "Mon 23 Nov 11:00 CET", "mongosh", "Approved by bob@example.com"} {
		if !strings.Contains(raw, want) {
			t.Errorf("credentials DM lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(creds.Text, password) {
		t.Error("the notification text carries the password")
	}
	for _, m := range h.messages() {
		if m.Channel != slacktest.DMChannel(alice.ID) && strings.Contains(string(m.BlocksJSON)+m.Text, password) {
			t.Errorf("the password reached %s", m.Channel)
		}
	}
	for _, p := range h.slack.ResponsePosts("") {
		if strings.Contains(string(p.Body), password) {
			t.Error("the password went through a response_url")
		}
	}
	bobCard, _ := h.message(card.Channel, card.TS)
	if n := len(bobCard.Updates); n == 0 || len(buttonsOf(bobCard.Updates[n-1].Blocks)) != 0 || !strings.Contains(bobCard.AllText(), "Approved by bob@example.com") {
		t.Errorf("owner's card after approval: %d updates\n%s", n, bobCard.AllText())
	}

	// Fifteen minutes before the end: a reminder with Extend buttons.
	rep := h.sweepAt(r.ExpiresAt.Add(-15 * time.Minute))
	if rep.Reminded != 1 {
		t.Fatalf("sweep: %+v", rep)
	}
	reminder := h.lastDM(alice)
	want := []string{"extend:" + string(r.ID) + ":30m", "extend:" + string(r.ID) + ":1h", "extend:" + string(r.ID) + ":2h", "extend:" + string(r.ID) + ":4h", "revoke:" + string(r.ID)}
	if got := actionIDs(reminder); !slices.Equal(got, want) {
		t.Errorf("reminder buttons %v, want %v", got, want)
	}
	if !strings.Contains(reminder.AllText(), "ends at Mon 23 Nov 11:00 CET (in 15m)") {
		t.Errorf("reminder:\n%s", reminder.AllText())
	}

	// At the end: access is removed and everyone sees it.
	rep = h.sweepAt(r.ExpiresAt)
	if rep.Revocations != 1 {
		t.Fatalf("sweep: %+v", rep)
	}
	r = h.get(string(r.ID))
	if r.State != flows.StateExpired || h.prov.Count("delete") != 1 {
		t.Fatalf("after expiry: %s, %d deletes", r.State, h.prov.Count("delete"))
	}
	if expiry := h.lastDM(alice); !strings.Contains(expiry.AllText(), "Access expired: request "+string(r.ID)) {
		t.Errorf("expiry DM:\n%s", expiry.AllText())
	}
	// The credentials message no longer holds the password.
	creds, _ = h.message(creds.Channel, creds.TS)
	if strings.Contains(string(creds.BlocksJSON), password) || !strings.Contains(creds.AllText(), "removed") {
		t.Errorf("credentials message after expiry:\n%s", creds.BlocksJSON)
	}

	// Every stored card shows the final state, without buttons.
	refs, err := h.store.MessageRefs(h.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ref := range refs {
		kinds[ref.Kind]++
		if ref.Kind == bot.KindClosed {
			continue
		}
		m, ok := h.message(ref.Conversation, ref.ID)
		if !ok || len(m.Updates) == 0 {
			t.Errorf("card %s to %s never updated", ref.Kind, ref.Recipient)
			continue
		}
		last := m.Updates[len(m.Updates)-1]
		if len(buttonsOf(last.Blocks)) != 0 {
			t.Errorf("card %s to %s still has buttons", ref.Kind, ref.Recipient)
		}
		if ref.Kind == bot.KindApproval && !strings.Contains(m.AllText(), "access expired at") {
			t.Errorf("card to %s:\n%s", ref.Recipient, m.AllText())
		}
	}
	if kinds[bot.KindApproval] != 2 || kinds[bot.KindCredentials] != 1 || kinds[bot.KindReminder] != 1 || kinds[bot.KindClosed] != 4 {
		t.Errorf("stored refs by kind: %v", kinds)
	}
	// Bob saw times in New York, the channel in UTC.
	bobCard, _ = h.message(card.Channel, card.TS)
	if !strings.Contains(bobCard.AllText(), "EST") {
		t.Errorf("owner's card not in his time zone:\n%s", bobCard.AllText())
	}
	h.noViolations()
}

func TestDenyWithReasonThroughTheModal(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-123"`)
	r := h.only("alice@example.com")
	card := h.lastDM(bob)

	h.click(bob, card, "deny:"+string(r.ID))
	views := h.slack.Views()
	if len(views) != 1 || views[0].CallbackID != denyCallback || views[0].Method != "views.open" {
		t.Fatalf("deny form: %+v", views)
	}
	form := views[0]
	if !strings.Contains(form.AllText(), "Deny request "+string(r.ID)) {
		t.Errorf("deny form:\n%s", form.AllText())
	}
	submit := func(reason string) (int, []byte) {
		return h.interact(slacktest.ViewSubmission(slacktest.Submission{
			UserID: bob.ID, TeamID: h.slack.TeamID(), ViewID: form.ID, CallbackID: form.CallbackID, PrivateMetadata: form.PrivateMetadata,
			Values: map[string]map[string]slackgo.BlockAction{fieldReason: {fieldReason: slacktest.TextValue(reason)}},
		}))
	}
	// No reason: the modal says so and nothing happens.
	status, body := submit("  ")
	if status != http.StatusOK || !strings.Contains(string(body), `"response_action":"errors"`) || !strings.Contains(string(body), `"reason":"Say why you deny it`) {
		t.Fatalf("empty reason: %d %s", status, body)
	}
	if h.get(string(r.ID)).State != flows.StatePending {
		t.Fatal("denied without a reason")
	}
	status, body = submit("use the read replica")
	if status != http.StatusOK || len(body) != 0 {
		t.Fatalf("deny: %d %s", status, body)
	}
	r = h.get(string(r.ID))
	if r.State != flows.StateDenied || r.Denial.Reason != "use the read replica" {
		t.Fatalf("after deny: %+v", r)
	}
	told := h.lastDM(alice)
	if text := told.AllText(); !strings.Contains(text, "Request "+string(r.ID)+" denied") || !strings.Contains(text, "use the read replica") || !strings.Contains(text, "bob@example.com") {
		t.Errorf("requester told:\n%s", text)
	}
	card, _ = h.message(card.Channel, card.TS)
	if n := len(card.Updates); n == 0 || len(buttonsOf(card.Updates[n-1].Blocks)) != 0 || !strings.Contains(card.AllText(), "Denied by bob@example.com") {
		t.Errorf("card after deny:\n%s", card.AllText())
	}
	h.noViolations()
}

func TestQuorumOfTwo(t *testing.T) {
	h := newHarness(t, withQuorum(2))
	h.slash(alice, `request prod/Cluster0/sales read 2h "INC-9"`)
	r := h.only("alice@example.com")
	bobCard, carolCard := h.lastDM(bob), h.lastDM(carol)
	if len(bobCard.Buttons()) != 2 || len(carolCard.Buttons()) != 2 || !strings.Contains(bobCard.AllText(), "0 of 2") {
		t.Fatalf("cards: %v %v\n%s", actionIDs(bobCard), actionIDs(carolCard), bobCard.AllText())
	}
	h.click(bob, bobCard, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StatePending {
		t.Fatalf("one approval of two made it %s", s)
	}
	bobCard, _ = h.message(bobCard.Channel, bobCard.TS)
	carolCard, _ = h.message(carolCard.Channel, carolCard.TS)
	if !strings.Contains(bobCard.AllText(), "1 of 2") || len(bobCard.Buttons()) != 0 || !strings.Contains(bobCard.AllText(), "You approved; waiting for 1 approval from carol@example.com") {
		t.Errorf("bob's card:\n%s", bobCard.AllText())
	}
	if !strings.Contains(carolCard.AllText(), "1 of 2") || len(carolCard.Buttons()) != 2 {
		t.Errorf("carol's card:\n%s", carolCard.AllText())
	}
	if len(h.dms(alice)) != 0 {
		t.Error("the requester was told before the quorum")
	}
	h.click(carol, carolCard, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("after two approvals: %s", s)
	}
	for _, m := range []slacktest.Message{bobCard, carolCard} {
		m, _ = h.message(m.Channel, m.TS)
		if !strings.Contains(m.AllText(), "2 of 2") || len(m.Buttons()) != 0 || !strings.Contains(m.AllText(), "Approved by bob@example.com and carol@example.com") {
			t.Errorf("final card:\n%s", m.AllText())
		}
	}
	if !strings.Contains(string(h.lastDM(alice).BlocksJSON), "pw-") {
		t.Error("no credentials after the quorum")
	}
	h.noViolations()
}

func TestRefusedClicksAreExplained(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, `request prod/Cluster0/sales read 1h "INC-1"`)
	r := h.only("alice@example.com")
	card := h.lastDM(bob)

	tests := []struct {
		who  slacktest.User
		want string
	}{
		{alice, "you cannot approve your own request"},
		{eve, "there is no request " + string(r.ID) + " that you can see"},
	}
	for _, tt := range tests {
		ru := h.click(tt.who, card, "approve:"+string(r.ID))
		posts := h.slack.ResponsePosts(ru)
		if len(posts) != 1 || posts[0].ResponseType != "ephemeral" || posts[0].ReplaceOriginal || !strings.Contains(posts[0].AllText(), tt.want) {
			t.Errorf("%s's click: %+v", tt.who.Name, posts)
		}
	}
	if h.get(string(r.ID)).State != flows.StatePending || h.prov.Count("create") != 0 {
		t.Fatal("a refused click changed the request")
	}
	if m, _ := h.message(card.Channel, card.TS); len(m.Updates) != 0 {
		t.Error("a refused click updated the card")
	}
	// A click on a card whose request is over is refused with the reason.
	h.click(bob, card, "approve:"+string(r.ID))
	ru := h.click(bob, card, "approve:"+string(r.ID))
	if posts := h.slack.ResponsePosts(ru); len(posts) != 1 || !strings.Contains(posts[0].AllText(), "already") {
		t.Errorf("late click: %+v", posts)
	}
	// Unknown action ids are ignored.
	status, _ := h.interact(slacktest.BlockActions(slacktest.Click{UserID: bob.ID, ActionID: "drop-database:all", TriggerID: h.slack.NewTriggerID()}))
	if status != http.StatusOK {
		t.Errorf("unknown action: %d", status)
	}
}

func TestReplaysActOnce(t *testing.T) {
	h := newHarness(t, withQuorum(2))

	// The same slash command delivered twice makes one request.
	ru := h.slack.NewResponseURL()
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: `request prod/Cluster0/sales read 1h "INC-1"`, UserID: alice.ID,
		TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: ru,
	})
	h.send("/slack/commands", form)
	status, body := h.send("/slack/commands", form)
	if status != http.StatusOK || len(body) != 0 {
		t.Errorf("replay ack: %d %s", status, body)
	}
	r := h.only("alice@example.com")
	if n := len(h.dms(bob)); n != 1 {
		t.Errorf("bob got %d cards", n)
	}

	// A second bot (a restart: nothing remembered) still makes no second
	// request, thanks to the idempotency key.
	other, err := New(Config{BotToken: h.slack.BotToken(), SigningSecret: signingSecret, APIURL: h.slack.APIURL(), Pacing: 10 * time.Millisecond, Runtime: bot.Runtime{Inbox: testInbox(t)}}, h.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.command(h.ctx, slackgo.SlashCommand{Command: "/access", Text: `request prod/Cluster0/sales read 1h "INC-1"`, UserID: alice.ID, TriggerID: form.Get("trigger_id"), ResponseURL: ru})
	other.idle()
	_ = other.Close()
	h.only("alice@example.com")

	// The same click delivered twice is one decision: without the dedupe
	// the second would be refused ("you already approved").
	card := h.lastDM(bob)
	cb := slacktest.BlockActions(slacktest.Click{
		UserID: bob.ID, ActionID: "approve:" + string(r.ID), ResponseURL: h.slack.NewMessageResponseURL(card.Channel, card.TS),
		TriggerID: h.slack.NewTriggerIDFor(bob.ID), ChannelID: card.Channel, MessageTS: card.TS,
	})
	h.interact(cb)
	h.interact(cb)
	if got := h.get(string(r.ID)).Approvals; len(got) != 1 {
		t.Fatalf("approvals: %+v", got)
	}
	if posts := h.slack.ResponsePosts(cb.ResponseURL); len(posts) != 0 {
		t.Errorf("the replayed click was acted on: %+v", posts)
	}

	// A retried event is handled once.
	ev := homeOpened(alice.ID, "Ev1")
	for retry := range 3 {
		req := h.signedEvent(ev)
		if retry > 0 {
			req.Header.Set("X-Slack-Retry-Num", "1")
			req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		h.do(req)
	}
	if n := len(h.slack.ViewsPublished(alice.ID)); n != 1 {
		t.Errorf("home published %d times", n)
	}
}

func TestSignatures(t *testing.T) {
	h := newHarness(t)
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: `request prod/Cluster0/sales read 1h "INC-1"`, UserID: alice.ID,
		TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: h.slack.NewResponseURL(),
	})
	tests := []struct {
		name   string
		mutate func(*http.Request)
		secret string
		at     time.Time
		want   string
	}{
		{"forged", nil, "not-the-secret", time.Now(), "invalid signature"},
		{"stale", nil, signingSecret, time.Now().Add(-6 * time.Minute), "stale signature"},
		{"missing", func(r *http.Request) { r.Header.Del("X-Slack-Signature") }, signingSecret, time.Now(), "missing signature"},
		{"tampered", func(r *http.Request) {
			r.Header.Set("X-Slack-Signature", slacktest.Signature([]byte("text=list"), signingSecret, time.Now()))
		}, signingSecret, time.Now(), "invalid signature"},
		{"garbage", func(r *http.Request) { r.Header.Set("X-Slack-Signature", "v0=zz") }, signingSecret, time.Now(), "invalid signature"},
	}
	for _, path := range []string{"/slack/commands", "/slack/interactions", "/slack/events"} {
		for _, tt := range tests {
			req, err := slacktest.SignedRequest(h.ctx, h.srv.URL+path, form, tt.secret, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(req)
			}
			status, body := h.do(req)
			if status != http.StatusUnauthorized || strings.TrimSpace(string(body)) != tt.want {
				t.Errorf("%s %s: %d %q", tt.name, path, status, body)
			}
		}
	}
	if calls := h.slack.Calls(); len(calls) != 0 {
		t.Errorf("refused requests called Slack: %+v", calls)
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 0 {
		t.Error("a refused request made a request")
	}
	if !strings.Contains(h.logs.String(), `"reason":"stale signature"`) {
		t.Error("refusals are not logged")
	}
	// The same request, signed right, works.
	if status, _ := h.send("/slack/commands", form); status != http.StatusOK {
		t.Errorf("signed: %d", status)
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 1 {
		t.Error("the signed request did nothing")
	}
}

// TestRateLimitedPostIsRetried: a card Slack answers 429 is not slept on in
// Send: the dispatcher holds bob's conversation for the Retry-After (on the
// domain's clock) and sends it again once that has passed.
func TestRateLimitedPostIsRetried(t *testing.T) {
	h := newHarness(t)
	var waits []time.Duration
	h.bot.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	h.slack.RateLimit("chat.postMessage", 1, 2*time.Second)
	h.slash(alice, `request prod/Cluster0/sales read 1h "INC-1"`)
	if len(h.dms(bob)) != 0 {
		t.Fatal("the card arrived before the Retry-After had passed")
	}
	h.clock.Advance(time.Second)
	if len(h.dms(bob)) != 0 {
		t.Fatal("the card arrived a second into a 2s Retry-After")
	}
	h.clock.Advance(time.Second)
	if len(h.dms(bob)) != 1 {
		t.Fatal("the card did not arrive after the Retry-After")
	}
	posts := h.slack.CallsTo("chat.postMessage")
	if len(posts) != 2 || posts[0].Status != http.StatusTooManyRequests || posts[1].Status != http.StatusOK {
		t.Fatalf("posts: %v", statuses(posts))
	}
	if slices.ContainsFunc(waits, func(d time.Duration) bool { return d >= time.Second }) {
		t.Errorf("slept %v in Send; the dispatcher waits, not the platform", waits)
	}
}

func statuses(calls []slacktest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, fmt.Sprintf("%s %d %s", c.Method, c.Status, c.Error))
	}
	return out
}

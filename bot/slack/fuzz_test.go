package slack

import (
	"context"
	"encoding/json"
	"github.com/jitbot/jitbot/bot/bottest"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// fuzzHarness is a bot with one pending request (alice's, which bob may
// approve), so that seeds reach the real transitions.
func fuzzHarness(f *testing.F) (*harness, *flows.Request) {
	h := newHarness(f)
	r, err := h.svc.Submit(h.ctx, flows.SubmitInput{
		Requester: alice.Email, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"},
		Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1", Origin: Platform,
	})
	if err != nil {
		f.Fatal(err)
	}
	return h, r
}

// deliverSigned hands a body, correctly signed, to the bot's handler and
// waits for the work it started. Fuzzed bodies must get past the signature
// check to reach the parsers.
func (h *harness) deliverSigned(t *testing.T, path, contentType, body string) int {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	slacktest.Sign(req, []byte(body), signingSecret, time.Now())
	rec := httptest.NewRecorder()
	h.bot.Handler().ServeHTTP(rec, req)
	h.bot.idle()
	bottest.Settle(t, h.outbox)
	if strings.Contains(h.logs.String(), "panicked") {
		t.Fatalf("%s %.300q: detached work panicked:\n%s", path, body, h.logs.String())
	}
	return rec.Code
}

func wantClientAnswer(t *testing.T, what string, status int) {
	t.Helper()
	if status != http.StatusOK && (status < 400 || status >= 500) {
		t.Fatalf("%s: status %d, want 200 or a 4xx", what, status)
	}
}

// FuzzInteractionPayload sends fuzzed interaction payloads (block_actions,
// view_submission and anything else) through the real signed handler: the
// answer is 200 or a 4xx, never a 5xx, and nothing panics, before or after
// the acknowledgement. Its seed corpus runs as a normal test.
func FuzzInteractionPayload(f *testing.F) {
	h, r := fuzzHarness(f)
	click := func(user slacktest.User, action string) string {
		raw, err := json.Marshal(slacktest.BlockActions(slacktest.Click{
			UserID: user.ID, UserName: user.Name, TeamID: h.slack.TeamID(), ActionID: action, Value: action,
			ResponseURL: h.slack.NewResponseURL(), TriggerID: h.slack.NewTriggerIDFor(user.ID), ChannelID: "DBOB", MessageTS: "1.000100",
		}))
		if err != nil {
			f.Fatal(err)
		}
		return string(raw)
	}
	submission := func(user slacktest.User, callback, metadata string, values map[string]map[string]slackgo.BlockAction) string {
		raw, err := json.Marshal(slacktest.ViewSubmission(slacktest.Submission{
			UserID: user.ID, TeamID: h.slack.TeamID(), ViewID: "V" + callback, CallbackID: callback, PrivateMetadata: metadata, Values: values,
		}))
		if err != nil {
			f.Fatal(err)
		}
		return string(raw)
	}
	for _, s := range []string{
		click(bob, "approve:"+string(r.ID)), click(eve, "approve:"+string(r.ID)), click(bob, "deny:"+string(r.ID)), click(alice, "cancel:"+string(r.ID)),
		click(alice, "extend:"+string(r.ID)+":1h"), click(bob, "approve-ext:"+string(r.ID)+":1"), click(alice, "rotate:zzzzzzzzzz"), click(bob, "nonsense"),
		submission(bob, denyCallback, `{"action":"deny:`+string(r.ID)+`","required":true}`, map[string]map[string]slackgo.BlockAction{fieldReason: {fieldReason: slacktest.TextValue("no")}}),
		submission(bob, denyCallback, `{`, nil),
		submission(alice, requestCallback, ``, map[string]map[string]slackgo.BlockAction{fieldReason: {fieldReason: slacktest.TextValue("x")}}),
		``, `{`, `null`, `[]`, `"x"`, `{"type":"block_actions"}`, `{"type":"block_actions","actions":[null]}`,
		`{"type":"block_actions","actions":[{"action_id":"approve:` + string(r.ID) + `"}]}`,
		`{"type":"view_submission","view":{"callback_id":"` + denyCallback + `","state":{"values":{"reason":{"reason":null}}}}}`,
		`{"type":"view_submission","view":{"callback_id":"` + requestCallback + `","state":null}}`,
		`{"type":"shortcut"}`, `{"type":"message_action","message":{"blocks":[{"type":"nope"}]}}`, `{"type":"block_suggestion"}`,
		`{"type":"view_closed","view":{}}`, `{"type":"interactive_message","actions":[{}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		body := url.Values{"payload": {payload}}.Encode()
		wantClientAnswer(t, "interaction", h.deliverSigned(t, "/slack/interactions", "application/x-www-form-urlencoded", body))
	})
}

// FuzzCommandForm sends fuzzed slash-command form bodies through the real
// signed handler: 200 or a 4xx, never a 5xx or a panic.
func FuzzCommandForm(f *testing.F) {
	h, r := fuzzHarness(f)
	form := func(user slacktest.User, text string) string {
		return slacktest.SlashCommandForm(slackgo.SlashCommand{
			Command: "/access", Text: text, UserID: user.ID, UserName: user.Name, TeamID: h.slack.TeamID(), ChannelID: "CGENERAL",
			TriggerID: h.slack.NewTriggerIDFor(user.ID), ResponseURL: h.slack.NewResponseURL(),
		}).Encode()
	}
	for _, s := range []string{
		form(alice, "request prod/Cluster0/sales/orders read 1h INC-2"), form(alice, ""), form(alice, "list"), form(bob, "pending"),
		form(alice, "extend "+string(r.ID)+" 1h"), form(alice, "revoke "+string(r.ID)+" done"), form(eve, "revoke "+string(r.ID)),
		form(alice, "help"), form(alice, "request <mailto:a@b.c|a@b.c> &lt;x&gt;"), form(slacktest.User{ID: "UNKNOWN", Name: "nobody"}, "list"),
		"", "=", "command=%", "text=%zz", "command=/access&text=list", strings.Repeat("a=b&", 1000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		wantClientAnswer(t, "command", h.deliverSigned(t, "/slack/commands", "application/x-www-form-urlencoded", body))
	})
}

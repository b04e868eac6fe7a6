package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/jitbot/jitbot/bot/bottest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// FuzzActivity sends fuzzed activity bodies, with a valid token, through
// the real messaging endpoint: the answer is 200 or a 4xx (401 for anything
// the adapter cannot authenticate or parse), never a 5xx, and nothing panics
// in our code, before or after the acknowledgement. SERVICE_URL in an input
// stands for the fake Bot Framework's address, which changes from run to
// run. JWT parsing itself is fuzzed by FuzzValidate. The seed corpus runs as
// a normal test.
func FuzzActivity(f *testing.F) {
	h := newHarness(f)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	cardAct, card := h.last(ownerConv)
	enc := func(act schema.Activity) string {
		raw, err := json.Marshal(act)
		if err != nil {
			f.Fatal(err)
		}
		return strings.ReplaceAll(string(raw), h.bf.ServiceURL(), "SERVICE_URL")
	}
	approve := submitData(f, card, "Approve")
	deny := submitData(f, card, "Deny request")
	deny[inputReason] = "no"
	install := h.bf.Message(eveConv, eve, "")
	install.Type, install.Action = schema.InstallationUpdate, string(schema.InstallActionAdd)
	update := h.bf.Message(eveConv, eve, "")
	update.Type, update.MembersAdded = schema.ConversationUpdate, []schema.ChannelAccount{{ID: eve.ID}}
	invoke := h.bf.Message(ownerConv, owner, "")
	invoke.Type, invoke.Name, invoke.Value = schema.Invoke, "adaptiveCard/action", map[string]any{"action": map[string]any{"data": approve}}
	for _, s := range []string{
		enc(h.bf.Message(aliceConv, alice, "access list")), enc(h.bf.Message(aliceConv, alice, "<p>access <b>help</b></p>")),
		enc(h.bf.Message(aliceConv, alice, "access request "+invoices+" read 1h x")), enc(h.bf.Message(eveConv, eve, "")),
		enc(h.bf.Submit(ownerConv, owner, cardAct.ActivityID, approve)), enc(h.bf.Submit(ownerConv, owner, cardAct.ActivityID, deny)),
		enc(h.bf.Submit(aliceConv, alice, "", map[string]any{"action": "extend:zzzzzzzzzz:1h"})),
		enc(h.bf.Submit(aliceConv, alice, "", map[string]any{"action": 7, "resource": []any{}, "duration": map[string]any{}})),
		enc(install), enc(update), enc(invoke),
		``, `{`, `null`, `[]`, `{"type":"message"}`, `{"type":"message","serviceUrl":"SERVICE_URL"}`,
		`{"type":"message","serviceUrl":"SERVICE_URL","channelId":"msteams","from":{},"conversation":{},"value":"x"}`,
		`{"type":"message","serviceUrl":"SERVICE_URL","channelId":"msteams","from":{"id":"29:alice"},"conversation":{"id":"` + aliceConv + `"},"attachments":[null]}`,
		`{"type":"messageReaction","serviceUrl":"SERVICE_URL"}`, `{"type":"installationUpdate","serviceUrl":"SERVICE_URL","action":"remove"}`,
		`{"type":"message","serviceUrl":"http://evil.example.com/"}`,
	} {
		f.Add(s)
	}
	token := h.bf.MintToken(teamstest.TokenClaims{})
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.ReplaceAll(body, "SERVICE_URL", h.bf.ServiceURL())
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/teams/messages", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.bot.Handler().ServeHTTP(rec, req)
		h.bot.idle()
		bottest.Settle(t, h.outbox)
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("%.300q: status %d, want 200 or a 4xx", body, rec.Code)
		}
		if strings.Contains(h.logs.String(), "detached work panicked") {
			t.Fatalf("%.300q: detached work panicked:\n%s", body, h.logs.String())
		}
	})
}

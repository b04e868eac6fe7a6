package teams

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/core"
	"github.com/infracloudio/msbotbuilder-go/core/activity"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// newAdapter builds msbotbuilder-go's adapter by hand with our validator and connector, as
// production wiring will: core.NewBotAdapter would install the library's defective parts.
func newAdapter(t *testing.T, bf *teamstest.BotFramework) *core.BotFrameworkAdapter {
	t.Helper()
	v, err := NewTokenValidator(ValidatorConfig{AppID: bf.AppID(), MetadataURL: bf.MetadataURL(), HTTPClient: bf.Client()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := NewConnector(ConnectorConfig{
		AppID: bf.AppID(), AppPassword: bf.AppPassword(), TokenURL: bf.TokenURL(MultiTenant), HTTPClient: bf.Client(),
		ServiceHosts: []string{"127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &core.BotFrameworkAdapter{
		AdapterSetting: core.AdapterSetting{
			AppID: bf.AppID(), AppPassword: bf.AppPassword(),
			CredentialProvider: auth.SimpleCredentialProvider{AppID: bf.AppID(), Password: bf.AppPassword()},
		},
		TokenValidator: v,
		Client:         conn,
	}
}

func echoHandler() activity.HandlerFuncs {
	return activity.HandlerFuncs{OnMessageFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
		return turn.SendActivity(activity.MsgOptionText("echo: " + turn.Activity.Text))
	}}
}

func TestAdapterWithOurValidatorAndConnector(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	adapter := newAdapter(t, bf)
	ctx := context.Background()

	alice := teamstest.Member{ID: "29:alice", Name: "Alice", TenantID: "tenant-1"}
	act := bf.Message(convID, alice, "hello")
	req, err := teamstest.NewActivityRequest(ctx, "http://bot.invalid/api/messages", act, bf.MintToken(teamstest.TokenClaims{}))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := adapter.ParseRequest(ctx, req)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	if parsed.Text != "hello" || parsed.From.ID != alice.ID {
		t.Fatalf("parsed = %+v", parsed)
	}
	if err := adapter.ProcessActivity(ctx, parsed, echoHandler()); err != nil {
		t.Fatalf("ProcessActivity: %v", err)
	}
	got := bf.ActivitiesIn(convID)
	if len(got) != 1 || got[0].Activity.Text != "echo: hello" || got[0].Activity.Recipient.ID != alice.ID {
		t.Fatalf("connector recorded %+v", got)
	}

	// The adapter's UpdateActivity goes through our client.Client Put.
	upd := activity.ApplyConversationReference(schema.Activity{Type: schema.Message, Text: "edited"},
		activity.GetCoversationReference(parsed), false)
	upd.ID = got[0].ActivityID
	if err := adapter.UpdateActivity(ctx, upd); err != nil {
		t.Fatalf("UpdateActivity: %v", err)
	}
	if cur, _ := bf.Current(convID, got[0].ActivityID); cur.Text != "edited" {
		t.Fatalf("after update: %+v", cur)
	}
	if bf.TokensIssued() != 1 || bf.MetadataFetches() != 1 {
		t.Fatalf("tokens %d, metadata fetches %d", bf.TokensIssued(), bf.MetadataFetches())
	}
}

// TestAdapterBehindHTTPHandler drives the adapter as the bot's endpoint will: 401 for anything
// that fails authentication, 200 otherwise, with the reply reaching the fake connector.
func TestAdapterBehindHTTPHandler(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	adapter := newAdapter(t, bf)
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act, err := adapter.ParseRequest(r.Context(), r)
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err := adapter.ProcessActivity(r.Context(), act, echoHandler()); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer bot.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice := teamstest.Member{ID: "29:alice"}
	resp, err := bf.Deliver(ctx, bot.URL, bf.Message(convID, alice, "ping"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := bf.Wait(ctx, func(a teamstest.Activity) bool { return a.Activity.Text == "echo: ping" }); err != nil {
		t.Fatal(err)
	}

	// Forged activity: a valid token for the real service URL, but the activity points replies
	// at an attacker's host. The library's own check would pass a missing claim by panicking.
	forged := bf.Message(convID, alice, "exfiltrate")
	forged.ServiceURL = "https://attacker.example.com/"
	for name, tok := range map[string]string{
		"serviceurl mismatch": bf.MintToken(teamstest.TokenClaims{}),
		"missing serviceurl":  bf.MintToken(teamstest.TokenClaims{Omit: []string{"serviceurl"}}),
		"expired":             bf.MintToken(teamstest.TokenClaims{ExpiresAt: time.Now().Add(-time.Hour)}),
		"alg none":            bf.Unsigned(teamstest.TokenClaims{}),
		"garbage":             "garbage",
	} {
		req, _ := teamstest.NewActivityRequest(ctx, bot.URL, forged, tok)
		resp, err := bot.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}
	req, _ := teamstest.NewActivityRequest(ctx, bot.URL, forged, "")
	resp, err = bot.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no Authorization header: status %d, want 401", resp.StatusCode)
	}
	for _, a := range bf.Activities() {
		if a.Activity.Text == "echo: exfiltrate" {
			t.Fatal("a rejected activity was answered")
		}
	}
}

package slacktest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// verify runs the bot's middleware steps: read the body, check the signature
// with slack-go, restore the body for the parser.
func verify(r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	v, err := slack.NewSecretsVerifier(r.Header, secret)
	if err != nil {
		return err
	}
	if _, err := v.Write(body); err != nil {
		return err
	}
	return v.Ensure()
}

func TestSignature(t *testing.T) {
	ctx := ctxT(t)
	form := SlashCommandForm(slack.SlashCommand{Command: "/access", Text: "list"})

	valid, err := SignedRequest(ctx, "http://bot.invalid/slack/commands", form, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(valid); err != nil {
		t.Errorf("valid request rejected: %v", err)
	}

	tampered, _ := SignedRequest(ctx, "http://bot.invalid/slack/commands", form, secret, time.Now())
	tampered.Body = io.NopCloser(strings.NewReader(strings.Replace(form.Encode(), "list", "revoke", 1)))
	if err := verify(tampered); !errors.Is(err, slack.ErrInvalidSignature) {
		t.Errorf("tampered body: %v, want ErrInvalidSignature", err)
	}

	wrongSecret, _ := SignedRequest(ctx, "http://bot.invalid/slack/commands", form, "not-the-secret", time.Now())
	if err := verify(wrongSecret); !errors.Is(err, slack.ErrInvalidSignature) {
		t.Errorf("wrong secret: %v, want ErrInvalidSignature", err)
	}

	stale, _ := SignedRequest(ctx, "http://bot.invalid/slack/commands", form, secret, time.Now().Add(-6*time.Minute))
	if err := verify(stale); !errors.Is(err, slack.ErrExpiredTimestamp) {
		t.Errorf("6-minute-old request: %v, want ErrExpiredTimestamp", err)
	}

	// The known vector from Slack's documentation of request signing.
	const docBody = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	got := Signature([]byte(docBody), secret, time.Unix(1531420618, 0))
	if want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Errorf("Signature = %s, want Slack's documented %s", got, want)
	}
}

func TestSlashCommandRoundTrip(t *testing.T) {
	srv, _ := newServer(t)
	want := slack.SlashCommand{
		TeamID: srv.TeamID(), TeamDomain: "jitbot-test", ChannelID: "C1", ChannelName: "general",
		UserID: alice.ID, UserName: "alice", Command: "/access",
		Text:        `request prod/Cluster0/sales/orders read 2h "INC-123 debugging"`,
		ResponseURL: srv.NewResponseURL(), TriggerID: srv.NewTriggerIDFor(alice.ID), APIAppID: srv.AppID(),
	}
	req, err := SignedRequest(ctxT(t), "http://bot.invalid/slack/commands", SlashCommandForm(want), secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(req); err != nil {
		t.Fatal(err)
	}
	got, err := slack.SlashCommandParse(req)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("parsed %+v\nwant   %+v", got, want)
	}
}

// TestInteractionRoundTrip sends the builders' callbacks through an HTTP
// handler that parses them like the bot will.
func TestInteractionRoundTrip(t *testing.T) {
	var got slack.InteractionCallback
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := verify(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var err error
		if got, err = slack.InteractionCallbackParse(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	send := func(cb *slack.InteractionCallback) {
		t.Helper()
		form, err := InteractionForm(cb)
		if err != nil {
			t.Fatal(err)
		}
		req, err := SignedRequest(ctxT(t), "http://bot.invalid/slack/interactions", form, secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("handler answered %d: %s", rec.Code, rec.Body)
		}
	}

	send(BlockActions(Click{
		UserID: bob.ID, UserName: "bob", TeamID: "T0JITBOT", ActionID: "approve", BlockID: "decide", Value: "approve:r1",
		ResponseURL: "http://fake/actions/1", TriggerID: "1.2.abc", ChannelID: "C0APPROVALS", MessageTS: "1700000000.000100",
	}))
	if got.Type != slack.InteractionTypeBlockActions || got.User.ID != bob.ID || got.TriggerID != "1.2.abc" ||
		got.ResponseURL != "http://fake/actions/1" || got.Container.Type != "message" ||
		got.Container.ChannelID != "C0APPROVALS" || got.Container.MessageTs != "1700000000.000100" ||
		got.Channel.ID != "C0APPROVALS" || got.Message.Timestamp != "1700000000.000100" {
		t.Errorf("block_actions parsed as %+v", got)
	}
	if a := got.ActionCallback.BlockActions; len(a) != 1 || a[0].ActionID != "approve" || a[0].Value != "approve:r1" || a[0].BlockID != "decide" {
		t.Errorf("actions = %+v", a)
	}
	if got.BlockActionState == nil {
		t.Error("block_actions lost its state")
	}

	send(BlockActions(Click{UserID: alice.ID, ActionID: "revoke", Value: "revoke:g1", ViewID: "V0HOME"}))
	if got.Container.Type != "view" || got.Container.ViewID != "V0HOME" || got.View.ID != "V0HOME" {
		t.Errorf("Home tab click parsed as container %+v view %q", got.Container, got.View.ID)
	}

	send(ViewSubmission(Submission{
		UserID: alice.ID, TeamID: "T0JITBOT", ViewID: "V0MODAL", CallbackID: "access_request",
		PrivateMetadata: `{"channel":"C1"}`, Hash: "1.2",
		Values: map[string]map[string]slack.BlockAction{
			"resource": {"resource_select": OptionValue("prod/Cluster0/sales")},
			"reason":   {"reason_input": TextValue("INC-123")},
		},
	}))
	if got.Type != slack.InteractionTypeViewSubmission || got.View.CallbackID != "access_request" ||
		got.View.PrivateMetadata != `{"channel":"C1"}` || got.View.ID != "V0MODAL" || got.View.Hash != "1.2" {
		t.Errorf("view_submission parsed as %+v", got.View)
	}
	if got.View.State == nil ||
		got.View.State.Values["resource"]["resource_select"].SelectedOption.Value != "prod/Cluster0/sales" ||
		got.View.State.Values["reason"]["reason_input"].Value != "INC-123" {
		t.Errorf("state = %+v", got.View.State)
	}
}

package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// botUnderTest is a minimal Socket Mode app: it acks every request the way
// jitbot's handlers will and hands what it received to the test.
type botUnderTest struct {
	client   *socketmode.Client
	received chan socketmode.Event
	hellos   chan socketmode.Request
}

func startSocketModeBot(t *testing.T, srv *Server, opts ...slack.Option) *botUnderTest {
	t.Helper()
	client := socketmode.New(srv.Client(opts...))
	b := &botUnderTest{client: client, received: make(chan socketmode.Event, 16), hellos: make(chan socketmode.Request, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() { b.loop(ctx) })
	// Registered after newServer's Close, so it runs first: the client stops
	// before the server goes away.
	t.Cleanup(func() { cancel(); wg.Wait() })
	return b
}

func (b *botUnderTest) loop(ctx context.Context) {
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-b.client.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeHello:
			select {
			case b.hellos <- *evt.Request:
			case <-ctx.Done():
			}
			continue
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			_ = b.client.Ack(*evt.Request, map[string]any{"response_type": "ephemeral", "text": "got " + cmd.Text})
		case socketmode.EventTypeInteractive:
			cb := evt.Data.(slack.InteractionCallback)
			if cb.Type == slack.InteractionTypeViewSubmission {
				reason := cb.View.State.Values["reason"]["reason_input"].Value
				_ = b.client.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"reason": "too short: " + reason}))
			} else {
				_ = b.client.Ack(*evt.Request)
			}
		case socketmode.EventTypeEventsAPI:
			_ = b.client.Ack(*evt.Request)
		default:
			continue
		}
		select {
		case b.received <- evt:
		case <-ctx.Done():
			return
		}
	}
}

func (b *botUnderTest) next(t *testing.T) socketmode.Event {
	t.Helper()
	select {
	case evt := <-b.received:
		return evt
	case <-time.After(5 * time.Second):
		t.Fatal("the bot received nothing")
		return socketmode.Event{}
	}
}

func TestSocketMode(t *testing.T) {
	srv, _ := newServer(t, WithPingInterval(50*time.Millisecond))
	ctx := ctxT(t)
	b := startSocketModeBot(t, srv)
	if err := srv.Wait(ctx, srv.SocketModeConnected); err != nil {
		t.Fatal(err)
	}
	select {
	case hello := <-b.hellos:
		if hello.ConnectionInfo.AppID != srv.AppID() || hello.DebugInfo.ApproximateConnectionTime != connectionTimeSeconds {
			t.Errorf("hello = %+v", hello)
		}
	case <-ctx.Done():
		t.Fatal("no hello")
	}

	// Slash command: the ack payload is the command's response.
	ack, err := srv.SendSocketMode(ctx, EnvelopeSlashCommands, slack.SlashCommand{
		Command: "/access", Text: "list", UserID: alice.ID, ChannelID: "C1",
		TriggerID: srv.NewTriggerIDFor(alice.ID), ResponseURL: srv.NewResponseURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var msg slack.Msg
	if err := json.Unmarshal(ack, &msg); err != nil || msg.Text != "got list" || msg.ResponseType != "ephemeral" {
		t.Errorf("slash ack = %s (%v)", ack, err)
	}
	cmd := b.next(t).Data.(slack.SlashCommand)
	if cmd.Command != "/access" || cmd.UserID != alice.ID || cmd.TriggerID == "" || cmd.ResponseURL == "" {
		t.Errorf("bot received %+v", cmd)
	}

	// view_submission: state reaches the bot, the response_action comes back.
	ack, err = srv.SendSocketMode(ctx, EnvelopeInteractive, ViewSubmission(Submission{
		UserID: alice.ID, TeamID: srv.TeamID(), ViewID: "V1", CallbackID: "access_request", PrivateMetadata: `{"channel":"C1"}`,
		Values: map[string]map[string]slack.BlockAction{
			"reason": {"reason_input": TextValue("dbg")},
			"role":   {"role_select": OptionValue("read")},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var vsr slack.ViewSubmissionResponse
	if err := json.Unmarshal(ack, &vsr); err != nil || vsr.ResponseAction != slack.RAErrors || vsr.Errors["reason"] != "too short: dbg" {
		t.Errorf("view_submission ack = %s (%v)", ack, err)
	}
	sub := b.next(t).Data.(slack.InteractionCallback)
	if sub.View.CallbackID != "access_request" || sub.View.PrivateMetadata != `{"channel":"C1"}` ||
		sub.View.State.Values["role"]["role_select"].SelectedOption.Value != "read" {
		t.Errorf("bot received %+v", sub.View)
	}

	// block_actions passed by value: state must survive the marshalling, and
	// an ack without payload comes back as nil.
	click := *BlockActions(Click{UserID: bob.ID, ActionID: "approve", Value: "approve:r1", ChannelID: "C1", MessageTS: "1.000002"})
	ack, err = srv.SendSocketMode(ctx, EnvelopeInteractive, click)
	if err != nil || ack != nil {
		t.Fatalf("block_actions ack = %s, %v", ack, err)
	}
	act := b.next(t).Data.(slack.InteractionCallback)
	if act.Type != slack.InteractionTypeBlockActions || act.ActionCallback.BlockActions[0].Value != "approve:r1" ||
		act.Container.ChannelID != "C1" || act.Container.MessageTs != "1.000002" || act.BlockActionState == nil {
		t.Errorf("bot received %+v", act)
	}

	// events_api.
	if _, err := srv.SendSocketMode(ctx, EnvelopeEventsAPI, json.RawMessage(`{"type":"event_callback","team_id":"T0JITBOT",
		"event":{"type":"app_home_opened","user":"U0ALICE","tab":"home"}}`)); err != nil {
		t.Fatal(err)
	}
	ev := b.next(t).Data.(slackevents.EventsAPIEvent)
	if home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); !ok || home.User != alice.ID {
		t.Errorf("events_api inner event = %#v", ev.InnerEvent.Data)
	}

	envs := srv.SocketModeEnvelopes()
	if len(envs) != 4 {
		t.Fatalf("%d envelopes, want 4", len(envs))
	}
	// Each envelope records its ack, payload included (how fast is for the
	// benchmarks and the ack-deadline violation).
	for _, e := range envs {
		if !e.Acked || e.AckLatency <= 0 {
			t.Errorf("envelope %+v not acked", e)
		}
	}
	var slashAck slack.Msg
	if envs[0].Type != EnvelopeSlashCommands || json.Unmarshal(mustAck(t, envs[0]), &slashAck) != nil || slashAck.Text != "got list" {
		t.Errorf("first envelope = %+v", envs[0])
	}
	var viewAck slack.ViewSubmissionResponse
	if envs[1].Type != EnvelopeInteractive || json.Unmarshal(mustAck(t, envs[1]), &viewAck) != nil || viewAck.Errors["reason"] != "too short: dbg" {
		t.Errorf("second envelope = %+v", envs[1])
	}
	if envs[2].Type != EnvelopeInteractive || envs[2].Ack != nil || envs[3].Type != EnvelopeEventsAPI || envs[3].Ack != nil {
		t.Errorf("acks without payload = %s, %s", envs[2].Ack, envs[3].Ack)
	}
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("violations = %+v", v)
	}

	// A requested disconnect makes the client reconnect; envelopes follow it.
	if err := srv.SocketModeDisconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	ack, err = srv.SendSocketMode(ctx, EnvelopeSlashCommands, slack.SlashCommand{Command: "/access", Text: "help"})
	if err != nil || !json.Valid(ack) {
		t.Fatalf("after reconnect: %s, %v", ack, err)
	}
	if got := b.next(t).Data.(slack.SlashCommand).Text; got != "help" {
		t.Errorf("after reconnect the bot got %q", got)
	}
	if n := len(srv.CallsTo("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", n)
	}
}

func mustAck(t *testing.T, e Envelope) json.RawMessage {
	t.Helper()
	if !json.Valid(e.Ack) {
		t.Fatalf("envelope %s ack %q is not JSON", e.ID, e.Ack)
	}
	return e.Ack
}

func TestSocketModeDebugReconnects(t *testing.T) {
	srv, _ := newServer(t)
	ctx := ctxT(t)
	b := startSocketModeBot(t, srv, slack.OptionDebug(true), slack.OptionLog(log.New(io.Discard, "", 0)))
	select {
	case hello := <-b.hellos:
		if hello.DebugInfo.ApproximateConnectionTime != debugConnectionTimeSeconds {
			t.Errorf("hello with debug_reconnects = %+v", hello.DebugInfo)
		}
	case <-ctx.Done():
		t.Fatal("no hello")
	}
}

func TestSocketModeTokens(t *testing.T) {
	srv, _ := newServer(t)
	ctx := ctxT(t)
	for _, tc := range []struct{ token, code string }{
		{srv.BotToken(), "not_allowed_token_type"},
		{"xapp-1-wrong", "invalid_auth"},
	} {
		api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(tc.token))
		_, _, err := api.StartSocketModeContext(ctx)
		wantSlackError(t, err, tc.code)
	}
	// socketmode treats invalid_auth as fatal: Run returns instead of retrying.
	client := socketmode.New(slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken("xapp-1-wrong")))
	go func() { // drain so the client never blocks on its events
		for {
			select {
			case <-client.Events:
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := client.RunContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("RunContext = %v, want invalid_auth", err)
	}

	// A ticket is single use.
	_, url, err := srv.Client().StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil); err == nil {
		t.Error("second dial with the same ticket succeeded")
	}
}

// TestSocketModeWire speaks the protocol by hand to pin the envelope format,
// and checks Close fails a send that is still waiting for its ack.
func TestSocketModeWire(t *testing.T) {
	srv := New()
	ctx := ctxT(t)
	if _, err := srv.SendSocketMode(timeoutCtx(t, 20*time.Millisecond), EnvelopeEventsAPI, json.RawMessage(`{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send without a client: %v", err)
	}
	_, url, err := srv.Client().StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pinged := make(chan struct{}, 1)
	c.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	var hello map[string]any
	if err := c.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("hello = %v, %v", hello, err)
	}

	sent := make(chan error, 1)
	go func() {
		_, err := srv.SendSocketMode(ctx, EnvelopeSlashCommands, slack.SlashCommand{Command: "/access"})
		sent <- err
	}()
	var env struct {
		EnvelopeID             string          `json:"envelope_id"`
		Type                   string          `json:"type"`
		Payload                json.RawMessage `json:"payload"`
		AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	}
	if err := c.ReadJSON(&env); err != nil {
		t.Fatal(err)
	}
	if env.EnvelopeID == "" || env.Type != "slash_commands" || !env.AcceptsResponsePayload || !json.Valid(env.Payload) {
		t.Errorf("envelope = %+v", env)
	}
	// Control frames (the server's pings) reach the handler only while a
	// read is under way: keep reading, as a client does.
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-ctx.Done():
		t.Error("no ping from the server")
	}

	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case err := <-sent:
		if !errors.Is(err, errClosed) {
			t.Errorf("pending send after Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("pending send not released by Close")
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close hung")
	}
	if _, err := srv.SendSocketMode(ctx, EnvelopeSlashCommands, json.RawMessage(`{}`)); !errors.Is(err, errClosed) {
		t.Errorf("send after Close: %v", err)
	}
}

func timeoutCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

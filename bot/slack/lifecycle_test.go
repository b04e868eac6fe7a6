package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func TestNewValidates(t *testing.T) {
	engine := newHarness(t).engine
	good := Config{BotToken: "xoxb-1", SigningSecret: "s"}
	tests := []struct {
		name   string
		cfg    Config
		engine Engine
		want   string
	}{
		{"no engine", good, nil, "chat engine"},
		{"no bot token", Config{SigningSecret: "s"}, engine, "slack: bot_token: required"},
		{"no way in", Config{BotToken: "xoxb-1"}, engine, "slack: signing_secret: required to serve HTTP"},
		{"app token as bot token", Config{BotToken: "xapp-1", SigningSecret: "s"}, engine, "slack: bot_token: an app-level token (xapp-)"},
		{"bot token as app token", Config{BotToken: "xoxb-1", AppToken: "xoxb-2"}, engine, "slack: app_token: an app-level token starts with xapp-"},
		{"negative timeout", Config{BotToken: "xoxb-1", SigningSecret: "s", Runtime: bot.Runtime{WorkTimeout: -1}}, engine, "cannot be negative"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, tt.engine, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(Config{BotToken: "xoxb-1", AppToken: "xapp-1"}, engine, nil); err == nil || !strings.Contains(err.Error(), "inbox is required") {
		t.Errorf("no inbox: %v", err)
	}
	b, err := New(Config{BotToken: "xoxb-1", AppToken: "xapp-1", Runtime: bot.Runtime{Inbox: testInbox(t)}}, engine, nil)
	if err != nil {
		t.Fatalf("socket mode only: %v", err)
	}
	if b.cfg.WorkTimeout != 30*time.Second || b.cfg.Pacing != time.Second || b.http.Timeout == 0 {
		t.Errorf("defaults: %+v, http timeout %s", b.cfg, b.http.Timeout)
	}
	// Without a signing secret, HTTP deliveries are refused.
	h := newHarness(t, func(s *setup) { s.cfg = func(c *Config) { c.SigningSecret = "" } })
	if status, body := h.send("/slack/commands", nil); status != http.StatusUnauthorized || !strings.Contains(string(body), "Socket Mode only") {
		t.Errorf("HTTP without a secret: %d %s", status, body)
	}
	// A client without a timeout gets one.
	b, _ = New(Config{BotToken: "xoxb-1", SigningSecret: "s", Runtime: bot.Runtime{HTTPClient: &http.Client{}, Inbox: testInbox(t)}}, engine, nil)
	if b.http.Timeout == 0 {
		t.Error("no timeout on the given client")
	}
}

func TestPing(t *testing.T) {
	h := newHarness(t)
	if err := h.bot.Ping(h.ctx); err != nil {
		t.Fatal(err)
	}
	// A token Slack refuses is not ready.
	bad, err := New(Config{BotToken: "xoxb-wrong", SigningSecret: "s", APIURL: h.slack.APIURL(), Runtime: bot.Runtime{Inbox: testInbox(t)}}, h.engine, nil)
	if err == nil {
		err = bad.Ping(h.ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("ping with a wrong token: %v", err)
	}
}

// Close waits for detached work; past its deadline it cancels what is left
// and says so; afterwards new work is refused.
func TestCloseWaitsForWork(t *testing.T) {
	h := newHarness(t)
	var finished atomic.Bool
	h.bot.work.Go(h.ctx, "quick", func(ctx context.Context) {
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	})
	if err := h.bot.Close(); err != nil || !finished.Load() {
		t.Fatalf("close: %v, finished %v", err, finished.Load())
	}
	ran := false
	h.bot.work.Go(h.ctx, "late", func(context.Context) { ran = true })
	h.idle()
	if ran {
		t.Error("work started after Close")
	}

	// Past the deadline (fired at once here) Close cancels the work and
	// waits for it to stop (its grace never fires). The work has no timeout
	// of its own; the harness's WorkTimeout (20s) only ends it if Close
	// fails to cancel it, and then with DeadlineExceeded.
	h2 := newHarness(t)
	deadline := make(chan time.Time)
	close(deadline)
	h2.bot.work.SetCloseTimers(deadline, make(chan time.Time))
	cancelled := make(chan error, 1)
	h2.bot.work.Go(h2.ctx, "stuck", func(ctx context.Context) {
		<-ctx.Done()
		cancelled <- ctx.Err()
	})
	err := h2.bot.Close()
	if err == nil || !strings.Contains(err.Error(), "slack: close:") {
		t.Errorf("Close with work left: %v", err)
	}
	select {
	case e := <-cancelled:
		if !errors.Is(e, context.Canceled) {
			t.Errorf("the stuck work ended with %v, want context.Canceled", e)
		}
	default:
		t.Error("Close returned before the cancelled work stopped")
	}
	h2.bot.work.SetCloseTimers(nil, nil) // the harness closes again: nothing is left
}

// Detached work survives the request that started it, within WorkTimeout.
func TestDetachedWorkOutlivesTheRequest(t *testing.T) {
	h := newHarness(t)
	reqCtx, cancel := context.WithCancel(h.ctx)
	requestDone := make(chan struct{})
	done := make(chan error, 1)
	h.bot.work.Go(reqCtx, "work", func(ctx context.Context) {
		<-requestDone // the request is over before the work looks
		done <- ctx.Err()
	})
	cancel()
	close(requestDone)
	if err := <-done; err != nil {
		t.Errorf("detached work saw %v", err)
	}
}

func TestPacerGivesUpWithTheContext(t *testing.T) {
	clock := flowstest.NewClock(t0)
	p := newPacer(clock, time.Hour, sleepContext)
	ctx := context.Background()
	if err := p.do(ctx, "C1", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	called := false
	err := p.do(short, "C1", func(context.Context) error { called = true; return nil })
	if err == nil || called {
		t.Errorf("posted within the gap: %v", err)
	}
}

func TestPacerForgetsIdleChannels(t *testing.T) {
	clock := flowstest.NewClock(t0)
	p := newPacer(clock, time.Second, func(context.Context, time.Duration) error { return nil })
	for i := range 3 * pacerPrune {
		if err := p.do(context.Background(), fmt.Sprint("D", i), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	if n := len(p.channels); n > pacerPrune+1 {
		t.Errorf("%d channels remembered", n)
	}
}

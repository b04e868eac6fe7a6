package slack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

func checkAgainst(t *testing.T, srv *slacktest.Server, edit func(*Config), channels ...string) (CheckReport, error) {
	t.Helper()
	cfg := Config{BotToken: srv.BotToken(), AppToken: srv.AppToken(), APIURL: srv.APIURL(), ApprovalsChannel: "#db-access"}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return Check(ctx, cfg, channels...)
}

// TestCheck: `jitbot check -online` on Slack says what works, warns of a
// scope whose absence costs something, and fails on a bad token, a
// missing required scope, an app-level token that opens no Socket Mode, or
// a channel the bot is not in, naming each.
func TestCheck(t *testing.T) {
	newSlack := func(opts ...slacktest.Option) *slacktest.Server {
		srv := slacktest.New(opts...)
		t.Cleanup(srv.Close)
		srv.AddChannel("CAPPROVALS", "#db-access")
		srv.AddPrivateChannel("CSEC", "security")
		return srv
	}

	srv := newSlack()
	rep, err := checkAgainst(t, srv, nil, "CSEC", "#db-access", "DB-Access", "")
	if err != nil || len(rep.Warnings) != 0 {
		t.Fatalf("everything in place: %+v, %v", rep, err)
	}
	if want := "a member of #db-access (CAPPROVALS), #security (CSEC), #DB-Access (CAPPROVALS)"; !strings.Contains(rep.OK, want) || !strings.Contains(rep.OK, "workspace ") {
		t.Errorf("OK %q, want it to name the workspace and %q", rep.OK, want)
	}
	if n := srv.CountCalls("apps.connections.open"); n != 1 {
		t.Errorf("Socket Mode opened %d times, want 1", n)
	}

	_, err = checkAgainst(t, srv, nil, "#nowhere", "C0GONE")
	if err == nil || !strings.Contains(err.Error(), "not a member of #nowhere, C0GONE") || !strings.Contains(err.Error(), "/invite @") {
		t.Errorf("channels the bot is not in: %v", err)
	}

	_, err = checkAgainst(t, srv, func(c *Config) { c.BotToken = "xoxb-wrong" })
	if err == nil || !strings.Contains(err.Error(), "the bot token does not work") || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("a wrong bot token: %v", err)
	}
	_, err = checkAgainst(t, srv, func(c *Config) { c.AppToken = "xapp-wrong" })
	if err == nil || !strings.Contains(err.Error(), "Socket Mode") {
		t.Errorf("a wrong app-level token: %v", err)
	}

	lacking := newSlack(slacktest.WithScopes("commands", "chat:write", "im:write", "users:read", "usergroups:read", "im:history", "channels:history", "groups:history"))
	rep, err = checkAgainst(t, lacking, nil)
	if err == nil || !strings.Contains(err.Error(), "lacks the scopes users:read.email") {
		t.Errorf("without users:read.email: %v", err)
	}
	if got := strings.Join(rep.Warnings, "\n"); !strings.Contains(got, "without channels:read, groups:read") || !strings.Contains(got, "are not checked") {
		t.Errorf("without channels:read and groups:read, warnings:\n%s", got)
	}
	if strings.Contains(strings.Join(rep.Warnings, "\n"), "history") {
		t.Errorf("a warning about scopes the token has: %v", rep.Warnings)
	}
}

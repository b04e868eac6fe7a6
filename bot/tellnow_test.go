package bot_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// TellNow reaches each admin on every platform that finds them, at once,
// with the store alarm's card; a person no platform reaches is skipped, a
// platform that fails is reported and the others still send.
func TestTellNow(t *testing.T) {
	ctx := context.Background()
	slack, teams := bottest.NewPlatform("slack"), bottest.NewPlatform("teams")
	slack.Add("dana@example.com", nil)
	slack.Add("erin@example.com", nil)
	teams.Add("dana@example.com", nil)
	ev := flows.Event{Type: flows.EventStoreAlarm, Actor: flows.SystemActor, At: time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC),
		Message: "etcd is out of space (its NOSPACE alarm)"}
	to := []string{"dana@example.com", "erin@example.com", "nobody@example.com"}

	sent, err := bot.TellNow(ctx, []bot.Platform{slack, teams}, to, ev)
	if err != nil || sent != 3 {
		t.Fatalf("sent %d (%v), want 3: dana on both platforms, erin on Slack", sent, err)
	}
	for _, c := range []struct {
		p     *bottest.Platform
		email string
		want  int
	}{{slack, "dana@example.com", 1}, {slack, "erin@example.com", 1}, {teams, "dana@example.com", 1}, {teams, "erin@example.com", 0}, {slack, "nobody@example.com", 0}} {
		got := c.p.To(c.email)
		if len(got) != c.want {
			t.Fatalf("%s on %s: %d messages, want %d", c.email, c.p.Name(), len(got), c.want)
		}
		if c.want == 1 && (got[0].Card.Title != "Store alarm" || !strings.Contains(got[0].Card.Text, "out of space")) {
			t.Fatalf("%s on %s got %+v", c.email, c.p.Name(), got[0].Card)
		}
	}

	// Teams fails: Slack's messages still go, and the failure is said.
	teams.Fail(bottest.OpSend, errors.New("connector down"))
	sent, err = bot.TellNow(ctx, []bot.Platform{slack, teams}, to, ev)
	if sent != 2 || err == nil || !strings.Contains(err.Error(), "connector down") {
		t.Fatalf("with Teams failing: sent %d, err %v; want 2 and Teams' error", sent, err)
	}

	// An event about a request has no card of its own here: refused.
	if sent, err := bot.TellNow(ctx, []bot.Platform{slack}, to, flows.Event{Type: flows.EventApproved, RequestID: "r1"}); err == nil || sent != 0 {
		t.Fatalf("a request's event: sent %d, err %v", sent, err)
	}
}

func TestReachable(t *testing.T) {
	ctx := context.Background()
	slack, teams := bottest.NewPlatform("slack"), bottest.NewPlatform("teams")
	slack.Add("dana@example.com", nil)
	teams.Add("dana@example.com", nil)
	teams.Add("erin@example.com", nil)
	ev := flows.Event{Type: flows.EventStoreAlarm, Actor: flows.SystemActor, At: time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)}
	to := []string{"dana@example.com", "erin@example.com", "nobody@example.com"}

	found, err := bot.Reachable(ctx, []bot.Platform{slack, teams}, to, ev)
	if err != nil || found != 3 {
		t.Fatalf("found %d (%v), want 3: dana on both platforms, erin on Teams", found, err)
	}
	if slack.Finds() != 3 || teams.Finds() != 3 {
		t.Fatalf("finds: Slack %d, Teams %d; want each of the three looked up on each", slack.Finds(), teams.Finds())
	}
	for _, p := range []*bottest.Platform{slack, teams} {
		for _, email := range to {
			if got := p.To(email); len(got) != 0 {
				t.Fatalf("%s on %s was sent %+v: finding someone sends nothing", email, p.Name(), got)
			}
		}
	}

	// Slack fails: Teams' finds still count, and the failure is said.
	slack.Fail(bottest.OpFind, errors.New("users.lookupByEmail down"))
	found, err = bot.Reachable(ctx, []bot.Platform{slack, teams}, to, ev)
	if found != 2 || err == nil || !strings.Contains(err.Error(), "lookupByEmail down") {
		t.Fatalf("with Slack failing: found %d, err %v; want 2 and Slack's error", found, err)
	}
}

package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// A group that includes a Slack user group gets its members from Slack at
// start and on every sync; approval cards reach them; a failed sync keeps
// the last members.
func TestSlackUserGroupsApprove(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := newHarness(t, clock)
	omar := demoPerson{"U0OMAR", "omar", "omar@example.com", "UTC"}
	nina := demoPerson{"U0NINA", "nina", "nina@example.com", "UTC"}
	for _, p := range []demoPerson{omar, nina} {
		h.slack.AddUser(slacktest.User{ID: p.id, Name: p.name, Email: p.email, TZ: p.tz})
	}
	h.slack.AddUserGroup("S0ONCALL", "dba-oncall", omar.id)

	// Writes on Cluster0 are approved by whoever is on call: the Slack user
	// group @dba-oncall.
	cfg, err := os.ReadFile(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), "groups:\n", "groups:\n  oncall: [slack:dba-oncall]\n", 1) + `  - name: prod-write
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [readWrite]
    max_duration: 2h
    approvers: [group:oncall]
    require_reason: true
`
	if err := os.WriteFile(h.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	policy := h.main.Service().Policy()
	waitMembers := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(policy.GroupMembers("oncall"), want) {
			if time.Now().After(deadline) {
				t.Fatalf("group oncall: %v, want %v\nlogs:\n%s", policy.GroupMembers("oncall"), want, tail(h.logs.String(), 2000))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMembers(omar.email) // synced at start, not five minutes later

	h.slash(h.main.Addr(), alice, "request prod/Cluster0/sales/orders readWrite 1h INC-7 fix the index")
	card := h.waitDM(omar, "Approve")
	if !strings.Contains(card.AllText(), "readWrite") {
		t.Fatalf("omar's card:\n%s", card.AllText())
	}
	if len(h.slack.DMs(olivia.id)) != 0 {
		t.Fatalf("the cluster owner got a card for a flow only the on-call approves:\n%s", dump(h.slack.DMs(olivia.id)))
	}

	// The rota changes: the next sync follows it.
	h.slack.AddUserGroup("S0ONCALL", "dba-oncall", nina.id)
	h.main.SyncGroups()
	waitMembers(nina.email)

	// Slack fails: the group keeps its last members rather than emptying.
	down := func(context.Context, string) ([]string, error) { return nil, errors.New("slack is down") }
	if err := app.SyncUserGroups(h.ctx, policy, down, slog.New(slog.NewJSONHandler(h.logs, nil))); err == nil || !strings.Contains(err.Error(), "group oncall keeps its last members") {
		t.Fatalf("sync during an outage: %v", err)
	}
	waitMembers(nina.email)
	if !strings.Contains(h.logs.String(), `"msg":"slack user group sync failed"`) {
		t.Error("the failed sync was not logged")
	}
}

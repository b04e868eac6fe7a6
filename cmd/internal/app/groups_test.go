package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// A group that includes a Slack user group gets its members from Slack at
// start and on every sync; approval cards reach them; a failed sync keeps
// the last members.
func TestSlackUserGroupsApprove(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	omar := slacktest.User{ID: "U0OMAR", Name: "omar", Email: "omar@example.com", TZ: "UTC"}
	nina := slacktest.User{ID: "U0NINA", Name: "nina", Email: "nina@example.com", TZ: "UTC"}
	for _, p := range []slacktest.User{omar, nina} {
		h.Slack.AddUser(p)
	}
	h.Slack.AddUserGroup("S0ONCALL", "dba-oncall", omar.ID)

	// Writes on Cluster0 are approved by whoever is on call: the Slack user
	// group @dba-oncall.
	h.EditConfig("groups:\n", "groups:\n  oncall: [slack:dba-oncall]\n")
	h.EditConfig("flows:\n", `flows:
  - name: prod-write
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [readWrite]
    max_duration: 2h
    approvers: [group:oncall]
    require_reason: true
`)
	h.Start()
	policy := h.Main.Service().Policy()
	waitMembers := func(want ...string) {
		t.Helper()
		h.Eventually("group oncall is "+strings.Join(want, ", "), func() bool { return slices.Equal(policy.GroupMembers("oncall"), want) })
	}
	waitMembers(omar.Email) // synced at start, not five minutes later

	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders readWrite 1h INC-7 fix the index")
	card := h.WaitDM(omar, "Approve")
	if !strings.Contains(card.AllText(), "readWrite") {
		t.Fatalf("omar's card:\n%s", card.AllText())
	}
	if len(h.Slack.DMs(rig.Olivia.ID)) != 0 {
		t.Fatalf("the cluster owner got a card for a flow only the on-call approves:\n%s", rigtest.Dump(h.Slack.DMs(rig.Olivia.ID)))
	}

	// The rota changes: the next sync follows it.
	h.Slack.AddUserGroup("S0ONCALL", "dba-oncall", nina.ID)
	h.Main.SyncGroups()
	waitMembers(nina.Email)

	// Slack fails: the group keeps its last members rather than emptying.
	down := func(context.Context, string) ([]string, error) { return nil, errors.New("slack is down") }
	if err := app.SyncUserGroups(h.Ctx, policy, down, h.Log); err == nil || !strings.Contains(err.Error(), "group oncall keeps its last members") {
		t.Fatalf("sync during an outage: %v", err)
	}
	waitMembers(nina.Email)
	if !strings.Contains(h.Logs(), `"msg":"slack user group sync failed"`) {
		t.Error("the failed sync was not logged")
	}
}

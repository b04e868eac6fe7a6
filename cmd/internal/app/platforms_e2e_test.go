package app_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// TestAskedInSlackApprovedInTeams: the chat engine serves both platforms at
// once. A request made in Slack is approved in Teams by the cluster's owner,
// who has left the Slack workspace: the approval card reaches her in Teams
// only and is updated there after her decision, and the credentials go to
// the requester in Slack, where she asked, never to her Teams chat, although
// she has one.
func TestAskedInSlackApprovedInTeams(t *testing.T) {
	h := rigtest.New(t, nil)
	gone := rig.Olivia
	gone.Deleted = true
	h.Slack.AddUser(gone)
	aliceTeams := teamstest.Member{ID: "29:alice", Name: "Alice", Email: rig.Alice.Email, AadObjectID: "aad-alice"}
	const aliceConv = "a:alice-1on1"
	h.BF.AddMember(teamstest.AllConversations, aliceTeams)
	h.Start()
	addr := h.Addr()

	// Both write to the bot in Teams once, so that it may write to them there.
	h.TeamsSay(addr, rig.OliviaInTeams, rig.OliviaConv, "access help")
	h.WaitTeams(func(a teamstest.Activity) bool { return a.ConversationID == rig.OliviaConv })
	h.TeamsSay(addr, aliceTeams, aliceConv, "access help")
	h.WaitTeams(func(a teamstest.Activity) bool { return a.ConversationID == aliceConv })

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-42")
	card := h.WaitTeams(func(a teamstest.Activity) bool {
		_, ok := teamstest.FindAction(firstCard(a), "Approve")
		return a.ConversationID == rig.OliviaConv && a.Op == teamstest.OpSend && ok
	})
	if r := onlyRequest(h); r.Origin != "slack" {
		t.Fatalf("origin %q", r.Origin)
	}
	if dms := h.Slack.DMs(rig.Olivia.ID); len(dms) != 0 {
		t.Fatalf("Slack wrote to the owner, who left the workspace: %d messages", len(dms))
	}

	approve, _ := teamstest.FindAction(firstCard(card), "Approve")
	resp, err := h.BF.Deliver(h.Ctx, h.URL("/teams/messages"), h.BF.Submit(rig.OliviaConv, rig.OliviaInTeams, card.ActivityID, approve.Data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	creds := h.WaitDM(rig.Alice, "Password")
	if users := h.Atlas.Users(rig.Project); len(users) != 1 || !strings.Contains(creds.AllText(), users[0].Username) {
		t.Fatalf("Atlas users %+v; credentials:\n%s", users, creds.AllText())
	}
	h.WaitTeams(func(a teamstest.Activity) bool {
		return a.Op == teamstest.OpUpdate && a.ActivityID == card.ActivityID && strings.Contains(cardsText(a), "Approved by olivia@example.com")
	})
	for _, a := range h.BF.ActivitiesIn(aliceConv) {
		if text := a.Activity.Text + cardsText(a); strings.Contains(text, "Access granted") || strings.Contains(text, "Password") {
			t.Fatalf("Teams told the Slack requester:\n%s", text)
		}
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// TestAskedInSlackApprovedInTeams: the chat engine serves both platforms at once. A request
// made in Slack is approved in Teams by the cluster's owner, who is not a member of the Slack
// workspace: the approval card reaches her in Teams only and is updated there after her
// decision, and the credentials go to the requester in Slack, where she asked, never to her
// Teams chat, although she has one.
func TestAskedInSlackApprovedInTeams(t *testing.T) {
	h := newHarness(t, nil)
	h.slack.AddUser(slacktest.User{ID: olivia.id, Name: olivia.name, Email: olivia.email, TZ: olivia.tz, Deleted: true})
	aliceTeams := teamstest.Member{ID: "29:alice", Name: "Alice", Email: alice.email, AadObjectID: "aad-alice"}
	const aliceConv = "a:alice-1on1"
	h.bf.AddMember(teamstest.AllConversations, aliceTeams)
	h.start()
	addr := h.main.Addr()

	// Both write to the bot in Teams once, so that it may write to them there.
	h.teams(addr, "access help")
	h.waitTeams(func(a teamstest.Activity) bool { return a.ConversationID == oliviaConv })
	resp, err := h.bf.Deliver(h.ctx, h.url("/teams/messages"), h.bf.Message(aliceConv, aliceTeams, "access help"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.waitTeams(func(a teamstest.Activity) bool { return a.ConversationID == aliceConv })

	h.slash(addr, alice, "request prod/Cluster0/sales/orders read 1h INC-42")
	card := h.waitTeams(func(a teamstest.Activity) bool {
		_, ok := teamstest.FindAction(firstCard(a), "Approve")
		return a.ConversationID == oliviaConv && a.Op == teamstest.OpSend && ok
	})
	r := h.onlyRequest()
	if r.Origin != "slack" {
		t.Fatalf("origin %q", r.Origin)
	}
	if dms := h.slack.DMs(olivia.id); len(dms) != 0 {
		t.Fatalf("Slack wrote to the owner, who left the workspace:\n%s", dump(dms))
	}

	approve, _ := teamstest.FindAction(firstCard(card), "Approve")
	resp, err = h.bf.Deliver(h.ctx, h.url("/teams/messages"), h.bf.Submit(oliviaConv, oliviaTeams, card.ActivityID, approve.Data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	creds := h.waitDM(alice, "Password")
	if users := h.atlas.Users(testProject); len(users) != 1 || !strings.Contains(creds.AllText(), users[0].Username) {
		t.Fatalf("Atlas users %+v; credentials:\n%s", users, creds.AllText())
	}
	h.waitTeams(func(a teamstest.Activity) bool {
		return a.Op == teamstest.OpUpdate && a.ActivityID == card.ActivityID && strings.Contains(cardsText(a), "Approved by olivia@example.com")
	})
	for _, a := range h.bf.ActivitiesIn(aliceConv) {
		if text := a.Activity.Text + cardsText(a); strings.Contains(text, "Access granted") || strings.Contains(text, "Password") {
			t.Fatalf("Teams told the Slack requester:\n%s", text)
		}
	}
}

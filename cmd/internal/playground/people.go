package playground

import (
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// pane is one person on one platform, as the page shows them; the
// approvals channel is a pane of its own.
type pane struct {
	ID       string `json:"id"` // slack-alice, teams-bob, channel-db-access
	Platform string `json:"platform"`
	Name     string `json:"name"`
	About    string `json:"about"`
	// slack is the person in Slack; teams and conv the person in Teams and
	// their one-to-one chat with the bot; channel a Slack channel id.
	slack   *slacktest.User
	teams   *teamstest.Member
	conv    string
	channel string
}

// cast are the panes of the rig's world: its people where they talk to
// jitbot, and the approvals channel.
func cast(r *rig.Rig) []*pane {
	slackPane := func(u slacktest.User, about string) *pane {
		return &pane{ID: "slack-" + u.Name, Platform: "slack", Name: u.Name, About: about + " · Slack time zone " + u.TZ, slack: &u}
	}
	var out []*pane
	if r.Slack != nil {
		out = append(out,
			slackPane(rig.Alice, "asks for access"),
			slackPane(rig.Olivia, "owns Cluster0, approves"))
	}
	if r.BF != nil {
		olivia, bob := rig.OliviaInTeams, rig.BobInTeams
		out = append(out,
			&pane{ID: "teams-olivia", Platform: "teams", Name: "olivia", About: "owns Cluster0, approves · Teams shows UTC", teams: &olivia, conv: rig.OliviaConv},
			&pane{ID: "teams-bob", Platform: "teams", Name: "bob", About: "asks for access · Teams shows UTC", teams: &bob, conv: rig.BobConv})
	}
	if r.Slack != nil {
		out = append(out,
			slackPane(rig.Dana, "jitbot's admin"),
			&pane{ID: "channel-db-access", Platform: "channel", Name: "#db-access", About: "a copy of every approval card · UTC", channel: rig.ApprovalsChannel})
	}
	return out
}

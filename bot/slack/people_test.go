package slack

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

func TestWorkspaceMember(t *testing.T) {
	home := workspace{teamID: "T0HOME"}
	grid := workspace{teamID: "T0HOME", enterpriseID: "E0ORG"}
	tests := []struct {
		name string
		ws   workspace
		u    slackgo.User
		want bool
	}{
		{"member", home, slackgo.User{TeamID: "T0HOME"}, true},
		{"multi-channel guest", home, slackgo.User{TeamID: "T0HOME", IsRestricted: true}, false},
		{"single-channel guest", home, slackgo.User{TeamID: "T0HOME", IsUltraRestricted: true}, false},
		{"stranger", home, slackgo.User{TeamID: "T0HOME", IsStranger: true}, false},
		{"another workspace", home, slackgo.User{TeamID: "T0OTHER"}, false},
		{"no team", home, slackgo.User{}, false},
		{"unknown workspace", workspace{}, slackgo.User{}, false},
		{"grid: same organisation", grid, slackgo.User{TeamID: "T0SISTER", Enterprise: slackgo.EnterpriseUser{EnterpriseID: "E0ORG"}}, true},
		{"grid: another organisation", grid, slackgo.User{TeamID: "T0OTHER", Enterprise: slackgo.EnterpriseUser{EnterpriseID: "E0OTHER"}}, false},
		{"grid: guest of the organisation", grid, slackgo.User{TeamID: "T0HOME", IsRestricted: true, Enterprise: slackgo.EnterpriseUser{EnterpriseID: "E0ORG"}}, false},
		{"not a grid", home, slackgo.User{TeamID: "T0OTHER", Enterprise: slackgo.EnterpriseUser{}}, false},
	}
	for _, tt := range tests {
		if got := tt.ws.member(&tt.u); got != tt.want {
			t.Errorf("%s: member = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Guests and people from other organisations neither request nor approve,
// through any way in, and no card is routed to them by email, even with
// requesters: ["*"] and an approver group naming their email. Carol, a DBA,
// is made each kind of outsider in turn.
func TestOutsidersAreRefused(t *testing.T) {
	kinds := []struct {
		name string
		mark func(*slacktest.User)
	}{
		{"multi-channel guest", func(u *slacktest.User) { u.IsRestricted = true }},
		{"single-channel guest", func(u *slacktest.User) { u.IsUltraRestricted = true }},
		{"slack connect user", func(u *slacktest.User) { u.TeamID = "T0PARTNER" }},
		{"stranger", func(u *slacktest.User) { u.TeamID, u.IsStranger = "T0PARTNER", true }},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			h := newHarness(t, withQuorum(2)) // bob and carol approve
			outsider := carol
			kind.mark(&outsider)
			h.slack.AddUser(outsider)

			// Alice asks: bob gets a card, carol none, though her email
			// is an approver's.
			h.slash(alice, `request prod/Cluster0/sales read 1h "INC-7"`)
			r := h.only(alice.Email)
			if n := len(h.dms(bob)); n != 1 {
				t.Fatalf("bob got %d cards", n)
			}
			if ms := h.dms(outsider); len(ms) != 0 {
				t.Errorf("a card was routed to the %s: %+v", kind.name, ms)
			}

			// She cannot approve from bob's card.
			card := h.lastDM(bob)
			ru := h.click(outsider, card, "approve:"+string(r.ID))
			if got := h.get(string(r.ID)).Approvals; len(got) != 0 {
				t.Errorf("the %s approved: %+v", kind.name, got)
			}
			refusedHere(t, h, ru)

			// Nor deny: known now, she is refused without a form.
			views := len(h.slack.Views())
			ru = h.click(outsider, card, "deny:"+string(r.ID))
			if n := len(h.slack.Views()); n != views {
				t.Errorf("a deny form opened for the %s", kind.name)
			}
			refusedHere(t, h, ru)

			// Nor ask, by command or form.
			_, ru = h.slash(outsider, `request prod/Cluster0/sales read 1h "INC-8"`)
			refusedHere(t, h, ru)
			if rs, _ := h.svc.Mine(h.ctx, carol.Email); len(rs) != 0 {
				t.Errorf("the %s made a request: %+v", kind.name, rs)
			}
			h.slash(outsider, "")
			if v := h.slack.Views(); len(v) == 0 || v[len(v)-1].Method != "views.update" || !strings.Contains(v[len(v)-1].AllText(), outsiderMessage) {
				t.Errorf("request form for the %s: %+v", kind.name, v)
			}

			// A user group holding her does not make her an approver.
			h.slack.AddUserGroup("S0DBA", "dba", bob.ID, outsider.ID)
			if got, err := h.bot.UserGroupMembers(h.ctx, "dba"); err != nil || !slices.Equal(got, []string{bob.Email}) {
				t.Errorf("user group members %v, %v", got, err)
			}
			if r := h.get(string(r.ID)); len(r.Approvals) != 0 {
				t.Errorf("approvals %+v", r.Approvals)
			}
		})
	}
}

// refusedHere checks that the last answer on a response_url is the
// outsiders' refusal, shown only to them.
func refusedHere(t *testing.T, h *harness, responseURL string) {
	t.Helper()
	post := h.outcome(responseURL)
	if post.ResponseType != slackgo.ResponseTypeEphemeral || !strings.Contains(post.AllText(), outsiderMessage) {
		t.Errorf("answer on the response_url: %s %q", post.ResponseType, post.AllText())
	}
}

// The workspace comes from auth.test, asked once, or from Ping; until
// Slack names it nobody is looked up (and so nobody is let in).
func TestWorkspaceFromAuthTest(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, "list")
	h.slash(bob, "list")
	calls := h.slack.Calls()
	if len(calls) < 2 || calls[0].Method != "auth.test" || calls[1].Method != "users.info" || len(h.slack.CallsTo("auth.test")) != 1 {
		t.Errorf("calls: %v", methods(calls))
	}

	// Ping tells the directory, so the first lookup needs no auth.test.
	h2 := newHarness(t)
	if err := h2.bot.Ping(h2.ctx); err != nil {
		t.Fatal(err)
	}
	h2.slash(alice, "list")
	if n := len(h2.slack.CallsTo("auth.test")); n != 1 {
		t.Errorf("auth.test called %d times", n)
	}

	// Slack not answering auth.test: refused as unavailable, and nobody is
	// looked up.
	h3 := newHarness(t)
	h3.slack.RateLimit("auth.test", 100, time.Second)
	h3.bot.sleep = func(context.Context, time.Duration) error { return nil }
	_, ru := h3.slash(alice, "list")
	h3.retryAll() // unavailable is retried before the person is told
	if got := h3.outcome(ru).AllText(); !strings.Contains(got, "could not look you up in Slack right now") {
		t.Errorf("without the workspace: %q", got)
	}
	if n := len(h3.slack.CallsTo("users.info")); n != 0 {
		t.Errorf("users.info called %d times without the workspace", n)
	}
}

func methods(calls []slacktest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

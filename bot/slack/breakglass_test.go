package slack

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

func withBreakGlass() option {
	return func(s *setup) {
		s.spec.Flows = append(s.spec.Flows, flows.FlowSpec{
			Name: "prod-breakglass", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"}, Roles: []string{"readWrite"},
			BreakGlass: &flows.BreakGlassSpec{Reviewers: []string{"user:carol@example.com"}, Channel: "#security", ReviewWithin: "4h", RemindAfter: "1h"},
		})
	}
}

// TestBreakGlassJourney: alice breaks glass; access comes at once without
// approval; the owners, the admin, the reviewer and #security are
// alerted; the credentials say break-glass; the reviewer is reminded until
// she reviews through the note form, which only a reviewer can use.
func TestBreakGlassJourney(t *testing.T) {
	h := newHarness(t, withBreakGlass())
	h.slack.AddChannel("CSECURITY", "#security")
	ack, ru := h.slash(alice, `breakglass prod/Cluster0/sales readWrite 1h "INC-9 primary down, nobody answers"`)
	if ack.Text != "Working on it…" {
		t.Fatalf("ack = %+v", ack)
	}
	r := h.only("alice@example.com")
	if r.State != flows.StateActive || r.BreakGlass == nil || len(r.Approvals) != 0 {
		t.Fatalf("the use: %+v", r)
	}
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "Break glass: access without approval") || !strings.Contains(out.AllText(), "BREAK-GLASS") {
		t.Errorf("outcome:\n%s", out.AllText())
	}
	// The credentials, marked.
	var creds slacktest.Message
	for _, m := range h.dms(alice) {
		if strings.Contains(m.AllText(), "Access granted") {
			creds = m
		}
	}
	if !strings.Contains(creds.AllText(), "BREAK-GLASS: taken without approval") || !strings.Contains(creds.AllText(), "review by carol@example.com") {
		t.Errorf("credentials:\n%s", creds.AllText())
	}
	// Loud: the owners (bob, carol: group dba), the admin (dave), the channel.
	for _, u := range []slacktest.User{bob, dave} {
		alert := h.lastDM(u)
		if !strings.Contains(alert.AllText(), "BREAK-GLASS: alice@example.com took access without approval") || !slices.Equal(actionIDs(alert), []string{"revoke:" + string(r.ID)}) {
			t.Errorf("%s's alert %v:\n%s", u.Name, actionIDs(alert), alert.AllText())
		}
	}
	review := h.lastDM(carol)
	if !slices.Equal(actionIDs(review), []string{"review:" + string(r.ID)}) {
		t.Fatalf("the reviewer's alert %v:\n%s", actionIDs(review), review.AllText())
	}
	if posted := h.channelMessages("CSECURITY"); len(posted) != 1 || len(posted[0].Buttons()) != 0 || !strings.Contains(posted[0].AllText(), "INC-9 primary down") {
		t.Fatalf("#security: %+v", posted)
	}
	// An owner, alerted, may revoke it.
	h.click(bob, h.lastDM(bob), "revoke:"+string(r.ID))
	if st := h.get(string(r.ID)).State; st != flows.StateRevoked {
		t.Fatalf("after the owner's revoke: %s", st)
	}
	// A second use within the day is refused.
	_, ru = h.slash(alice, `breakglass prod/Cluster0/sales readWrite 1h "again"`)
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "allows it once per 1d") {
		t.Errorf("second use:\n%s", out.AllText())
	}

	// An hour on, the reviewer is reminded.
	h.sweepAt(r.CreatedAt.Add(time.Hour))
	if remind := h.lastDM(carol); !strings.Contains(remind.AllText(), "Review due: break-glass request "+string(r.ID)) {
		t.Fatalf("reminder:\n%s", remind.AllText())
	}
	// Someone else's review click opens the form, and the server refuses it.
	h.click(bob, review, "review:"+string(r.ID))
	views := h.slack.Views()
	submit := func(u slacktest.User, v slacktest.View, note string) (int, []byte) {
		return h.interact(slacktest.ViewSubmission(slacktest.Submission{
			UserID: u.ID, TeamID: h.slack.TeamID(), ViewID: v.ID, CallbackID: v.CallbackID, PrivateMetadata: v.PrivateMetadata,
			Values: map[string]map[string]slackgo.BlockAction{fieldReason: {fieldReason: slacktest.TextValue(note)}},
		}))
	}
	if status, body := submit(bob, views[len(views)-1], "looks fine"); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("bob's note: %d %s", status, body)
	}
	h.idle()
	if v := h.get(string(r.ID)).BreakGlass; v.Reviewed() {
		t.Fatal("bob, no reviewer, reviewed it")
	}
	h.click(carol, review, "review:"+string(r.ID))
	views = h.slack.Views()
	form := views[len(views)-1]
	if form.Method != "views.open" || !strings.Contains(form.AllText(), "Review break-glass request "+string(r.ID)) || !strings.Contains(form.AllText(), "INC-9") {
		t.Fatalf("review form %+v:\n%s", form, form.AllText())
	}
	if status, body := submit(carol, form, "  "); status != http.StatusOK || !strings.Contains(string(body), "Write a note") {
		t.Fatalf("an empty note: %d %s", status, body)
	}
	if status, body := submit(carol, form, "checked the session: the failover of INC-9"); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("note: %d %s", status, body)
	}
	h.idle()
	v := h.get(string(r.ID)).BreakGlass
	if v.ReviewedBy != "carol@example.com" || v.Note != "checked the session: the failover of INC-9" {
		t.Fatalf("review: %+v", v)
	}
	if told := h.lastDM(alice); !strings.Contains(told.AllText(), "Break-glass use reviewed") {
		t.Errorf("requester told:\n%s", told.AllText())
	}
	// No more reminders.
	before := len(h.dms(carol))
	h.sweepAt(r.CreatedAt.Add(3 * time.Hour))
	if n := len(h.dms(carol)); n != before {
		t.Errorf("reminded after the review: %d DMs, had %d", n, before)
	}
	h.noViolations()
}

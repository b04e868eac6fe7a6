package slack

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// filledInputs reads what a modal's inputs hold: initial options and values.
func filledInputs(t *testing.T, v slacktest.View) map[string]string {
	t.Helper()
	var m struct {
		Blocks []struct {
			BlockID string `json:"block_id"`
			Element struct {
				Initial *struct{ Value string } `json:"initial_option"`
				Value   string                  `json:"initial_value"`
			} `json:"element"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(v.JSON, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range m.Blocks {
		field, _, _ := strings.Cut(b.BlockID, ":")
		switch {
		case b.Element.Initial != nil:
			out[field] = b.Element.Initial.Value
		case b.Element.Value != "":
			out[field] = b.Element.Value
		}
	}
	return out
}

// TestRequestAgainJourney: the expiry message offers Request again; the
// click opens the request form filled in as the request was (views.open,
// then the form through the inbox and the outbox), and submitting it makes
// a new request. list offers it too, `again <id>` submits at once, and
// someone else's click or id answers as for an unknown id.
func TestRequestAgainJourney(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, `request prod/Cluster0/sales/orders read 2h "INC-7 the nightly export"`)
	old := h.only("alice@example.com")
	h.click(bob, h.lastDM(bob), "approve:"+string(old.ID))
	h.sweepAt(h.get(string(old.ID)).ExpiresAt)
	if st := h.get(string(old.ID)).State; st != flows.StateExpired {
		t.Fatalf("the old request is %s", st)
	}
	expiry := h.lastDM(alice)
	again := "again:" + string(old.ID)
	if !strings.Contains(expiry.AllText(), "Access expired") || !slices.Equal(actionIDs(expiry), []string{again}) {
		t.Fatalf("expiry message %v:\n%s", actionIDs(expiry), expiry.AllText())
	}

	// Someone else's click learns nothing of the request.
	h.click(carol, expiry, again)
	h.idle()
	views := h.slack.Views()
	if len(views) != 2 || views[0].Method != "views.open" || views[1].Method != "views.update" ||
		!strings.Contains(views[1].AllText(), "there is no request "+string(old.ID)+" that you can see") {
		t.Fatalf("carol's form: %+v", views)
	}

	h.click(alice, expiry, again)
	h.idle()
	views = h.slack.Views()
	form := views[len(views)-1]
	if len(views) != 4 || views[2].Method != "views.open" || form.Method != "views.update" || form.CallbackID != requestCallback {
		t.Fatalf("alice's form: %+v", views)
	}
	want := map[string]string{fieldResource: "database_user:prod/Cluster0/sales/orders", fieldRole: "read", fieldDuration: "2h", fieldReason: "INC-7 the nightly export"}
	if got := filledInputs(t, form); !mapsEqual(got, want) {
		t.Fatalf("the form holds %v, want %v", got, want)
	}
	// Submitted as filled in (a person may change anything first).
	state := map[string]map[string]slackgo.BlockAction{}
	m := decodeModal(t, form)
	for field, v := range want {
		_, block, _ := m.block(field)
		if field == fieldResource || field == fieldRole || field == fieldDuration {
			state[block] = map[string]slackgo.BlockAction{block: slacktest.OptionValue(v)}
		} else {
			state[block] = map[string]slackgo.BlockAction{field: slacktest.TextValue(v)}
		}
	}
	if status, body := h.interact(slacktest.ViewSubmission(slacktest.Submission{
		UserID: alice.ID, TeamID: h.slack.TeamID(), ViewID: form.ID, CallbackID: requestCallback, Values: state, PrivateMetadata: form.PrivateMetadata,
	})); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("submit: %d %s", status, body)
	}
	h.idle()
	fresh := h.only("alice@example.com")
	if fresh.ID == old.ID || fresh.State != flows.StatePending || fresh.Resource.String() != "prod/Cluster0/sales/orders" || fresh.Duration != 2*time.Hour ||
		fresh.Reason != old.Reason || !slices.Equal(fresh.Roles, []string{"read"}) {
		t.Fatalf("the new request: %+v", fresh)
	}
	if _, err := h.svc.Cancel(h.ctx, fresh.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}

	// list offers it; again <id> submits at once.
	_, ru := h.slash(alice, "list")
	if out := h.outcome(ru); !strings.Contains(string(out.Body), `"action_id":"`+again+`"`) {
		t.Fatalf("list:\n%s", out.Body)
	}
	// So does the App Home.
	ov, err := h.engine.Overview(h.ctx, bot.Actor{Platform: Platform, Email: "alice@example.com", UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	home, _ := json.Marshal(homeBlocks("/access", ov))
	if !strings.Contains(string(home), "Ended recently") || !strings.Contains(string(home), `"action_id":"`+again+`"`) {
		t.Fatalf("home:\n%s", home)
	}
	_, ru = h.slash(carol, "again "+string(old.ID))
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "there is no request "+string(old.ID)+" that you can see") {
		t.Fatalf("carol's again:\n%s", out.AllText())
	}
	_, ru = h.slash(alice, "again "+string(old.ID))
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "sent for approval") {
		t.Fatalf("again:\n%s", out.AllText())
	}
	h.noViolations()
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

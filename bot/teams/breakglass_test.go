package teams

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBreakGlassReviewInTeams: the reviewer's alert carries Review, which
// asks for the note in the card; the review is recorded with it.
func TestBreakGlassReviewInTeams(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.install(carol, carolConv)
	p, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{"admin@example.com"},
		Groups:       map[string][]string{"dba": {"owner@example.com", "carol@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"user:owner@example.com"}}},
		Flows: []flows.FlowSpec{{
			Name: "prod-breakglass", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/*"}, Roles: []string{"readWrite"},
			BreakGlass: &flows.BreakGlassSpec{Reviewers: []string{"user:carol@example.com"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	h.say(alice, aliceConv, "access breakglass "+orders+" readWrite 1h INC-9 primary down")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if r.State != flows.StateActive || r.BreakGlass == nil {
		t.Fatalf("the use: %+v", r)
	}
	alerts := h.sentWith(carolConv, "BREAK-GLASS: alice@example.com took access without approval")
	if len(alerts) != 1 {
		t.Fatalf("carol's alerts: %d", len(alerts))
	}
	card := alerts[0].Cards()[0]
	if got := actionTitles(card); !slices.Equal(got, []string{"Review", "Reviewed"}) { // Review shows the note and Reviewed
		t.Fatalf("actions %v", got)
	}
	if !strings.Contains(string(mustMarshal(t, card)), `"isRequired":true`) {
		t.Fatalf("the note is not required:\n%s", mustMarshal(t, card))
	}
	reviewed := submitData(t, card, "Reviewed")
	if reviewed[dataKey] != "review:"+string(r.ID) {
		t.Fatalf("no Reviewed submit in the Review card: %v", reviewed)
	}
	reviewed[inputReason] = "checked: the failover of INC-9"
	h.click(carol, carolConv, alerts[0].ActivityID, reviewed)
	if v := h.request(string(r.ID)).BreakGlass; v.ReviewedBy != "carol@example.com" || v.Note != "checked: the failover of INC-9" {
		t.Fatalf("review: %+v", v)
	}
	if len(h.sentWith(carolConv, "Review recorded")) != 1 {
		t.Error("carol is not answered")
	}
	if told := h.sentWith(aliceConv, "Break-glass use reviewed"); len(told) != 1 || !strings.Contains(cardText(told[0].Cards()[0]), "reviewed by carol@example.com at") {
		t.Errorf("the requester is told of the review: %d", len(told))
	}
}

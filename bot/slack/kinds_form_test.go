package slack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// withKinds adds flows of Atlas UI access and network access to the
// harness's integration of one project.
func withKinds() option {
	return func(s *setup) {
		s.spec.Flows = append(s.spec.Flows,
			flows.FlowSpec{Name: "prod-ui", Kind: string(flows.KindAtlasUI), Integration: "prod", Requesters: []string{"*"},
				Resources: []string{"*"}, Roles: []string{"GROUP_READ_ONLY"}, MaxDuration: "4h", Approvers: []string{"integration-owners"}},
			flows.FlowSpec{Name: "prod-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"*"},
				AllowedCIDRs: []string{"203.0.113.0/24"}, Roles: []string{flows.RoleConnect}, MaxDuration: "2h", Approvers: []string{"integration-owners"}},
		)
	}
}

// formFlow drives the request form as a person does: open it, choose a
// kind (which lays it out again), and submit what the last layout asks.
type formFlow struct {
	t    *testing.T
	h    *harness
	view slacktest.View
}

func openForm(t *testing.T, h *harness) *formFlow {
	t.Helper()
	h.slash(alice, "")
	views := h.slack.Views()
	return &formFlow{t: t, h: h, view: views[len(views)-1]}
}

func (f *formFlow) chooseKind(kind flows.Kind) modalJSON {
	h := f.h
	h.t.Helper()
	cb := &slackgo.InteractionCallback{
		Type: slackgo.InteractionTypeBlockActions, User: slackgo.User{ID: alice.ID}, Team: slackgo.Team{ID: h.slack.TeamID()},
		View: slackgo.View{ID: f.view.ID, Hash: f.view.Hash, Type: slackgo.VTModal, CallbackID: requestCallback}, ActionTs: "1.000001",
	}
	cb.ActionCallback.BlockActions = []*slackgo.BlockAction{{ActionID: fieldKind, BlockID: fieldKind, ActionTs: "1.000001",
		SelectedOption: slackgo.OptionBlockObject{Value: string(kind)}}}
	if status, body := h.interact(cb); status != http.StatusOK || len(body) != 0 {
		h.t.Fatalf("dispatch ack: %d %s", status, body)
	}
	h.idle()
	views := h.slack.Views()
	if last := views[len(views)-1]; last.Method != "views.update" || last.ID != f.view.ID {
		h.t.Fatalf("no views.update after choosing %s: %+v", kind, last)
	}
	f.view = views[len(views)-1]
	return decodeModal(f.t, f.view)
}

// submit sends values (field → value) in the blocks the last layout has.
func (f *formFlow) submit(values map[string]string) (int, []byte) {
	h := f.h
	h.t.Helper()
	m := decodeModal(f.t, f.view)
	state := map[string]map[string]slackgo.BlockAction{}
	for field, v := range values {
		_, block, ok := m.block(field)
		if !ok {
			h.t.Fatalf("the form has no %s input: %+v", field, m)
		}
		if field == fieldAddress || field == fieldReason {
			state[block] = map[string]slackgo.BlockAction{block: slacktest.TextValue(v)}
		} else {
			state[block] = map[string]slackgo.BlockAction{block: slacktest.OptionValue(v)}
		}
	}
	return h.interact(slacktest.ViewSubmission(slacktest.Submission{
		UserID: alice.ID, TeamID: h.slack.TeamID(), ViewID: f.view.ID, CallbackID: requestCallback, Values: state, PrivateMetadata: m.PrivateMetadata,
	}))
}

// TestAtlasUIAccessThroughTheForm: Atlas UI access chosen in the form goes
// end to end: the request, the approver's card naming the kind, the grant
// on approval, its removal at the end.
func TestAtlasUIAccessThroughTheForm(t *testing.T) {
	h := newHarness(t, withKinds())
	f := openForm(t, h)
	m := f.chooseKind(flows.KindAtlasUI)
	if _, _, ok := m.block(fieldAddress); ok {
		t.Fatalf("Atlas UI access asks for an address: %+v", m)
	}
	if status, body := f.submit(map[string]string{fieldResource: "atlas_ui:prod", fieldRole: "GROUP_READ_ONLY", fieldDuration: "1h", fieldReason: "INC-9"}); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("submit: %d %s", status, body)
	}
	r := h.only("alice@example.com")
	if r.Kind != flows.KindAtlasUI || r.State != flows.StatePending || r.Resource.String() != "prod" || r.Reason != "INC-9" {
		t.Fatalf("request %+v", r)
	}
	card := h.lastDM(bob)
	if text := card.AllText(); !strings.Contains(text, "alice@example.com asks for Atlas UI access: GROUP_READ_ONLY on prod for 1h") || !strings.Contains(text, "*Access*\nAtlas UI access") {
		t.Fatalf("the approval card:\n%s", text)
	}
	h.click(bob, card, "approve:"+string(r.ID))
	if r = h.get(string(r.ID)); r.State != flows.StateActive {
		t.Fatalf("after approval: %s (%s)", r.State, r.LastError)
	}
	var created flows.Grant
	for _, c := range h.prov.Calls() {
		if c.Op == "create" {
			created = c.Grant
		}
	}
	if created.Kind != flows.KindAtlasUI || created.Principal != "alice@example.com" || created.Resource.ProjectID != "5cf5a45a9ccf6400e60981b6" {
		t.Fatalf("the grant made: %+v", created)
	}
	if dm := h.lastDM(alice); !strings.Contains(dm.AllText(), "Atlas UI access: GROUP_READ_ONLY on prod") {
		t.Fatalf("alice's message:\n%s", dm.AllText())
	}
	h.sweepAt(r.ExpiresAt)
	if r = h.get(string(r.ID)); r.State != flows.StateExpired || h.prov.Count("delete") != 1 {
		t.Fatalf("after expiry: %s, %d deletes", r.State, h.prov.Count("delete"))
	}
	h.noViolations()
}

// TestNetworkAccessFormShowsAddressErrors: a bad address typed in the form
// is answered beside the address input, and the modal stays open; a good
// one makes the request.
func TestNetworkAccessFormShowsAddressErrors(t *testing.T) {
	h := newHarness(t, withKinds())
	f := openForm(t, h)
	m := f.chooseKind(flows.KindAccessListEntry)
	_, addrBlock, ok := m.block(fieldAddress)
	if !ok {
		t.Fatalf("network access asks for no address: %+v", m)
	}
	for address, says := range map[string]string{
		"0.0.0.0/0":     "0.0.0.0/0 is every address on the internet",
		"203.0.113.300": `"203.0.113.300" is not an IP address or a CIDR range`,
		"":              "Type the address you connect from",
	} {
		status, body := f.submit(map[string]string{fieldResource: "access_list_entry:prod", fieldAddress: address, fieldRole: flows.RoleConnect, fieldDuration: "1h"})
		var resp slackgo.ViewSubmissionResponse
		if err := json.Unmarshal(body, &resp); status != http.StatusOK || err != nil || resp.ResponseAction != slackgo.RAErrors || !strings.Contains(resp.Errors[addrBlock], says) {
			t.Errorf("address %q: %d %s", address, status, body)
		}
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 0 {
		t.Fatalf("a bad address made a request: %+v", rs)
	}
	if status, body := f.submit(map[string]string{fieldResource: "access_list_entry:prod", fieldAddress: "203.0.113.7", fieldRole: flows.RoleConnect, fieldDuration: "1h"}); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("a good address: %d %s", status, body)
	}
	if r := h.only("alice@example.com"); r.Kind != flows.KindAccessListEntry || r.Resource.Address != "203.0.113.7/32" {
		t.Fatalf("request %+v", r)
	}
	h.noViolations()
}

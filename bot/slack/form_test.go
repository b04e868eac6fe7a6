package slack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

type modalJSON struct {
	Blocks []struct {
		BlockID  string `json:"block_id"`
		Optional bool   `json:"optional"`
		Dispatch bool   `json:"dispatch_action"`
		Element  struct {
			Options []struct{ Value string } `json:"options"`
			Initial *struct{ Value string }  `json:"initial_option"`
		} `json:"element"`
	} `json:"blocks"`
	PrivateMetadata string `json:"private_metadata"`
}

func decodeModal(t *testing.T, v slacktest.View) modalJSON {
	t.Helper()
	var m modalJSON
	if err := json.Unmarshal(v.JSON, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// block finds a field's block (its id is the field, or the field and a suffix).
func (m modalJSON) block(field string) (int, string, bool) {
	for i, b := range m.Blocks {
		if b.BlockID == field || strings.HasPrefix(b.BlockID, field+":") {
			return i, b.BlockID, true
		}
	}
	return -1, "", false
}

func TestRequestFormFollowsTheResourceChosen(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, "")
	view := h.slack.Views()[1]
	form := decodeModal(t, view)
	i, resBlock, ok := form.block(fieldResource)
	if !ok || !form.Blocks[i].Dispatch {
		t.Fatalf("no dispatching resource select: %+v", form)
	}
	choose := func(value, ts string) slacktest.View {
		t.Helper()
		cb := &slackgo.InteractionCallback{
			Type: slackgo.InteractionTypeBlockActions, User: slackgo.User{ID: alice.ID}, Team: slackgo.Team{ID: h.slack.TeamID()},
			View: slackgo.View{ID: view.ID, Hash: view.Hash, Type: slackgo.VTModal, CallbackID: requestCallback}, ActionTs: ts,
		}
		cb.ActionCallback.BlockActions = []*slackgo.BlockAction{{ActionID: resBlock, BlockID: resBlock, ActionTs: ts,
			SelectedOption: slackgo.OptionBlockObject{Value: value}}}
		if status, body := h.interact(cb); status != 200 || len(body) != 0 {
			t.Fatalf("dispatch ack: %d %s", status, body)
		}
		h.idle()
		views := h.slack.Views()
		last := views[len(views)-1]
		if last.Method != "views.update" || last.ID != view.ID {
			t.Fatalf("no views.update after the choice: %+v", last)
		}
		view = last
		return last
	}
	// Choosing a resource lays the form out again (through the inbox and
	// the outbox) with its roles and its durations.
	got := decodeModal(t, choose("database_user:prod/Cluster0/sales/orders", "1.000001"))
	ri, _, ok := got.block(fieldRole)
	di, _, ok2 := got.block(fieldDuration)
	if !ok || !ok2 {
		t.Fatalf("no role or duration after the choice: %+v", got)
	}
	var roles, durations []string
	for _, o := range got.Blocks[ri].Element.Options {
		roles = append(roles, o.Value)
	}
	for _, o := range got.Blocks[di].Element.Options {
		durations = append(durations, o.Value)
	}
	if !slices.Equal(roles, []string{"read", "readWrite"}) || !slices.Equal(durations, []string{"15m", "30m", "1h", "2h", "4h", "8h"}) ||
		got.Blocks[di].Element.Initial == nil || got.Blocks[di].Element.Initial.Value != "1h" {
		t.Errorf("roles %v durations %v", roles, durations)
	}
	if i, _, _ := got.block(fieldReason); got.Blocks[i].Optional || !strings.Contains(got.PrivateMetadata, `"reason":true`) {
		t.Errorf("the flow requires a reason: %+v %s", got.Blocks[i], got.PrivateMetadata)
	}
	if _, _, ok := got.block(fieldCollection); ok {
		t.Error("a collection input for a collection")
	}
	// A whole database offers to narrow it to a collection.
	got = decodeModal(t, choose("database_user:prod/Cluster0/sales", "1.000002"))
	if _, _, ok := got.block(fieldCollection); !ok {
		t.Error("no collection input for a database")
	}
	// A choice the form never offered (forged) lays it out with nothing
	// chosen: no roles, no durations.
	got = decodeModal(t, choose("database_user:prod/Cluster9/secrets", "1.000003"))
	if _, _, ok := got.block(fieldRole); ok {
		t.Errorf("roles offered for a forged choice: %+v", got)
	}
	h.noViolations()
}

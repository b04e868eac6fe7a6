package teams

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// inputValues are the values a card's inputs hold.
func inputValues(card map[string]any) map[string]string {
	out := map[string]string{}
	body, _ := card["body"].([]any)
	for _, e := range body {
		if m, _ := e.(map[string]any); m["id"] != nil {
			if v, _ := m["value"].(string); v != "" {
				out[m["id"].(string)] = v
			}
		}
	}
	return out
}

// TestRequestAgainJourney: the expiry message offers Request again; the
// click answers with the request form's second card filled in as the
// request was, whose submission makes a new request. list offers it too,
// `again <id>` submits at once, and someone else's click or id answers as
// for an unknown id.
func TestRequestAgainJourney(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.install(carol, carolConv)
	h.say(alice, aliceConv, "access request "+orders+" read 2h INC-7 the nightly export")
	old := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	h.clock.Set(h.request(string(old.ID)).ExpiresAt)
	if _, err := h.svc.Sweep(h.ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	expired := h.sentWith(aliceConv, "Access expired: request "+string(old.ID))
	if len(expired) != 1 || !slices.Equal(actionTitles(expired[0].Cards()[0]), []string{"Request again"}) {
		t.Fatalf("expiry message: %d", len(expired))
	}
	again := submitData(t, expired[0].Cards()[0], "Request again")
	if again[dataKey] != "again:"+string(old.ID) {
		t.Fatalf("button data %v", again)
	}

	// Someone else's click learns nothing of the request.
	h.click(carol, carolConv, "x-1", again)
	if _, c := h.last(carolConv); !strings.Contains(cardText(c), "there is no request "+string(old.ID)+" that you can see") {
		t.Fatalf("carol's answer:\n%s", cardText(c))
	}

	h.click(alice, aliceConv, expired[0].ActivityID, again)
	formAct, form := h.last(aliceConv)
	want := map[string]string{inputRole: "read", inputDuration: "2h", inputReason: "INC-7 the nightly export"}
	if got := inputValues(form); !strings.Contains(cardText(form), "prod · Cluster0 · sales.orders") || len(got) != len(want) ||
		got[inputRole] != "read" || got[inputDuration] != "2h" || got[inputReason] != want[inputReason] {
		t.Fatalf("the form holds %v:\n%s", got, cardText(form))
	}
	value := submitData(t, form, "Request")
	for k, v := range inputValues(form) {
		value[k] = v
	}
	h.click(alice, aliceConv, formAct.ActivityID, value)
	fresh := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if fresh.ID == old.ID || fresh.State != flows.StatePending || fresh.Resource.String() != orders || fresh.Duration != 2*time.Hour || fresh.Reason != old.Reason {
		t.Fatalf("the new request: %+v", fresh)
	}
	if _, err := h.svc.Cancel(h.ctx, fresh.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}

	// list offers it; again <id> submits at once.
	h.say(alice, aliceConv, "access list")
	listed := false
	for _, c := range h.sent(aliceConv)[len(h.sent(aliceConv))-1].Cards() {
		if slices.Contains(actionTitles(c), "Request again") {
			listed = true
		}
	}
	if !listed {
		t.Fatal("list does not offer Request again")
	}
	h.say(carol, carolConv, "access again "+string(old.ID))
	if _, c := h.last(carolConv); !strings.Contains(cardText(c), "there is no request "+string(old.ID)+" that you can see") {
		t.Fatalf("carol's again:\n%s", cardText(c))
	}
	h.say(alice, aliceConv, "access again "+string(old.ID))
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "sent for approval") {
		t.Fatalf("again:\n%s", cardText(c))
	}
}

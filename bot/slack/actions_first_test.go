package slack

import (
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// A click on an approval card is taken ahead of the slash commands
// received before it and still waiting: the approval races the request's
// time-out, a new request does not (bot.Inbox.ReceiveAction).
func TestClickGoesAheadOfWaitingCommands(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, `request prod/Cluster0/sales/orders read 2h "INC-7 the nightly export"`)
	asked := h.only("alice@example.com")
	card := h.lastDM(bob)

	h.hold = true // received and acknowledged, not yet processed
	h.slash(carol, `request prod/Cluster0/sales/customers read 1h "INC-8 a refund"`)
	h.click(bob, card, "approve:"+string(asked.ID))
	h.hold = false
	h.idle()

	var order []flows.EventType
	for _, ev := range h.store.Events() {
		if ev.Type == flows.EventApproved || ev.Type == flows.EventSubmitted && ev.Actor == carol.Email {
			order = append(order, ev.Type)
		}
	}
	if len(order) != 2 || order[0] != flows.EventApproved {
		t.Fatalf("events %v: want bob's approval recorded before carol's request, which came first", order)
	}
	if st := h.get(string(asked.ID)).State; st != flows.StateActive {
		t.Fatalf("alice's request is %s", st)
	}
}

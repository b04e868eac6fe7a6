package teams

import (
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// A click on an approval card is taken ahead of the messages received
// before it and still waiting: the approval races the request's time-out,
// a new request does not (bot.Inbox.ReceiveAction).
func TestClickGoesAheadOfWaitingMessages(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.install(carol, carolConv)
	h.say(alice, aliceConv, "access request "+orders+" read 2h INC-7 the nightly export")
	asked := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)

	h.hold = true // received and acknowledged, not yet processed
	h.say(carol, carolConv, "access request "+orders+" read 1h INC-8 a refund")
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	h.hold = false
	h.idle()

	var order []flows.EventType
	for _, ev := range h.store.Events() {
		if ev.Type == flows.EventApproved || ev.Type == flows.EventSubmitted && ev.Actor == "carol@example.com" {
			order = append(order, ev.Type)
		}
	}
	if len(order) != 2 || order[0] != flows.EventApproved {
		t.Fatalf("events %v: want the owner's approval recorded before carol's request, which came first", order)
	}
	if st := h.request(string(asked.ID)).State; st != flows.StateActive {
		t.Fatalf("alice's request is %s", st)
	}
}

package teams

import (
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// TestCrashAfterAckLosesNothing: a typed command and an Action.Submit click are in the store
// when their 200 leaves; a bot stopped right after the acks, before either ran, is replaced by
// a new one on the same store, which runs both and answers.
func TestCrashAfterAckLosesNothing(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request prod/Cluster0/sales/orders read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)
	before := len(h.sent(aliceConv))

	h.hold = true
	h.say(alice, aliceConv, "access request prod/Cluster0/sales/customers read 2h INC-2")
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(h.t, card, "Approve"))
	if n := bottest.InboxDepth(h.t, h.store); n != 2 {
		t.Fatalf("inbox holds %d items after the acks, want 2", n)
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 1 {
		t.Errorf("alice has %d requests before anything was processed", len(rs))
	}
	if st := h.request(string(r.ID)).State; st != flows.StatePending {
		t.Errorf("approved before the click was processed: %s", st)
	}

	h.hold = false
	bottest.Resume(t, h.store, h.restart, func() { h.idle() })
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 2 {
		t.Errorf("alice has %d requests after the restart, want 2", len(rs))
	}
	if st := h.request(string(r.ID)).State; st != flows.StateActive {
		t.Errorf("the click was not processed after the restart: %s", st)
	}
	if len(h.sent(aliceConv)) <= before {
		t.Error("alice was not answered after the restart")
	}
}

// TestRedeliveredActivityActsOnce: the same activity delivered again (Teams' retry, a replay)
// is acknowledged and not redone, even by another process.
func TestRedeliveredActivityActsOnce(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	act := h.bf.Message(aliceConv, alice, "access request prod/Cluster0/sales/orders read 1h INC-1")
	h.deliver(act)
	h.deliver(act)
	h.restart()
	h.deliver(act)
	h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if n := len(h.sent(ownerConv)); n != 1 {
		t.Errorf("the owner got %d cards", n)
	}
}

// TestTypoAnsweredWithoutRecord: what does not parse is answered at once and leaves nothing in
// the inbox.
func TestTypoAnsweredWithoutRecord(t *testing.T) {
	h := newHarness(t)
	h.hold = true
	h.say(alice, aliceConv, "access requets prod/Cluster0/sales read 1h")
	if n := bottest.InboxDepth(h.t, h.store); n != 0 {
		t.Errorf("a typo left %d inbox items", n)
	}
	h.bot.work.Wait()
	if got := h.sentWith(aliceConv, "did not work"); len(got) != 1 {
		t.Errorf("typo answers: %d", len(got))
	}
}

// TestAnswersSurviveACrashAfterTheAction: a message acted on has its answer in the outbox,
// committed with the inbox item's finish; a bot that dies before sending it leaves it to the
// next, which sends it once.
func TestAnswersSurviveACrashAfterTheAction(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.hold = true
	h.say(alice, aliceConv, "access request prod/Cluster0/sales/orders read 1h INC-1")
	h.bot.idle() // acted on and finished; the outbox not run
	h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if n := len(h.bf.ActivitiesIn(aliceConv)); n != 0 {
		t.Fatalf("%d activities in alice's chat before the outbox ran", n)
	}
	pending, err := h.store.Pending(h.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	answers := 0
	for _, d := range pending {
		// Her answer shares the outbox's conversation of her notices, which go to the same chat.
		if d.What == "reply" && d.Priority == flows.PriorityActor && d.Conversation == bot.DirectConversation(Platform, "alice@example.com") {
			answers++
		}
	}
	if answers != 1 {
		t.Fatalf("%d answers to alice waiting, want 1: %+v", answers, pending)
	}
	h.restart()
	h.hold = false
	if got := h.sentWith(aliceConv, "sent for approval"); len(got) != 1 {
		t.Errorf("alice's answers after the restart: %d, want 1", len(got))
	}
}

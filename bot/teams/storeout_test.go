package teams

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// While the store cannot be read, Teams reaches a person from the contact this process last
// read or wrote for them, so that the admins hear of the outage (bot.TellNow); what was
// forgotten, here or in the store, is not reached.
func TestTellNowWhileTheStoreIsOut(t *testing.T) {
	h := newHarness(t)
	h.install(carol, carolConv)
	h.install(eve, eveConv)
	out := fmt.Errorf("%w: etcd: no quorum", flows.ErrStoreUnreachable)
	ev := flows.Event{Type: flows.EventStoreAlarm, Actor: flows.SystemActor, At: t0, Message: "jitbot cannot reach its store (etcd)"}
	to := []string{"carol@example.com", "eve@example.com"}
	alarms := func(conv string) int { return len(h.sentWith(conv, "cannot reach its store")) }

	// A new process has read nothing yet: nobody is reached, and the store's error is said.
	h.restart()
	platforms := []bot.Platform{h.bot}
	h.contacts.setDown(out)
	if sent, err := bot.TellNow(h.ctx, platforms, to, ev); sent != 0 || err == nil || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("nothing read yet: sent %d, err %v; want 0 and the store's error", sent, err)
	}

	// The leader's look-up while the store answers keeps both at hand.
	h.contacts.setDown(nil)
	if found, err := bot.Reachable(h.ctx, platforms, to, ev); found != 2 || err != nil {
		t.Fatalf("Reachable: found %d (%v), want 2", found, err)
	}
	h.contacts.setDown(out)
	if sent, err := bot.TellNow(h.ctx, platforms, to, ev); sent != 2 || err != nil {
		t.Fatalf("store out after a look-up: sent %d (%v), want 2", sent, err)
	}
	if alarms(carolConv) != 1 || alarms(eveConv) != 1 {
		t.Fatalf("store alarms: carol %d, eve %d; want 1 each", alarms(carolConv), alarms(eveConv))
	}

	// Carol is forgotten here (her email bound afresh): not reached once the store is out, with
	// no read in between.
	h.contacts.setDown(nil)
	if _, err := h.bot.people.forget(h.ctx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	h.contacts.setDown(out)
	if sent, _ := bot.TellNow(h.ctx, platforms, to[:1], ev); sent != 0 {
		t.Fatalf("store out after carol was forgotten: sent %d, want 0", sent)
	}
	// Eve's contact goes from the store (another replica forgot her): the next look-up drops it.
	h.contacts.setDown(nil)
	h.contacts.mu.Lock()
	delete(h.contacts.data, Platform+"/eve@example.com")
	h.contacts.mu.Unlock()
	if found, err := bot.Reachable(h.ctx, platforms, to, ev); found != 0 || err != nil {
		t.Fatalf("Reachable after both went: found %d (%v), want 0", found, err)
	}
	h.contacts.setDown(out)
	if sent, _ := bot.TellNow(h.ctx, platforms, to, ev); sent != 0 {
		t.Fatalf("store out after both went: sent %d, want 0", sent)
	}
	if alarms(carolConv) != 1 || alarms(eveConv) != 1 {
		t.Fatalf("store alarms: carol %d, eve %d; want still 1 each", alarms(carolConv), alarms(eveConv))
	}
	h.contacts.setDown(nil)
}

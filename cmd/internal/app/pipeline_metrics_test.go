package app

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestInboxGauges reads the inbox's depth and the age of its oldest
// unfinished delivery from the store, at scrape time.
func TestInboxGauges(t *testing.T) {
	store := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	gauges := map[string]func() map[string]float64{}
	for _, c := range inboxCounters(store, clock, nil) {
		if !c.gauge {
			t.Fatalf("%s is not a gauge", c.name)
		}
		gauges[c.name] = c.read
	}
	read := func(name string) float64 {
		t.Helper()
		v, ok := gauges[name]()[""]
		if !ok {
			t.Fatalf("%s: no value", name)
		}
		return v
	}
	if d, age := read("jitbot_inbox_depth"), read("jitbot_inbox_oldest_age_seconds"); d != 0 || age != 0 {
		t.Fatalf("empty inbox: depth %v, age %v", d, age)
	}
	for i, key := range []string{"slack:trigger:1", "slack:trigger:2"} {
		at := flowstest.T0.Add(time.Duration(i) * 10 * time.Second)
		if _, err := store.Receive(t.Context(), flows.InboxItem{Key: key, Platform: "slack", ReceivedAt: at, NextAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(flowstest.T0.Add(time.Minute))
	if d, age := read("jitbot_inbox_depth"), read("jitbot_inbox_oldest_age_seconds"); d != 2 || age != 60 {
		t.Fatalf("two waiting: depth %v, age %v (want 2, 60)", d, age)
	}
	if err := store.FinishInbox(t.Context(), "slack:trigger:1", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if d, age := read("jitbot_inbox_depth"), read("jitbot_inbox_oldest_age_seconds"); d != 1 || age != 50 {
		t.Fatalf("one finished: depth %v, age %v (want 1, 50)", d, age)
	}
}

// TestOutboxGauges reads the outbox's depth and the age of its oldest
// waiting delivery from the store, at scrape time.
func TestOutboxGauges(t *testing.T) {
	store := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	gauges := map[string]func() map[string]float64{}
	for _, c := range outboxCounters(store, clock, nil) {
		if !c.gauge {
			t.Fatalf("%s is not a gauge", c.name)
		}
		gauges[c.name] = c.read
	}
	read := func(name string) float64 {
		t.Helper()
		v, ok := gauges[name]()[""]
		if !ok {
			t.Fatalf("%s: no value", name)
		}
		return v
	}
	if d, age := read("jitbot_outbox_depth"), read("jitbot_outbox_oldest_age_seconds"); d != 0 || age != 0 {
		t.Fatalf("empty outbox: depth %v, age %v", d, age)
	}
	var ids []uint64
	for i, who := range []string{"bob@example.com", "carol@example.com"} {
		at := flowstest.T0.Add(time.Duration(i) * 10 * time.Second)
		ds, err := store.Enqueue(t.Context(), 0, flows.Delivery{Platform: "slack", Conversation: "slack:dm:" + who, Recipient: who, What: "notice", CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ds[0].ID)
	}
	clock.Set(flowstest.T0.Add(time.Minute))
	if d, age := read("jitbot_outbox_depth"), read("jitbot_outbox_oldest_age_seconds"); d != 2 || age != 60 {
		t.Fatalf("two waiting: depth %v, age %v (want 2, 60)", d, age)
	}
	if err := store.Delivered(t.Context(), ids[0], nil); err != nil {
		t.Fatal(err)
	}
	if d, age := read("jitbot_outbox_depth"), read("jitbot_outbox_oldest_age_seconds"); d != 1 || age != 50 {
		t.Fatalf("one sent: depth %v, age %v (want 1, 50)", d, age)
	}
}

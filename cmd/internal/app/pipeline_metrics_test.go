package app

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/jitbot/jitbot/bot"
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
	if _, err := store.FinishInbox(t.Context(), "slack:trigger:1", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if d, age := read("jitbot_inbox_depth"), read("jitbot_inbox_oldest_age_seconds"); d != 1 || age != 50 {
		t.Fatalf("one finished: depth %v, age %v (want 1, 50)", d, age)
	}
}

// TestOutboxGauges reads the outbox's depth and the age of its oldest
// unsent message from the store, at scrape time.
func TestOutboxGauges(t *testing.T) {
	store := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	gauges := map[string]func() map[string]float64{}
	for _, c := range outboxCounters(store, clock, nil) {
		gauges[c.name] = c.read
	}
	read := func(name string) float64 {
		t.Helper()
		return gauges[name]()[""]
	}
	ds, err := store.Enqueue(t.Context(), 0,
		flows.Delivery{Conversation: "slack:dm:a@example.com", Platform: "slack", What: "notice", CreatedAt: flowstest.T0},
		flows.Delivery{Conversation: "slack:dm:b@example.com", Platform: "slack", What: "notice", CreatedAt: flowstest.T0.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(flowstest.T0.Add(time.Minute))
	if d, age := read("jitbot_outbox_depth"), read("jitbot_outbox_oldest_age_seconds"); d != 2 || age != 60 {
		t.Fatalf("two waiting: depth %v, age %v (want 2, 60)", d, age)
	}
	if err := store.Delivered(t.Context(), ds[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if d, age := read("jitbot_outbox_depth"), read("jitbot_outbox_oldest_age_seconds"); d != 1 || age != 30 {
		t.Fatalf("one sent: depth %v, age %v (want 1, 30)", d, age)
	}
}

// TestDeliveryCounters labels the dispatcher's counts by platform, kind
// of message and outcome.
func TestDeliveryCounters(t *testing.T) {
	cs := deliveryCounters(func() []bot.DeliveryCount {
		return []bot.DeliveryCount{{Platform: "slack", What: "card", Outcome: bot.OutcomeSent, N: 3},
			{Platform: "teams", What: "credentials", Outcome: bot.OutcomePermanent, N: 1}}
	})
	if len(cs) != 1 || cs[0].gauge || len(cs[0].labels) != 3 {
		t.Fatalf("counters %+v", cs)
	}
	got := cs[0].read()
	if got["slack|card|sent"] != 3 || got["teams|credentials|permanent"] != 1 || len(got) != 2 {
		t.Errorf("values %v", got)
	}
}

// A queue's two gauges share the store's read when a scrape collects them
// at once (the count is what costs), and read afresh after it.
func TestQueueGaugesShareAReadUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var shared sharedRead
		reads := 0
		release := make(chan struct{})
		read := func() (int, time.Time, bool) {
			reads++
			<-release
			return reads, flowstest.T0, true
		}
		results := make(chan int, 2)
		for range 2 {
			go func() {
				n, _, _ := shared.do(read)
				results <- n
			}()
			synctest.Wait() // the first is reading; the second waits on it
		}
		close(release)
		if a, b := <-results, <-results; a != 1 || b != 1 || reads != 1 {
			t.Fatalf("two gauges collected at once: %d and %d after %d reads, want one read", a, b, reads)
		}
		if n, _, ok := shared.do(read); !ok || n != 2 || reads != 2 {
			t.Fatalf("a later scrape: %d after %d reads, want a fresh read", n, reads)
		}
	})
}

// TestYieldGauges: the inbox's lag in seconds, and 1 while the outbox
// yields to it.
func TestYieldGauges(t *testing.T) {
	lag, yielding := 2500*time.Millisecond, true
	cs := yieldGauges(func() time.Duration { return lag }, func() bool { return yielding })
	got := map[string]float64{}
	for _, c := range cs {
		if !c.gauge {
			t.Fatalf("%s is not a gauge", c.name)
		}
		got[c.name] = c.read()[""]
	}
	if got["jitbot_inbox_lag_seconds"] != 2.5 || got["jitbot_outbox_yielding"] != 1 || len(got) != 2 {
		t.Fatalf("lagging: %v", got)
	}
	lag, yielding = 0, false
	for _, c := range cs {
		got[c.name] = c.read()[""]
	}
	if got["jitbot_inbox_lag_seconds"] != 0 || got["jitbot_outbox_yielding"] != 0 {
		t.Fatalf("keeping up: %v", got)
	}
}

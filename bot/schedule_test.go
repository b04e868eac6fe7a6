package bot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestScheduleHoldsOnlyHeadsWhole: a backlog of thousands of waiting
// deliveries costs the dispatcher a few dozen bytes each, not their
// payloads (the burst's heap once held 65,670 of them whole): only each
// conversation's head is held whole, the next one is read from the store
// when its turn comes, and every delivery still goes out, in order, as
// stored (a coalesced update included).
func TestScheduleHoldsOnlyHeadsWhole(t *testing.T) {
	ctx := context.Background()
	st := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	d, err := NewDispatcher(DispatcherConfig{Workers: 4}, DispatcherDeps{
		Store: st, Platforms: func() []Platform { return nil },
		Audience: func(flows.Event, *flows.Request) []string { return nil },
		Secrets:  NewSecrets(clock, time.Hour, 10), Clock: clock, Wall: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	const convs, each = 3, 400
	payload := func(c, i int) []byte { return fmt.Appendf(nil, `{"kind":"k","n":"%d-%d"}`, c, i) }
	var ds []flows.Delivery
	for i := range each {
		for c := range convs {
			ds = append(ds, flows.Delivery{
				Conversation: fmt.Sprintf("slack:dm:p%d@example.com", c), Platform: "slack", What: whatNotice,
				Recipient: fmt.Sprintf("p%d@example.com", c), Priority: flows.PriorityApproval, Payload: payload(c, i), CreatedAt: flowstest.T0,
			})
		}
	}
	ds[len(ds)/2-1].Coalesce = "ref:deep" // the last of the first half, far from its head
	// Half before the dispatcher loads, half enqueued by "another writer"
	// (Schedule) after: both paths keep only heads whole.
	first, err := st.Enqueue(ctx, 0, ds[:len(ds)/2]...)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.load(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := st.Enqueue(ctx, 0, ds[len(ds)/2:]...)
	if err != nil {
		t.Fatal(err)
	}
	d.Schedule(second)
	whole := func() (n, waiting int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, q := range d.convs {
			for _, e := range q.dls {
				waiting++
				if e.full != nil {
					n++
				}
			}
		}
		return n, waiting
	}
	if n, waiting := whole(); n != convs || waiting != convs*each {
		t.Fatalf("held whole %d of %d waiting deliveries; want only the %d heads", n, waiting, convs)
	}
	// A coalesced update of a delivery deep in a queue reaches its send.
	update := first[len(first)-1]
	update.ID, update.Payload = 0, []byte(`{"kind":"k","n":"updated"}`)
	coalesced, err := st.Enqueue(ctx, 0, update)
	if err != nil {
		t.Fatal(err)
	}
	if len(coalesced) != 1 || coalesced[0].ID != first[len(first)-1].ID {
		t.Fatalf("the update was not coalesced: %+v", coalesced)
	}
	d.Schedule(coalesced)

	sent := map[string][]string{}
	for range convs * each {
		picks, _, _, err := d.take(ctx, 1)
		if err != nil || len(picks) != 1 {
			t.Fatalf("take: %v, %d picks", err, len(picks))
		}
		dl := picks[0]
		stored, err := st.Waiting(ctx, dl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(stored.Payload) != string(dl.Payload) || stored.Recipient != dl.Recipient || stored.What != dl.What {
			t.Fatalf("delivery %d picked as %+v, stored as %+v", dl.ID, dl, stored)
		}
		sent[dl.Conversation] = append(sent[dl.Conversation], string(dl.Payload))
		if err := st.Delivered(ctx, dl.ID, nil); err != nil {
			t.Fatal(err)
		}
		d.settled(dl)
		d.release(dl.Conversation)
		if n, _ := whole(); n > convs {
			t.Fatalf("held %d deliveries whole for %d conversations", n, convs)
		}
	}
	for c := range convs {
		got := sent[fmt.Sprintf("slack:dm:p%d@example.com", c)]
		if len(got) != each {
			t.Fatalf("conversation %d: %d sent, want %d", c, len(got), each)
		}
		for i, p := range got {
			want := string(payload(c, i))
			if c == convs-1 && i == len(first)/convs-1 {
				want = `{"kind":"k","n":"updated"}`
			}
			if p != want {
				t.Fatalf("conversation %d, message %d: %s, want %s", c, i, p, want)
			}
		}
	}
	if n, waiting := whole(); n != 0 || waiting != 0 {
		t.Fatalf("after sending everything: %d whole, %d waiting", n, waiting)
	}
}

// BenchmarkTakeAmongManyConversations: picking the next delivery with
// 10,000 conversations waiting (the burst's requesters) costs heap
// operations, not a walk through them all.
func BenchmarkTakeAmongManyConversations(b *testing.B) {
	ctx := context.Background()
	st := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	d, err := NewDispatcher(DispatcherConfig{Workers: 8}, DispatcherDeps{
		Store: st, Platforms: func() []Platform { return nil },
		Audience: func(flows.Event, *flows.Request) []string { return nil },
		Secrets:  NewSecrets(clock, time.Hour, 10), Clock: clock, Wall: clock,
	})
	if err != nil {
		b.Fatal(err)
	}
	const convs = 10000
	enqueue := func(n int) {
		ds := make([]flows.Delivery, n)
		for i := range ds {
			ds[i] = flows.Delivery{Conversation: fmt.Sprintf("slack:dm:p%d@example.com", i%convs), Platform: "slack", What: whatNotice,
				Recipient: fmt.Sprintf("p%d@example.com", i%convs), Priority: flows.PriorityActor, Payload: []byte(`{}`), CreatedAt: flowstest.T0}
		}
		stored, err := st.Enqueue(ctx, 0, ds...)
		if err != nil {
			b.Fatal(err)
		}
		d.Schedule(stored)
	}
	if err := d.load(ctx); err != nil {
		b.Fatal(err)
	}
	enqueue(convs)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		picks, _, _, err := d.take(ctx, 1)
		if err != nil || len(picks) != 1 {
			b.Fatalf("take: %v, %d picks", err, len(picks))
		}
		if err := st.Delivered(ctx, picks[0].ID, nil); err != nil {
			b.Fatal(err)
		}
		d.settled(picks[0])
		d.release(picks[0].Conversation)
		if i%convs == convs-1 {
			b.StopTimer()
			enqueue(convs)
			b.StartTimer()
		}
	}
}

package etcdstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// Two processes' inbox workers finish items with answers while a third,
// the leader, numbers them: every answer is numbered exactly once, each
// conversation's answers in the order they were finished, the outbox's
// depth counts them before they are numbered, and nothing is left
// unnumbered.
func TestAnswersAreNumberedOnceInCommitOrder(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := context.Background()
	open := func() *etcdstore.Store {
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/answers/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, leader := open(), open(), open()

	answer := func(conv string, n int) flows.Delivery {
		return flows.Delivery{Conversation: conv, Platform: "slack", Priority: flows.PriorityActor, What: "reply",
			Recipient: "U1", Payload: fmt.Appendf(nil, `{"n":%d}`, n), CreatedAt: flowstest.T0.Add(time.Duration(n) * time.Second)}
	}
	// Before anyone numbers: the depth counts the answer, and its age.
	if _, err := a.Receive(ctx, flows.InboxItem{Key: "first", Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
		t.Fatal(err)
	}
	got, err := a.FinishInbox(ctx, "first", flowstest.T0, answer("first", 0))
	if err != nil || len(got) != 1 || got[0].ID != 0 || got[0].Conversation != "first" {
		t.Fatalf("finish: %+v %v; want the answer back unnumbered", got, err)
	}
	if n, oldest, err := leader.OutboxDepth(ctx); err != nil || n != 1 || !oldest.Equal(flowstest.T0) {
		t.Fatalf("depth with one unnumbered answer: %d %v %v", n, oldest, err)
	}

	const workers, each = 4, 15
	var wg sync.WaitGroup
	for _, s := range []*etcdstore.Store{a, b} {
		for w := range workers {
			conv := fmt.Sprintf("%p-%d", s, w)
			wg.Go(func() {
				for i := range each {
					key := fmt.Sprintf("%s/%d", conv, i)
					if _, err := s.Receive(ctx, flows.InboxItem{Key: key, Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.FinishInbox(ctx, key, flowstest.T0, answer(conv, i+1)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	numbered := map[uint64]flows.Delivery{}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	take := func() {
		ds, err := leader.NumberAnswers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.ID == 0 {
				t.Fatalf("numbered as 0: %+v", d)
			}
			if prev, dup := numbered[d.ID]; dup {
				t.Fatalf("id %d given to %s and %s", d.ID, prev.Payload, d.Payload)
			}
			numbered[d.ID] = d
		}
	}
	for done := false; !done; {
		select {
		case <-finished:
			done = true
		default:
		}
		take()
	}
	take()
	if len(numbered) != 1+2*workers*each {
		t.Fatalf("numbered %d answers, want %d", len(numbered), 1+2*workers*each)
	}
	pending, err := leader.Pending(ctx, 0)
	if err != nil || len(pending) != len(numbered) {
		t.Fatalf("pending: %d (%v), numbered %d", len(pending), err, len(numbered))
	}
	// Pending lists each conversation's deliveries in id order: the
	// answers of one worker must come in the order it finished them.
	next := map[string]int{}
	for _, d := range pending {
		if numbered[d.ID].Conversation != d.Conversation {
			t.Fatalf("delivery %d: %+v, numbered as %+v", d.ID, d, numbered[d.ID])
		}
		if d.Conversation == "first" {
			continue
		}
		next[d.Conversation]++
		if want := fmt.Sprintf(`{"n":%d}`, next[d.Conversation]); string(d.Payload) != want {
			t.Fatalf("%s: answer %s where %s was due", d.Conversation, d.Payload, want)
		}
	}
	if ds, err := leader.NumberAnswers(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("numbering again: %+v %v", ds, err)
	}
}

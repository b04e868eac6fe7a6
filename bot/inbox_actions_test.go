package bot_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jitbot/jitbot/flows/flowstest"
)

// Actions on requests under way (clicks) go ahead of new requests: an
// approval acknowledged in time is not processed after its request timed
// out because new requests filled the inbox before it. One that another
// replica leased first is left to it.
func TestActionsGoAheadOfNewRequests(t *testing.T) {
	ctx := t.Context()
	st := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	in := newInbox(t, st, clock, 1)
	h := newFakeHandler(nil)
	in.Handle("chat", h)
	receive := func(key string, action bool) {
		t.Helper()
		receive := in.Receive
		if action {
			receive = in.ReceiveAction
		}
		first, err := receive(ctx, "chat", key, nil)
		if err != nil || !first {
			t.Fatalf("receive %s: first %v, %v", key, first, err)
		}
	}
	receive("command 1", false)
	receive("command 2", false)
	receive("approve", true)
	receive("command 3", false)
	receive("taken elsewhere", true)
	receive("deny", true)
	// Another replica's worker leased one of the actions first.
	if got, err := st.TakeInboxKeys(ctx, clock.Now(), time.Minute, "taken elsewhere"); err != nil || len(got) != 1 {
		t.Fatalf("another replica's take: %v %v", got, err)
	}
	if n := in.Pump(ctx); n != 5 {
		t.Fatalf("pumped %d, want 5", n)
	}
	want := []string{"approve", "deny", "command 1", "command 2", "command 3"}
	if got := h.handled(); !slices.Equal(got, want) {
		t.Fatalf("handled %q, want %q", got, want)
	}
	// Its taker died: it is taken in the inbox's order once its lease
	// lapses.
	clock.Advance(time.Minute)
	if n := in.Pump(ctx); n != 1 || h.count("taken elsewhere") != 1 {
		t.Fatalf("pumped %d, handled %d times; want the action another replica left", n, h.count("taken elsewhere"))
	}
}

// The workers take the actions received ahead of the new requests waiting
// for a worker. In a bubble, so that the test knows when the worker is
// busy and when everything is done (synctest.Wait).
func TestWorkersTakeActionsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		st := flowstest.NewStore()
		clock := flowstest.NewClock(flowstest.T0)
		in := newInbox(t, st, clock, 1)
		h := newFakeHandler(nil)
		h.block = make(chan struct{})
		in.Handle("chat", h)
		in.Start()
		if _, err := in.Receive(ctx, "chat", "busy", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the one worker blocked on it
		if h.running.Load() != 1 {
			t.Fatal("the worker did not take the first item")
		}
		for _, key := range []string{"command 1", "command 2"} {
			if _, err := in.Receive(ctx, "chat", key, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := in.ReceiveAction(ctx, "chat", "approve", nil); err != nil {
			t.Fatal(err)
		}
		close(h.block)
		synctest.Wait() // every item handled, the worker idle
		want := []string{"busy", "approve", "command 1", "command 2"}
		if got := h.handled(); !slices.Equal(got, want) {
			t.Fatalf("handled %q, want %q", got, want)
		}
	})
}

package bot_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// silentInbox is an inbox store that never answers (a cluster without a
// quorum), or answers that it cannot be reached.
type silentInbox struct {
	flows.Inbox
	says error // nil: wait for the caller to give up
}

func (s silentInbox) Receive(ctx context.Context, _ flows.InboxItem) (bool, error) {
	if s.says != nil {
		return false, s.says
	}
	<-ctx.Done()
	return false, ctx.Err()
}

// A store that does not commit a delivery within ReceiveTimeout is taken
// for unreachable, in time for the platform's acknowledgement, and the
// person is told so; a store that says it is unreachable is believed; any
// other failure is the generic "could not take that".
func TestReceiveWhenTheStoreCannotBeReached(t *testing.T) {
	clock := flowstest.NewClock(flowstest.T0)
	silent := newInbox(t, silentInbox{Inbox: flowstest.NewStore()}, clock, 1)
	start := time.Now()
	_, err := silent.Receive(t.Context(), "chat", "k1", nil)
	if took := time.Since(start); took > bot.ReceiveTimeout+time.Second {
		t.Errorf("a store that does not answer held the ack %v", took)
	}
	if !flows.IsStoreUnreachable(err) {
		t.Fatalf("a store that does not answer: %v", err)
	}
	c := bot.NotTaken(err)
	if !strings.Contains(c.Title, "cannot take requests right now") || !strings.Contains(c.Text, "nothing was recorded") {
		t.Fatalf("what the person is told: %+v", c)
	}

	says := newInbox(t, silentInbox{Inbox: flowstest.NewStore(), says: flows.StoreUnreachable(errors.New("no quorum"))}, clock, 1)
	if _, err := says.Receive(t.Context(), "chat", "k1", nil); !flows.IsStoreUnreachable(err) {
		t.Fatalf("a store that says it cannot be reached: %v", err)
	}

	broken := newInbox(t, silentInbox{Inbox: flowstest.NewStore(), says: errors.New("disk full")}, clock, 1)
	_, err = broken.Receive(t.Context(), "chat", "k1", nil)
	if err == nil || flows.IsStoreUnreachable(err) || !strings.Contains(bot.NotTaken(err).Title, "could not take that") {
		t.Fatalf("another failure: %v, told %+v", err, bot.NotTaken(err))
	}

	// The caller giving up is not the store's doing.
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := silent.Receive(gone, "chat", "k2", nil); err == nil || flows.IsStoreUnreachable(err) {
		t.Fatalf("a caller that gave up: %v", err)
	}
}

// lateInbox writes what it receives but says the store could not be
// reached: etcd's leader had the write in its log when it lost its
// quorum, and commits it once the quorum is back.
type lateInbox struct {
	flows.Inbox
	late atomic.Bool
}

func (s *lateInbox) Receive(ctx context.Context, it flows.InboxItem) (bool, error) {
	first, err := s.Inbox.Receive(ctx, it)
	if err == nil && s.late.Load() {
		return false, flows.StoreUnreachable(errors.New("no quorum"))
	}
	return first, err
}

// A delivery refused as the store was out, whose write committed after
// all, is not acted on: its sender was told nothing was recorded. A
// platform's redelivery of it that is taken is acted on.
func TestRefusedDeliveryCommittedLate(t *testing.T) {
	st := &lateInbox{Inbox: flowstest.NewStore()}
	clock := flowstest.NewClock(flowstest.T0)
	in := newInbox(t, st, clock, 1)
	h := newFakeHandler(nil)
	in.Handle("chat", h)
	st.late.Store(true)
	if _, err := in.Receive(t.Context(), "chat", "refused", nil); !flows.IsStoreUnreachable(err) {
		t.Fatalf("refused: %v", err)
	}
	if _, err := in.Receive(t.Context(), "chat", "retried", nil); !flows.IsStoreUnreachable(err) {
		t.Fatalf("refused: %v", err)
	}
	st.late.Store(false)
	if _, err := in.Receive(t.Context(), "chat", "retried", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Receive(t.Context(), "chat", "taken", nil); err != nil {
		t.Fatal(err)
	}
	if n := in.Pump(t.Context()); n != 3 {
		t.Fatalf("pumped %d items, want 3", n)
	}
	if h.count("refused") != 0 || h.count("retried") != 1 || h.count("taken") != 1 {
		t.Fatalf("handled: refused %d, retried %d, taken %d", h.count("refused"), h.count("retried"), h.count("taken"))
	}
	if d := depth(t, st); d != 0 {
		t.Fatalf("%d items left in the inbox", d)
	}
}

// TestRefusedKeyTakenAsNewElsewhere: this replica refused a delivery (the
// store out, nothing written); sent again to another replica, it was taken
// there as new. This replica's worker, taking the item, acts on it: the
// write is not the one it refused (once, it finished it unacted, and the
// request was lost).
func TestRefusedKeyTakenAsNewElsewhere(t *testing.T) {
	shared := flowstest.NewStore()
	clock := flowstest.NewClock(flowstest.T0)
	a := newInbox(t, silentInbox{Inbox: shared, says: flows.StoreUnreachable(errors.New("no quorum"))}, clock, 1)
	h := newFakeHandler(nil)
	a.Handle("chat", h)
	if _, err := a.Receive(t.Context(), "chat", "k", nil); !flows.IsStoreUnreachable(err) {
		t.Fatalf("refused: %v", err)
	}
	clock.Advance(time.Second)
	b := newInbox(t, shared, clock, 1)
	if first, err := b.Receive(t.Context(), "chat", "k", nil); err != nil || !first {
		t.Fatalf("sent again to another replica: first %v, %v", first, err)
	}
	if n := a.Pump(t.Context()); n != 1 {
		t.Fatalf("pumped %d, want the item", n)
	}
	if h.count("k") != 1 {
		t.Fatalf("the item the other replica took as new was handled %d times, want 1", h.count("k"))
	}
}

// TestRefusedWriteCommittedThenSentElsewhere: this replica refused a
// delivery whose write etcd committed after all; sent again to another
// replica, it was acknowledged there as received before. This replica's
// worker, taking the item, acts on it: the sender was told it was taken
// (the HA bench once lost a request this way). Sent again only after the
// drop, it is taken as new.
func TestRefusedWriteCommittedThenSentElsewhere(t *testing.T) {
	shared := flowstest.NewStore()
	st := &lateInbox{Inbox: shared}
	clock := flowstest.NewClock(flowstest.T0)
	a := newInbox(t, st, clock, 1)
	h := newFakeHandler(nil)
	a.Handle("chat", h)
	b := newInbox(t, shared, clock, 1)
	st.late.Store(true)
	for _, key := range []string{"sent again before", "sent again after"} {
		if _, err := a.Receive(t.Context(), "chat", key, nil); !flows.IsStoreUnreachable(err) {
			t.Fatalf("refused %q: %v", key, err)
		}
	}
	st.late.Store(false)
	clock.Advance(time.Second)
	if first, err := b.Receive(t.Context(), "chat", "sent again before", nil); err != nil || first {
		t.Fatalf("sent again to another replica: first %v, %v; want acknowledged as received before", first, err)
	}
	if n := a.Pump(t.Context()); n != 2 {
		t.Fatalf("pumped %d, want both items", n)
	}
	if h.count("sent again before") != 1 || h.count("sent again after") != 0 {
		t.Fatalf("handled: sent again before %d (want 1), sent again after %d (want 0: dropped)",
			h.count("sent again before"), h.count("sent again after"))
	}
	if first, err := b.Receive(t.Context(), "chat", "sent again after", nil); err != nil || !first {
		t.Fatalf("sent again after the drop: first %v, %v; want taken as new", first, err)
	}
	b.Handle("chat", h)
	if n := b.Pump(t.Context()); n != 1 || h.count("sent again after") != 1 {
		t.Fatalf("pumped %d, handled %d; want the revived item acted on", n, h.count("sent again after"))
	}
	if d := depth(t, shared); d != 0 {
		t.Fatalf("%d items left in the inbox", d)
	}
}

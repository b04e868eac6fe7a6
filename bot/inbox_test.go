package bot_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// fakeHandler answers each item with what fail says for its attempt.
type fakeHandler struct {
	mu      sync.Mutex
	calls   map[string]int
	order   []string // the keys handled, in turn
	gaveUp  map[string]error
	fail    func(key string, attempt int) error
	block   chan struct{} // when set, every call waits for it
	running atomic.Int32
	most    atomic.Int32
}

func newFakeHandler(fail func(string, int) error) *fakeHandler {
	return &fakeHandler{calls: map[string]int{}, gaveUp: map[string]error{}, fail: fail}
}

func (h *fakeHandler) HandleInbox(ctx context.Context, it flows.InboxItem) error {
	n := h.running.Add(1)
	defer h.running.Add(-1)
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			break
		}
	}
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.mu.Lock()
	h.calls[it.Key]++
	h.order = append(h.order, it.Key)
	attempt := h.calls[it.Key]
	h.mu.Unlock()
	if h.fail == nil {
		return nil
	}
	return h.fail(it.Key, attempt)
}

func (h *fakeHandler) GiveUpInbox(_ context.Context, it flows.InboxItem, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gaveUp[it.Key] = err
}

func (h *fakeHandler) handled() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.order)
}

func (h *fakeHandler) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[key]
}

func newInbox(t *testing.T, st flows.Inbox, clock flows.Clock, workers int) *bot.Inbox {
	t.Helper()
	in, err := bot.NewInbox(bot.InboxConfig{Store: st, Clock: clock, Workers: workers, MaxAttempts: 3, Backoff: time.Second, MaxBackoff: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in
}

func depth(t *testing.T, st flows.Inbox) int {
	t.Helper()
	n, _, err := st.InboxDepth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInboxRedeliveryIsIgnored(t *testing.T) {
	st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
	in := newInbox(t, st, clock, 1)
	h := newFakeHandler(nil)
	in.Handle("chat", h)
	for i, want := range []bool{true, false, false} {
		first, err := in.Receive(t.Context(), "chat", "k1", []byte(`{}`))
		if err != nil || first != want {
			t.Fatalf("receive %d: first %v, %v", i, first, err)
		}
	}
	if n := in.Pump(t.Context()); n != 1 || h.count("k1") != 1 {
		t.Fatalf("pumped %d, handled %d", n, h.count("k1"))
	}
	// Finished, the key still recognises a redelivery until it is purged.
	if first, _ := in.Receive(t.Context(), "chat", "k1", nil); first {
		t.Error("a finished item's redelivery was taken as new")
	}
	clock.Advance(bot.DefaultInboxRetention + time.Second)
	if n, err := in.Purge(t.Context()); n != 1 || err != nil {
		t.Errorf("purge: %d, %v", n, err)
	}
}

func TestInboxRetriesTransientFailures(t *testing.T) {
	st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
	in := newInbox(t, st, clock, 1)
	h := newFakeHandler(func(key string, attempt int) error {
		if key == "flaky" && attempt < 3 {
			return flows.Errorf(flows.EUNAVAILABLE, "Slack is down")
		}
		if key == "down" {
			return flows.Errorf(flows.EUNAVAILABLE, "still down")
		}
		if key == "broken" {
			return bot.Permanent(errors.New("unreadable payload"))
		}
		return nil
	})
	in.Handle("chat", h)
	for _, k := range []string{"flaky", "down", "broken"} {
		if _, err := in.Receive(t.Context(), "chat", k, nil); err != nil {
			t.Fatal(err)
		}
	}
	in.Pump(t.Context())
	// A permanent failure is given up at once, and the person told.
	if h.count("broken") != 1 || h.gaveUp["broken"] == nil {
		t.Errorf("broken: %d calls, gave up with %v", h.count("broken"), h.gaveUp["broken"])
	}
	// Retries wait for their backoff.
	if n := in.Pump(t.Context()); n != 0 {
		t.Errorf("a retry ran before its backoff: %d", n)
	}
	for range 5 {
		clock.Advance(5 * time.Second)
		in.Pump(t.Context())
	}
	if h.count("flaky") != 3 || h.gaveUp["flaky"] != nil {
		t.Errorf("flaky: %d calls, gave up with %v", h.count("flaky"), h.gaveUp["flaky"])
	}
	if h.count("down") != 3 || flows.ErrorCode(h.gaveUp["down"]) != flows.EUNAVAILABLE {
		t.Errorf("down: %d calls (max 3), gave up with %v", h.count("down"), h.gaveUp["down"])
	}
	if n := depth(t, st); n != 0 {
		t.Errorf("%d items left", n)
	}
}

// TestInboxPoolIsBounded: many items, a few workers: never more at once
// than the pool; Close finishes what is in flight and leaves the rest in
// the store for the next process, which runs it.
func TestInboxPoolIsBounded(t *testing.T) {
	// In a bubble, so that the test knows when the pool is full and when
	// Close has stopped the taking (synctest.Wait), however fast the
	// workers take the next item.
	synctest.Test(t, func(t *testing.T) {
		st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
		in := newInbox(t, st, clock, 3)
		h := newFakeHandler(nil)
		h.block = make(chan struct{})
		in.Handle("chat", h)
		const items = 20
		for i := range items {
			if _, err := in.Receive(t.Context(), "chat", string(rune('a'+i)), nil); err != nil {
				t.Fatal(err)
			}
		}
		in.Start()
		synctest.Wait() // three handlers blocked, the rest waiting
		if n := h.running.Load(); n != 3 {
			t.Fatalf("%d items at once, want the 3 workers busy", n)
		}
		closed := make(chan error, 1)
		go func() { closed <- in.Close() }()
		synctest.Wait() // Close has stopped the taking and waits for the three
		close(h.block)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if m := h.most.Load(); m > 3 {
			t.Errorf("%d items at once with 3 workers", m)
		}
		if left := depth(t, st); left != items-3 {
			t.Fatalf("%d items left after Close: want the 3 in flight handled, the rest kept", left)
		}
		next := newInbox(t, st, clock, 3)
		h2 := newFakeHandler(nil)
		next.Handle("chat", h2)
		next.Pump(t.Context())
		if n := depth(t, st); n != 0 {
			t.Errorf("%d items left after the restart", n)
		}
	})
}

// TestInboxRenewsTheLeasesOfItemsInFlight: an item whose handler runs
// longer than a lease (but within Timeout) stays with its worker: its
// lease is renewed every third of one, so another taker (another replica)
// finds nothing, however long past the first lease; it is processed once.
// The lease renewed only while in flight: the item left behind by a worker
// that stopped renewing (a replica killed) is taken one lease later.
func TestInboxRenewsTheLeasesOfItemsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
		in := newInbox(t, st, clock, 1)
		h := newFakeHandler(nil)
		h.block = make(chan struct{})
		in.Handle("chat", h)
		if _, err := in.Receive(t.Context(), "chat", "slow", nil); err != nil {
			t.Fatal(err)
		}
		in.Start()
		synctest.Wait() // the handler runs
		if h.running.Load() != 1 {
			t.Fatal("the item is not being handled")
		}
		for i := range 5 { // 16 s: more than a lease
			clock.Advance(bot.InboxLease / 3)
			time.Sleep(bot.InboxLease / 3) // the renewal's tick
			synctest.Wait()
			if items, err := st.TakeInbox(t.Context(), clock.Now(), bot.InboxLease, 0); err != nil || len(items) != 0 {
				t.Fatalf("tick %d, %v after the take: another taker got %+v (%v), want nothing while the worker holds it", i, clock.Now().Sub(flowstest.T0), items, err)
			}
		}
		// Shutting down, the inbox still renews what it is finishing.
		closed := make(chan error, 1)
		go func() { closed <- in.Close() }()
		synctest.Wait()
		for i := range 3 {
			clock.Advance(bot.InboxLease / 3)
			time.Sleep(bot.InboxLease / 3)
			synctest.Wait()
			if items, err := st.TakeInbox(t.Context(), clock.Now(), bot.InboxLease, 0); err != nil || len(items) != 0 {
				t.Fatalf("closing, tick %d: another taker got %+v (%v), want nothing", i, items, err)
			}
		}
		close(h.block)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if n := depth(t, st); n != 0 || h.count("slow") != 1 {
			t.Fatalf("depth %d, handled %d times: want finished once", n, h.count("slow"))
		}

		// A lease nobody renews (its worker is gone) lapses after one.
		next := newInbox(t, st, clock, 1)
		next.Handle("chat", h)
		next.Start()
		if _, err := st.Receive(t.Context(), flows.InboxItem{Key: "orphan", Platform: "chat", ReceivedAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		if items, err := st.TakeInbox(t.Context(), clock.Now(), bot.InboxLease, 0); err != nil || len(items) != 1 {
			t.Fatalf("the dead worker's take: %+v %v", items, err)
		}
		clock.Advance(bot.InboxLease)
		time.Sleep(2 * time.Second) // the inbox's poll
		synctest.Wait()
		if n := depth(t, st); n != 0 || h.count("orphan") != 1 {
			t.Fatalf("a lapsed lease: depth %d, handled %d times; want taken and finished after one lease", n, h.count("orphan"))
		}
	})
}

// TestInboxDrainsABacklog: more items than workers are waiting when the
// workers start; each worker that finishes takes the next at once, without
// waiting for a new item or the poll (an hour here).
func TestInboxDrainsABacklog(t *testing.T) {
	st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
	in, err := bot.NewInbox(bot.InboxConfig{Store: st, Clock: clock, Workers: 2, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	h := newFakeHandler(nil)
	in.Handle("chat", h)
	const items = 50
	for i := range items {
		if _, err := in.Receive(t.Context(), "chat", string(rune('a'+i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	in.Start()
	deadline := time.Now().Add(10 * time.Second)
	for depth(t, st) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d items still waiting after 10s", depth(t, st), items)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInboxLagIsWhatPeopleWait: Lag is the receipt-to-finish time of the
// last item finished at its first attempt, true for two seconds; a retry's
// time (mostly its backoff) does not count.
func TestInboxLagIsWhatPeopleWait(t *testing.T) {
	st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
	in := newInbox(t, st, clock, 1)
	in.Handle("chat", newFakeHandler(func(key string, attempt int) error {
		if key == "flaky" && attempt == 1 {
			return flows.Errorf(flows.EUNAVAILABLE, "Slack is down")
		}
		return nil
	}))
	for _, k := range []string{"k1", "flaky"} {
		if _, err := in.Receive(t.Context(), "chat", k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if lag := in.Lag(); lag != 0 {
		t.Fatalf("lag before anything finished: %v", lag)
	}
	clock.Advance(3 * time.Second)
	in.Pump(t.Context())
	if lag := in.Lag(); lag != 3*time.Second {
		t.Fatalf("lag after an item waited 3 s: %v", lag)
	}
	clock.Advance(2*time.Second + time.Millisecond)
	if lag := in.Lag(); lag != 0 {
		t.Fatalf("lag 2 s after the last finish: %v, want 0 (nothing finished since)", lag)
	}
	clock.Advance(10 * time.Second)
	if n := in.Pump(t.Context()); n != 1 {
		t.Fatalf("pumped %d, want the retry", n)
	}
	if lag := in.Lag(); lag != 0 {
		t.Errorf("lag after a retry finished: %v, want 0 (its wait was its backoff)", lag)
	}
}

// TestInboxLagEndsWhenNothingWaits: once the workers find nothing due,
// nobody waits: the lag is 0 at once, not two seconds later.
func TestInboxLagEndsWhenNothingWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, clock := flowstest.NewStore(), flowstest.NewClock(flowstest.T0)
		in := newInbox(t, st, clock, 1)
		release := make(chan struct{})
		h := newFakeHandler(func(key string, _ int) error {
			if key == "slow" {
				clock.Advance(3 * time.Second)
			}
			if key == "held" {
				<-release
			}
			return nil
		})
		in.Handle("chat", h)
		for _, k := range []string{"slow", "held"} {
			if _, err := in.Receive(t.Context(), "chat", k, nil); err != nil {
				t.Fatal(err)
			}
		}
		in.Start()
		synctest.Wait() // "slow" finished, "held" in its handler
		if lag := in.Lag(); lag != 3*time.Second {
			t.Fatalf("lag while the second item is handled: %v, want the first's 3 s", lag)
		}
		close(release)
		synctest.Wait() // "held" finished; the idle worker found nothing due
		if h.count("held") != 1 {
			t.Fatalf("held handled %d times", h.count("held"))
		}
		if lag := in.Lag(); lag != 0 {
			t.Errorf("lag with nothing due: %v, want 0", lag)
		}
	})
}

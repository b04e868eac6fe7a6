package flowstest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jitbot/jitbot/flows"
)

// Reopen closes a backend and opens it again on what it kept, as a restart
// does, and returns the new one. A backend that keeps nothing across a
// restart (the memory Store) passes nil: the restart cases are skipped.
type Reopen func(t *testing.T, b Backend) Backend

// InboxSuite checks the flows.Inbox port.
func InboxSuite(t *testing.T, open OpenBackend, reopen Reopen) {
	ctx := context.Background()
	const lease = time.Minute
	item := func(key string, at time.Time) flows.InboxItem {
		return flows.InboxItem{Key: key, Platform: "slack", Payload: []byte(`{"text":"` + key + `"}`), ReceivedAt: at}
	}
	receive := func(t *testing.T, b Backend, it flows.InboxItem) bool {
		t.Helper()
		first, err := b.Receive(ctx, it)
		if err != nil {
			t.Fatalf("receive %s: %v", it.Key, err)
		}
		return first
	}
	take := func(t *testing.T, b Backend, now time.Time, limit int) []flows.InboxItem {
		t.Helper()
		items, err := b.TakeInbox(ctx, now, lease, limit)
		if err != nil {
			t.Fatalf("take at %v: %v", now, err)
		}
		return items
	}
	keys := func(items []flows.InboxItem) []string {
		out := []string{}
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	takeKeys := func(t *testing.T, b Backend, now time.Time, limit int) []string {
		t.Helper()
		return keys(take(t, b, now, limit))
	}
	wantKeys := func(t *testing.T, what string, want, got []string) {
		t.Helper()
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", what, diff)
		}
	}
	depth := func(t *testing.T, b Backend, n int, oldest time.Time) {
		t.Helper()
		gotN, gotOldest, err := b.InboxDepth(ctx)
		if err != nil || gotN != n || !gotOldest.Equal(oldest) {
			t.Fatalf("depth: %d, oldest %v, %v; want %d, oldest %v", gotN, gotOldest, err, n, oldest)
		}
	}
	code := func(t *testing.T, what string, err error, want flows.Code) {
		t.Helper()
		if flows.ErrorCode(err) != want {
			t.Fatalf("%s: %v, want %s", what, err, want)
		}
	}

	t.Run("a key is received once, as it came first", func(t *testing.T) {
		b := open(t)
		it := item("slack:trigger:1", T0)
		if !receive(t, b, it) {
			t.Fatal("the first delivery was not first")
		}
		it.Payload[0] = 'X' // the caller's buffer, reused
		again := item("slack:trigger:1", T0.Add(time.Second))
		again.Payload = []byte("a replay")
		if receive(t, b, again) {
			t.Fatal("a replay of a received key was first")
		}
		if !receive(t, b, item("slack:trigger:2", T0)) {
			t.Fatal("another key was not first")
		}
		want := []flows.InboxItem{
			{Key: "slack:trigger:1", Platform: "slack", Payload: []byte(`{"text":"slack:trigger:1"}`), ReceivedAt: T0, Attempts: 1, NextAt: T0.Add(time.Second + lease)},
			{Key: "slack:trigger:2", Platform: "slack", Payload: []byte(`{"text":"slack:trigger:2"}`), ReceivedAt: T0, Attempts: 1, NextAt: T0.Add(time.Second + lease)},
		}
		if diff := cmp.Diff(want, take(t, b, T0.Add(time.Second), 0)); diff != "" {
			t.Fatalf("taken (-want +got):\n%s", diff)
		}
	})

	t.Run("concurrent receives of one key: exactly one is first", func(t *testing.T) {
		b := open(t)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				first, err := b.Receive(ctx, item("teams:conv:act-1", T0.Add(time.Duration(i)*time.Millisecond)))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 1 {
			t.Fatalf("%d of 20 concurrent receives of one key were first, want 1", firsts.Load())
		}
		if got := take(t, b, T0.Add(time.Second), 0); len(got) != 1 {
			t.Fatalf("%d items kept, want 1", len(got))
		}
	})

	t.Run("concurrent receives of different keys: each is first and kept", func(t *testing.T) {
		b := open(t)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				first, err := b.Receive(ctx, item(fmt.Sprintf("k%02d", i), T0))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 20 {
			t.Fatalf("%d of 20 distinct keys were first", firsts.Load())
		}
		depth(t, b, 20, T0)
		got := map[string]int{}
		for _, k := range takeKeys(t, b, T0, 0) {
			got[k]++
		}
		for i := range 20 {
			if k := fmt.Sprintf("k%02d", i); got[k] != 1 {
				t.Errorf("%s taken %d times, want 1", k, got[k])
			}
		}
	})

	t.Run("take leases the due items, up to limit", func(t *testing.T) {
		b := open(t)
		for i, k := range []string{"a", "b", "c"} {
			receive(t, b, item(k, T0.Add(time.Duration(i)*time.Second)))
		}
		receive(t, b, item("later", T0.Add(time.Hour)))
		now := T0.Add(time.Minute)
		got := take(t, b, now, 2)
		wantKeys(t, "first take", []string{"a", "b"}, keys(got))
		for _, it := range got {
			if it.Attempts != 1 || !it.NextAt.Equal(now.Add(lease)) {
				t.Fatalf("%s taken: attempts %d, next %v; want 1 and %v", it.Key, it.Attempts, it.NextAt, now.Add(lease))
			}
		}
		wantKeys(t, "second take", []string{"c"}, takeKeys(t, b, now, 2))
		wantKeys(t, "third take", nil, takeKeys(t, b, now, 2))
		depth(t, b, 4, T0) // taken is not finished
	})

	t.Run("take by key leases the named items that are due, in the order named", func(t *testing.T) {
		b := open(t)
		for _, k := range []string{"a", "b", "c", "d"} {
			receive(t, b, item(k, T0))
		}
		later := item("later", T0)
		later.NextAt = T0.Add(time.Hour)
		receive(t, b, later)
		if _, err := b.FinishInbox(ctx, "d", T0); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "take one the usual way", []string{"a"}, takeKeys(t, b, T0, 1))
		got, err := b.TakeInboxKeys(ctx, T0.Add(time.Second), lease, "c", "a", "nope", "d", "later", "c")
		if err != nil {
			t.Fatal(err)
		}
		// a is leased (taken above), d finished, later not due, nope
		// unknown, and c named twice is taken once.
		want := []flows.InboxItem{{Key: "c", Platform: "slack", Payload: []byte(`{"text":"c"}`), ReceivedAt: T0, Attempts: 1, NextAt: T0.Add(time.Second + lease)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("taken by key (-want +got):\n%s", diff)
		}
		wantKeys(t, "what is left to take", []string{"b"}, takeKeys(t, b, T0.Add(time.Second), 0))
		wantKeys(t, "after the leases lapse", []string{"a", "b", "c"}, takeKeys(t, b, T0.Add(2*time.Second+lease), 0))
		if got, err := b.TakeInboxKeys(ctx, T0, lease); err != nil || len(got) != 0 {
			t.Fatalf("take of no keys: %v %v", got, err)
		}
	})

	t.Run("due items are taken by NextAt, then in the order received", func(t *testing.T) {
		b := open(t)
		for _, k := range []string{"z", "y", "x", "w"} {
			receive(t, b, item(k, T0))
		}
		if err := b.RetryInbox(ctx, "z", T0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := b.RetryInbox(ctx, "y", T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "order", []string{"x", "w", "y", "z"}, takeKeys(t, b, T0.Add(5*time.Minute), 0))
	})

	t.Run("concurrent takers never get the same item", func(t *testing.T) {
		b := open(t)
		for i := range 30 {
			receive(t, b, item(fmt.Sprintf("k%02d", i), T0))
		}
		var mu sync.Mutex
		taken := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				// Bounded: a backend that hands an item out twice must
				// fail here, not loop.
				for range 30 {
					items, err := b.TakeInbox(ctx, T0, time.Hour, 4)
					if err != nil {
						t.Error(err)
						return
					}
					if len(items) == 0 {
						return
					}
					mu.Lock()
					for _, it := range items {
						taken[it.Key]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(taken) != 30 {
			t.Fatalf("%d distinct items taken, want 30", len(taken))
		}
		for k, n := range taken {
			if n != 1 {
				t.Errorf("%s taken %d times under one lease", k, n)
			}
		}
	})

	t.Run("a lapsed lease makes the item takeable again", func(t *testing.T) {
		b := open(t)
		receive(t, b, item("a", T0))
		if got := take(t, b, T0, 0); len(got) != 1 || got[0].Attempts != 1 {
			t.Fatalf("first take: %+v", got)
		}
		wantKeys(t, "within the lease", nil, takeKeys(t, b, T0.Add(lease-time.Second), 0))
		got := take(t, b, T0.Add(lease), 0)
		if len(got) != 1 || got[0].Key != "a" || got[0].Attempts != 2 || !got[0].NextAt.Equal(T0.Add(2*lease)) {
			t.Fatalf("after the lease lapsed: %+v, want a on its second attempt", got)
		}
	})

	t.Run("retry makes a taken item available again at next", func(t *testing.T) {
		b := open(t)
		receive(t, b, item("a", T0))
		take(t, b, T0, 0)
		if err := b.RetryInbox(ctx, "a", T0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "after the lease, before next", nil, takeKeys(t, b, T0.Add(2*time.Minute), 0))
		got := take(t, b, T0.Add(5*time.Minute), 0)
		if len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("at next: %+v, want a on its second attempt", got)
		}
		code(t, "retry of an unknown key", b.RetryInbox(ctx, "nope", T0), flows.ENOTFOUND)
	})

	t.Run("extend keeps a taken item from other takers until then", func(t *testing.T) {
		b := open(t)
		for _, k := range []string{"a", "b", "c"} {
			receive(t, b, item(k, T0))
		}
		take(t, b, T0, 0)
		if _, err := b.FinishInbox(ctx, "c", T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// a's lease moves on; b's is left to lapse; the finished c and an
		// unknown key are skipped.
		if err := b.ExtendInbox(ctx, T0.Add(3*lease), "a", "c", "nope"); err != nil {
			t.Fatal(err)
		}
		// Never shortened.
		if err := b.ExtendInbox(ctx, T0.Add(lease/2), "a"); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "after the first lease", []string{"b"}, takeKeys(t, b, T0.Add(2*lease), 0))
		if _, err := b.FinishInbox(ctx, "b", T0.Add(2*lease)); err != nil {
			t.Fatal(err)
		}
		got := take(t, b, T0.Add(3*lease), 0)
		if len(got) != 1 || got[0].Key != "a" || got[0].Attempts != 2 {
			t.Fatalf("once the extended lease lapsed: %+v, want a on its second attempt", got)
		}
		if err := b.ExtendInbox(ctx, T0); err != nil {
			t.Fatalf("extend nothing: %v", err)
		}
		depth(t, b, 1, T0)
	})

	t.Run("finish keeps a tombstone that still refuses the key", func(t *testing.T) {
		b := open(t)
		receive(t, b, item("a", T0))
		receive(t, b, item("b", T0.Add(time.Second)))
		take(t, b, T0.Add(time.Second), 0)
		if _, err := b.FinishInbox(ctx, "a", T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		depth(t, b, 1, T0.Add(time.Second))
		wantKeys(t, "take after finish", []string{"b"}, takeKeys(t, b, T0.Add(time.Hour), 0))
		if receive(t, b, item("a", T0.Add(2*time.Minute))) {
			t.Fatal("a finished key was received as first")
		}
		if _, err := b.FinishInbox(ctx, "a", T0.Add(2*time.Minute)); err != nil {
			t.Fatalf("finishing twice: %v", err)
		}
		depth(t, b, 1, T0.Add(time.Second))
		code(t, "retry of a finished item", b.RetryInbox(ctx, "a", T0), flows.ECONFLICT)
		_, err := b.FinishInbox(ctx, "nope", T0)
		code(t, "finish of an unknown key", err, flows.ENOTFOUND)
		wantKeys(t, "take after all that", []string{"b"}, takeKeys(t, b, T0.Add(24*time.Hour), 0))
		// Finished twice (two workers whose leases overlapped), it keeps the
		// first finish time.
		if n, err := b.PurgeInbox(ctx, T0.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("purge at the first finish: %d %v, want 1", n, err)
		}
		if !receive(t, b, item("a", T0.Add(3*time.Minute))) {
			t.Fatal("a purged key was not first")
		}
	})

	t.Run("a refused item is dropped unacted unless a redelivery was acknowledged", func(t *testing.T) {
		b := open(t)
		receive(t, b, item("alone", T0))
		receive(t, b, item("again", T0))
		wantKeys(t, "take", []string{"alone", "again"}, takeKeys(t, b, T0, 0))
		// Sent again (to any replica) while it waits: acknowledged as
		// received before, so it must be acted on after all.
		if receive(t, b, item("again", T0.Add(time.Second))) {
			t.Fatal("a redelivery of an unfinished item was first")
		}
		if dropped, err := b.DropInbox(ctx, "again", T0.Add(2*time.Second)); err != nil || dropped {
			t.Fatalf("drop of a redelivered item: dropped=%v %v, want kept", dropped, err)
		}
		if dropped, err := b.DropInbox(ctx, "alone", T0.Add(2*time.Second)); err != nil || !dropped {
			t.Fatalf("drop of an item nobody sent again: dropped=%v %v", dropped, err)
		}
		depth(t, b, 1, T0)
		wantKeys(t, "take after the drop", []string{"again"}, takeKeys(t, b, T0.Add(time.Hour), 0))
		if _, err := b.FinishInbox(ctx, "again", T0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if dropped, err := b.DropInbox(ctx, "again", T0.Add(time.Hour)); err != nil || dropped {
			t.Fatalf("drop of a finished item: dropped=%v %v", dropped, err)
		}
		if dropped, err := b.DropInbox(ctx, "alone", T0.Add(time.Hour)); err != nil || dropped {
			t.Fatalf("a second drop: dropped=%v %v", dropped, err)
		}
		_, err := b.DropInbox(ctx, "nope", T0)
		code(t, "drop of an unknown key", err, flows.ENOTFOUND)
	})

	t.Run("a dropped item is taken as new when it is sent again", func(t *testing.T) {
		b := open(t)
		receive(t, b, item("a", T0))
		if dropped, err := b.DropInbox(ctx, "a", T0.Add(time.Second)); err != nil || !dropped {
			t.Fatalf("drop: dropped=%v %v", dropped, err)
		}
		depth(t, b, 0, time.Time{})
		again := item("a", T0.Add(time.Minute))
		again.Payload = []byte(`{"text":"sent again"}`)
		if !receive(t, b, again) {
			t.Fatal("a dropped item sent again was not first")
		}
		if receive(t, b, item("a", T0.Add(2*time.Minute))) {
			t.Fatal("the revived item was received as first once more")
		}
		depth(t, b, 1, T0.Add(time.Minute))
		// The drop's tombstone is gone with it: purging past the drop
		// leaves the item.
		if n, err := b.PurgeInbox(ctx, T0.Add(30*time.Second)); err != nil || n != 0 {
			t.Fatalf("purge past the drop: %d %v, want 0", n, err)
		}
		want := []flows.InboxItem{{Key: "a", Platform: "slack", Payload: []byte(`{"text":"sent again"}`), ReceivedAt: T0.Add(time.Minute),
			Attempts: 1, NextAt: T0.Add(time.Hour + lease)}}
		if diff := cmp.Diff(want, take(t, b, T0.Add(time.Hour), 0)); diff != "" {
			t.Fatalf("taken (-want +got):\n%s", diff)
		}
		// A revived item was acknowledged as new: a redelivery of it keeps
		// it too.
		if dropped, err := b.DropInbox(ctx, "a", T0.Add(time.Hour)); err != nil || dropped {
			t.Fatalf("drop of the revived item after its redelivery: dropped=%v %v", dropped, err)
		}
	})

	t.Run("finish enqueues its answers with it, once", func(t *testing.T) {
		b := open(t)
		ob, ok := b.(flows.Outbox)
		if !ok {
			t.Skip("this inbox has no outbox")
		}
		receive(t, b, item("a", T0))
		answer := flows.Delivery{Conversation: "slack:reply:U1", Platform: "slack", Priority: flows.PriorityActor, What: "reply",
			Recipient: "U1", Payload: []byte(`{"text":"done"}`), CreatedAt: T0}
		got, err := b.FinishInbox(ctx, "a", T0.Add(time.Second), answer)
		if err != nil || len(got) != 1 || string(got[0].Payload) != `{"text":"done"}` {
			t.Fatalf("finish with an answer: %+v %v", got, err)
		}
		again, err := b.FinishInbox(ctx, "a", T0.Add(2*time.Second), answer)
		if err != nil || len(again) != 0 {
			t.Fatalf("finishing again enqueued %+v (%v)", again, err)
		}
		// An answer left unnumbered (ID 0) is numbered by the time the
		// outbox is read.
		pending, err := ob.Pending(ctx, 0)
		if err != nil || len(pending) != 1 || pending[0].ID == 0 || (got[0].ID != 0 && pending[0].ID != got[0].ID) ||
			pending[0].Conversation != "slack:reply:U1" || string(pending[0].Payload) != `{"text":"done"}` {
			t.Fatalf("outbox after the finish: %+v %v", pending, err)
		}
		if cur, err := ob.Cursor(ctx); err != nil || cur != 0 {
			t.Fatalf("an answer moved the cursor to %d (%v)", cur, err)
		}
		if _, err := b.FinishInbox(ctx, "nope", T0, answer); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("finish of an unknown key with an answer: %v", err)
		}
		if pending, _ := ob.Pending(ctx, 0); len(pending) != 1 {
			t.Fatalf("a refused finish enqueued its answer: %d waiting", len(pending))
		}
	})

	t.Run("purge removes only items finished at or before t", func(t *testing.T) {
		b := open(t)
		for _, k := range []string{"a", "b", "c", "d"} {
			receive(t, b, item(k, T0))
		}
		for i, k := range []string{"a", "b", "c"} {
			if _, err := b.FinishInbox(ctx, k, T0.Add(time.Duration(i+1)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := b.PurgeInbox(ctx, T0.Add(2*time.Minute)); err != nil || n != 2 {
			t.Fatalf("purge at 2m: %d %v, want 2", n, err)
		}
		for _, x := range []struct {
			key   string
			first bool
		}{{"a", true}, {"b", true}, {"c", false}} {
			if got := receive(t, b, item(x.key, T0.Add(3*time.Minute))); got != x.first {
				t.Errorf("receive %s after the purge: first=%v, want %v", x.key, got, x.first)
			}
		}
		if n, err := b.PurgeInbox(ctx, T0.Add(2*time.Minute)); err != nil || n != 0 {
			t.Fatalf("purge at 2m again: %d %v, want 0", n, err)
		}
		if n, err := b.PurgeInbox(ctx, T0.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("purge at 1h: %d %v, want 1 (c; a and b came again, d never finished)", n, err)
		}
		depth(t, b, 3, T0)
		wantKeys(t, "take after the purges", []string{"d", "a", "b"}, takeKeys(t, b, T0.Add(time.Hour), 0))
	})

	t.Run("depth counts unfinished items and the oldest", func(t *testing.T) {
		b := open(t)
		depth(t, b, 0, time.Time{})
		receive(t, b, item("b", T0.Add(2*time.Second)))
		receive(t, b, item("a", T0.Add(time.Second)))
		receive(t, b, item("c", T0.Add(3*time.Second)))
		depth(t, b, 3, T0.Add(time.Second))
		take(t, b, T0.Add(time.Minute), 0)
		if err := b.RetryInbox(ctx, "a", T0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		depth(t, b, 3, T0.Add(time.Second)) // taken and retried are still there, received when they were
		for _, k := range []string{"a", "b", "c"} {
			if _, err := b.FinishInbox(ctx, k, T0.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if k == "a" {
				depth(t, b, 2, T0.Add(2*time.Second))
			}
		}
		depth(t, b, 0, time.Time{})
	})

	t.Run("unfinished items and tombstones survive a restart", func(t *testing.T) {
		if reopen == nil {
			t.Skip("this backend keeps nothing across a restart")
		}
		b := open(t)
		for _, k := range []string{"a", "b", "c"} {
			receive(t, b, item(k, T0))
		}
		wantKeys(t, "take one", []string{"a"}, takeKeys(t, b, T0, 1))
		if _, err := b.FinishInbox(ctx, "b", T0); err != nil {
			t.Fatal(err)
		}
		b = reopen(t, b)
		depth(t, b, 2, T0)
		if receive(t, b, item("b", T0.Add(time.Second))) {
			t.Fatal("the tombstone of b was lost")
		}
		wantKeys(t, "within a's lease", []string{"c"}, takeKeys(t, b, T0.Add(30*time.Second), 0))
		if !receive(t, b, item("d", T0.Add(lease))) {
			t.Fatal("a new key after the restart was not first")
		}
		got := take(t, b, T0.Add(lease), 0)
		wantKeys(t, "after a's lease", []string{"a", "d"}, keys(got))
		if got[0].Attempts != 2 {
			t.Fatalf("a's attempts after the restart: %d, want 2", got[0].Attempts)
		}
	})
}

// OutboxSuite checks the flows.Outbox port.
func OutboxSuite(t *testing.T, open OpenBackend, reopen Reopen) {
	ctx := context.Background()
	dl := func(conv, what string) flows.Delivery {
		return flows.Delivery{
			Conversation: conv, Platform: "slack", Priority: flows.PriorityApproval, What: what,
			Recipient: "bob@example.com", RequestID: "req1", Payload: []byte(what), CreatedAt: T0,
		}
	}
	enqueue := func(t *testing.T, b Backend, cursor uint64, ds ...flows.Delivery) []flows.Delivery {
		t.Helper()
		got, err := b.Enqueue(ctx, cursor, ds...)
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		if len(got) != len(ds) {
			t.Fatalf("enqueue of %d returned %d", len(ds), len(got))
		}
		return got
	}
	one := func(t *testing.T, b Backend, d flows.Delivery) flows.Delivery {
		t.Helper()
		return enqueue(t, b, 0, d)[0]
	}
	pending := func(t *testing.T, b Backend, limit int) []flows.Delivery {
		t.Helper()
		got, err := b.Pending(ctx, limit)
		if err != nil {
			t.Fatalf("pending: %v", err)
		}
		return got
	}
	whats := func(ds []flows.Delivery) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.What)
		}
		return out
	}
	same := func(t *testing.T, what string, want, got any) {
		t.Helper()
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", what, diff)
		}
	}
	cursor := func(t *testing.T, b Backend) uint64 {
		t.Helper()
		c, err := b.Cursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	depth := func(t *testing.T, b Backend, n int, oldest time.Time) {
		t.Helper()
		gotN, gotOldest, err := b.OutboxDepth(ctx)
		if err != nil || gotN != n || !gotOldest.Equal(oldest) {
			t.Fatalf("depth: %d, oldest %v, %v; want %d, oldest %v", gotN, gotOldest, err, n, oldest)
		}
	}
	code := func(t *testing.T, what string, err error, want flows.Code) {
		t.Helper()
		if flows.ErrorCode(err) != want {
			t.Fatalf("%s: %v, want %s", what, err, want)
		}
	}

	t.Run("enqueue numbers deliveries in order and keeps every field", func(t *testing.T) {
		b := open(t)
		first := dl("slack:dm:bob", "one")
		first.ID = 999 // assigned by Enqueue, whatever the caller says
		second := flows.Delivery{
			Conversation: "slack:channel:C1", Platform: "teams", Priority: flows.PriorityRefresh, What: "refresh",
			Recipient: "#db-access", RequestID: "req2", EventSeq: 7, Coalesce: "card:req2",
			Ref:     &flows.MessageRef{Platform: "slack", Conversation: "C1", ID: "1.1", Recipient: "#db-access", Kind: "approval"},
			Payload: []byte(`{"k":1}`), CreatedAt: T0.Add(time.Second), NotBefore: T0.Add(time.Minute), Attempts: 2,
		}
		got := enqueue(t, b, 0, first, second)
		third := one(t, b, dl("slack:dm:bob", "three"))
		if got[0].ID == 0 || got[0].ID == 999 || got[1].ID <= got[0].ID || third.ID <= got[1].ID {
			t.Fatalf("ids %d, %d, %d: want increasing, assigned by the store", got[0].ID, got[1].ID, third.ID)
		}
		first.ID, second.ID = got[0].ID, got[1].ID
		same(t, "returned", []flows.Delivery{first, second}, got)
		got[1].Payload[0], got[1].Ref.ID = 'X', "changed" // the caller's copies
		want := []flows.Delivery{first, third, second}
		same(t, "pending", want, pending(t, b, 0))
		if _, err := b.Enqueue(ctx, 0, flows.Delivery{What: "nowhere"}); err == nil {
			t.Fatal("a delivery without a conversation was enqueued")
		}
		same(t, "pending after a refused enqueue", want, pending(t, b, 0))
	})

	t.Run("the cursor moves forward with the enqueue and not without", func(t *testing.T) {
		b := open(t)
		if c := cursor(t, b); c != 0 {
			t.Fatalf("a new outbox's cursor: %d", c)
		}
		one(t, b, dl("a", "no event"))
		if c := cursor(t, b); c != 0 {
			t.Fatalf("cursor after an enqueue with cursor 0: %d, want 0", c)
		}
		enqueue(t, b, 5, dl("a", "event 5"))
		if c := cursor(t, b); c != 5 {
			t.Fatalf("cursor: %d, want 5", c)
		}
		one(t, b, dl("a", "reply"))
		if c := cursor(t, b); c != 5 {
			t.Fatalf("cursor after an enqueue with cursor 0: %d, want 5", c)
		}
		enqueue(t, b, 7) // events 6 and 7 told nobody anything
		if c := cursor(t, b); c != 7 {
			t.Fatalf("cursor: %d, want 7", c)
		}
		for _, c := range []uint64{7, 6} {
			_, err := b.Enqueue(ctx, c, dl("a", fmt.Sprintf("again %d", c)))
			code(t, fmt.Sprintf("enqueue with cursor %d at 7", c), err, flows.ECONFLICT)
		}
		same(t, "pending", []string{"no event", "event 5", "reply"}, whats(pending(t, b, 0)))
		if c := cursor(t, b); c != 7 {
			t.Fatalf("cursor after refused enqueues: %d, want 7", c)
		}
	})

	t.Run("a coalescing delivery updates the waiting one of its conversation in place", func(t *testing.T) {
		b := open(t)
		refresh := func(conv string, seq uint64, what string, at time.Time) flows.Delivery {
			d := dl(conv, what)
			d.Priority, d.Coalesce, d.EventSeq, d.CreatedAt = flows.PriorityRefresh, "card:req1", seq, at
			return d
		}
		first := one(t, b, refresh("A", 1, "v1", T0))
		reply := one(t, b, dl("A", "reply"))
		updated := one(t, b, refresh("A", 4, "v4", T0.Add(time.Minute)))
		want := first
		want.EventSeq, want.Payload, want.What = 4, []byte("v4"), "v4"
		same(t, "the coalesced delivery", want, updated)
		elsewhere := one(t, b, refresh("B", 4, "B v4", T0))
		if elsewhere.ID <= reply.ID {
			t.Fatalf("another conversation's refresh was coalesced: id %d", elsewhere.ID)
		}
		plain := enqueue(t, b, 0, dl("A", "plain 1"), dl("A", "plain 2"))
		if plain[0].ID == plain[1].ID {
			t.Fatal("deliveries without Coalesce were coalesced")
		}
		both := enqueue(t, b, 0, refresh("C", 5, "C v5", T0), refresh("C", 6, "C v6", T0))
		if both[0].ID != both[1].ID || both[1].What != "C v6" {
			t.Fatalf("two refreshes in one enqueue: %+v", both)
		}
		same(t, "pending", []string{"v4", "reply", "plain 1", "plain 2", "B v4", "C v6"}, whats(pending(t, b, 0)))
		depth(t, b, 6, T0)

		// Once delivered, it is not waiting: a new refresh is a new delivery.
		if err := b.Delivered(ctx, first.ID, nil); err != nil {
			t.Fatal(err)
		}
		if next := one(t, b, refresh("A", 8, "v8", T0)); next.ID <= both[0].ID {
			t.Fatalf("a refresh coalesced into a delivered delivery (id %d)", next.ID)
		}
		same(t, "pending after delivery", []string{"reply", "plain 1", "plain 2", "v8", "B v4", "C v6"}, whats(pending(t, b, 0)))
	})

	t.Run("pending groups conversations in the order of their first delivery, up to limit", func(t *testing.T) {
		b := open(t)
		var ds []flows.Delivery
		for _, x := range []string{"A1", "B1", "A2", "C1", "B2", "A3"} {
			ds = append(ds, dl(x[:1], x))
		}
		got := enqueue(t, b, 0, ds...)
		same(t, "all", []string{"A1", "A2", "A3", "B1", "B2", "C1"}, whats(pending(t, b, 0)))
		same(t, "limit 4", []string{"A1", "A2", "A3", "B1"}, whats(pending(t, b, 4)))
		same(t, "limit 2", []string{"A1", "A2"}, whats(pending(t, b, 2)))
		if err := b.Delivered(ctx, got[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		same(t, "after A1 went", []string{"B1", "B2", "A2", "A3", "C1"}, whats(pending(t, b, 0)))
	})

	t.Run("delivered removes the delivery and remembers its message under its request", func(t *testing.T) {
		b := open(t)
		earlier := flows.MessageRef{Platform: "slack", Conversation: "D0", ID: "0.1", Recipient: "alice@example.com", Kind: "reply"}
		if err := b.AddMessageRef(ctx, "req1", earlier); err != nil {
			t.Fatal(err)
		}
		d := one(t, b, dl("A", "card"))
		other := dl("B", "notice")
		other.RequestID = "req2"
		d2 := one(t, b, other)
		ref := flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.1", Recipient: "bob@example.com", Kind: "approval"}
		if err := b.Delivered(ctx, d.ID, &ref); err != nil {
			t.Fatal(err)
		}
		same(t, "pending", []string{"notice"}, whats(pending(t, b, 0)))
		refs, err := b.MessageRefs(ctx, "req1")
		if err != nil {
			t.Fatal(err)
		}
		same(t, "refs of req1", []flows.MessageRef{earlier, ref}, refs)
		code(t, "delivered twice", b.Delivered(ctx, d.ID, &ref), flows.ENOTFOUND)
		if err := b.Delivered(ctx, d2.ID, nil); err != nil {
			t.Fatal(err)
		}
		refs2, _ := b.MessageRefs(ctx, "req2")
		same(t, "refs of req2 (delivered without a ref)", []flows.MessageRef(nil), refs2)
		refs, _ = b.MessageRefs(ctx, "req1")
		same(t, "refs of req1 after a second delivered", []flows.MessageRef{earlier, ref}, refs)
		depth(t, b, 0, time.Time{})
	})

	t.Run("delivered of an unknown delivery is ENOTFOUND and remembers nothing", func(t *testing.T) {
		b := open(t)
		d := one(t, b, dl("A", "card"))
		ref := flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.1"}
		code(t, "delivered of an unknown id", b.Delivered(ctx, d.ID+100, &ref), flows.ENOTFOUND)
		if refs, _ := b.MessageRefs(ctx, "req1"); len(refs) != 0 {
			t.Fatalf("refs after a failed delivered: %+v", refs)
		}
		same(t, "pending", []flows.Delivery{d}, pending(t, b, 0))
	})

	t.Run("waiting reads one delivery as stored, until it goes", func(t *testing.T) {
		b := open(t)
		d := one(t, b, dl("A", "card"))
		d2 := one(t, b, dl("A", "notice"))
		if err := b.Postpone(ctx, d2.ID, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		d2.Attempts, d2.NotBefore = 1, T0.Add(time.Minute)
		for _, want := range []flows.Delivery{d, d2} {
			got, err := b.Waiting(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, fmt.Sprintf("waiting %d", want.ID), want, got)
		}
		if err := b.Delivered(ctx, d.ID, nil); err != nil {
			t.Fatal(err)
		}
		_, err := b.Waiting(ctx, d.ID)
		code(t, "waiting after delivered", err, flows.ENOTFOUND)
		if err := b.Drop(ctx, d2.ID); err != nil {
			t.Fatal(err)
		}
		_, err = b.Waiting(ctx, d2.ID)
		code(t, "waiting after drop", err, flows.ENOTFOUND)
		_, err = b.Waiting(ctx, d2.ID+100)
		code(t, "waiting of an unknown id", err, flows.ENOTFOUND)
	})

	t.Run("held lists a holder's deliveries until they go", func(t *testing.T) {
		b := open(t)
		held := func(t *testing.T, holder string, limit int) []flows.Delivery {
			t.Helper()
			got, err := b.Held(ctx, holder, limit)
			if err != nil {
				t.Fatalf("held: %v", err)
			}
			return got
		}
		mine, theirs, anyone := dl("A", "credentials"), dl("B", "credentials"), dl("A", "notice")
		mine.Holder, theirs.Holder = "replica-1", "replica-2"
		got := enqueue(t, b, 0, mine, anyone, theirs)
		second := one(t, b, func() flows.Delivery { d := dl("C", "credentials"); d.Holder = "replica-1"; return d }())
		same(t, "replica-1's", []flows.Delivery{got[0], second}, held(t, "replica-1", 10))
		same(t, "replica-1's, limited", []flows.Delivery{got[0]}, held(t, "replica-1", 1))
		same(t, "replica-2's", []flows.Delivery{got[2]}, held(t, "replica-2", 10))
		same(t, "nobody's", []flows.Delivery(nil), held(t, "", 10))
		if err := b.Postpone(ctx, got[0].ID, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got[0].Attempts, got[0].NotBefore = 1, T0.Add(time.Minute)
		same(t, "after a postpone", []flows.Delivery{got[0], second}, held(t, "replica-1", 10))
		if err := b.Delivered(ctx, got[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Drop(ctx, got[2].ID); err != nil {
			t.Fatal(err)
		}
		same(t, "replica-1's after one was delivered", []flows.Delivery{second}, held(t, "replica-1", 10))
		same(t, "replica-2's after its was dropped", []flows.Delivery(nil), held(t, "replica-2", 10))
	})

	t.Run("postpone records a failed attempt", func(t *testing.T) {
		b := open(t)
		d := one(t, b, dl("A", "card"))
		for i, at := range []time.Time{T0.Add(time.Minute), T0.Add(3 * time.Minute)} {
			if err := b.Postpone(ctx, d.ID, at); err != nil {
				t.Fatal(err)
			}
			d.Attempts, d.NotBefore = i+1, at
			same(t, fmt.Sprintf("after postpone %d", i+1), []flows.Delivery{d}, pending(t, b, 0))
		}
		code(t, "postpone of an unknown id", b.Postpone(ctx, d.ID+100, T0), flows.ENOTFOUND)
	})

	t.Run("sending marks a delivery and returns the mark it had, until it goes", func(t *testing.T) {
		b := open(t)
		sent, dropped, postponed := one(t, b, dl("A", "card")), one(t, b, dl("B", "card")), one(t, b, dl("C", "card"))
		mark := func(id uint64, m flows.SendMark) *flows.SendMark {
			t.Helper()
			prev, err := b.Sending(ctx, id, m)
			if err != nil {
				t.Fatalf("sending %d: %v", id, err)
			}
			return prev
		}
		first := flows.SendMark{Holder: "r1", At: T0, EventSeq: 7}
		second := flows.SendMark{Holder: "r2", At: T0.Add(time.Minute), EventSeq: 7}
		for _, d := range []flows.Delivery{sent, dropped, postponed} {
			if prev := mark(d.ID, first); prev != nil {
				t.Fatalf("delivery %d: a first mark found %+v before it", d.ID, *prev)
			}
		}
		same(t, "the mark the second send finds", &first, mark(sent.ID, second))
		same(t, "and the one after it", &second, mark(sent.ID, first))
		// A failed attempt keeps the mark; what goes takes it with it.
		if err := b.Postpone(ctx, postponed.ID, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		same(t, "the mark after a postpone", &first, mark(postponed.ID, second))
		if err := b.Delivered(ctx, sent.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Drop(ctx, dropped.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []uint64{sent.ID, dropped.ID, postponed.ID + 100} {
			_, err := b.Sending(ctx, id, first)
			code(t, fmt.Sprintf("sending of delivery %d, gone or unknown", id), err, flows.ENOTFOUND)
		}
		same(t, "the deliveries as stored", []flows.Delivery{{ID: postponed.ID, Conversation: "C", Platform: "slack", Priority: flows.PriorityApproval,
			What: "card", Recipient: "bob@example.com", RequestID: "req1", Payload: []byte("card"), CreatedAt: T0, Attempts: 1, NotBefore: T0.Add(time.Minute)}},
			pending(t, b, 0))
	})

	t.Run("drop removes the delivery and records its events in the same step", func(t *testing.T) {
		b := open(t)
		ev := func(msg string) flows.Event {
			return flows.Event{Type: flows.EventOrphanDeleted, RequestID: "req1", Actor: "jitbot", At: T0, Message: msg}
		}
		if err := b.AppendEvents(ctx, ev("before")); err != nil {
			t.Fatal(err)
		}
		d := one(t, b, dl("A", "card"))
		keep := one(t, b, dl("A", "next"))
		if err := b.Drop(ctx, d.ID, ev("unreachable"), ev("told the admins")); err != nil {
			t.Fatal(err)
		}
		same(t, "pending", []flows.Delivery{keep}, pending(t, b, 0))
		code(t, "drop again", b.Drop(ctx, d.ID, ev("again")), flows.ENOTFOUND)
		var msgs []string
		if err := b.Audit(ctx, time.Time{}, func(r flows.AuditRecord) error { msgs = append(msgs, r.Event.Message); return nil }); err != nil {
			t.Fatal(err)
		}
		same(t, "audit", []string{"before", "unreachable", "told the admins"}, msgs)
		if sum, err := b.VerifyAudit(ctx); err != nil || sum.Records != 3 {
			t.Fatalf("chain after drop: %+v %v", sum, err)
		}
		if err := b.Drop(ctx, keep.ID); err != nil {
			t.Fatalf("drop without events: %v", err)
		}
		depth(t, b, 0, time.Time{})
	})

	t.Run("depth counts waiting deliveries and the oldest", func(t *testing.T) {
		b := open(t)
		depth(t, b, 0, time.Time{})
		x := dl("A", "x")
		x.CreatedAt, x.Coalesce = T0.Add(2*time.Minute), "card"
		x = one(t, b, x)
		y := dl("B", "y")
		y.CreatedAt = T0.Add(time.Minute) // enqueued later, created earlier
		y = one(t, b, y)
		z := dl("A", "z")
		z.CreatedAt, z.Coalesce = T0.Add(5*time.Minute), "card"
		one(t, b, z)
		depth(t, b, 2, T0.Add(time.Minute))
		if err := b.Delivered(ctx, y.ID, nil); err != nil {
			t.Fatal(err)
		}
		depth(t, b, 1, T0.Add(2*time.Minute)) // x keeps its own time when coalesced
		if err := b.Drop(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		depth(t, b, 0, time.Time{})
	})

	t.Run("concurrent enqueues get distinct increasing ids", func(t *testing.T) {
		b := open(t)
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				if _, err := b.Enqueue(ctx, 0, dl(fmt.Sprintf("c%d", i), "x")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got := pending(t, b, 0)
		if len(got) != 10 {
			t.Fatalf("%d deliveries, want 10", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Fatalf("ids out of order or repeated: %d after %d", got[i].ID, got[i-1].ID)
			}
		}
	})

	t.Run("waiting deliveries and the cursor survive a restart", func(t *testing.T) {
		if reopen == nil {
			t.Skip("this backend keeps nothing across a restart")
		}
		b := open(t)
		card := dl("A", "card v1")
		card.Coalesce = "card"
		got := enqueue(t, b, 4, card, dl("B", "B1"), dl("A", "A2"))
		if err := b.Postpone(ctx, got[1].ID, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		last := enqueue(t, b, 9, dl("C", "C1"))[0]
		if err := b.Delivered(ctx, last.ID, &flows.MessageRef{Platform: "slack", Conversation: "C", ID: "9.9"}); err != nil {
			t.Fatal(err)
		}
		before := pending(t, b, 0)
		b = reopen(t, b)
		same(t, "pending after the restart", before, pending(t, b, 0))
		if c := cursor(t, b); c != 9 {
			t.Fatalf("cursor after the restart: %d, want 9", c)
		}
		depth(t, b, 3, T0)
		card.What = "card v2"
		if again := one(t, b, card); again.ID != got[0].ID {
			t.Fatalf("a refresh after the restart was not coalesced (id %d, want %d)", again.ID, got[0].ID)
		}
		if next := one(t, b, dl("D", "D1")); next.ID <= last.ID {
			t.Fatalf("id %d after the restart reuses one handed out before (%d)", next.ID, last.ID)
		}
		_, err := b.Enqueue(ctx, 9, dl("A", "again"))
		code(t, "enqueue at the old cursor after the restart", err, flows.ECONFLICT)
		if refs, _ := b.MessageRefs(ctx, "req1"); len(refs) != 1 || refs[0].ID != "9.9" {
			t.Fatalf("the delivered ref after the restart: %+v", refs)
		}
	})
}

// AuditReaderSuite checks the flows.AuditReader port.
func AuditReaderSuite(t *testing.T, open OpenBackend) {
	ctx := context.Background()
	after := func(t *testing.T, b Backend, seq uint64, limit int) []flows.AuditRecord {
		t.Helper()
		recs, err := b.AuditAfter(ctx, seq, limit)
		if err != nil {
			t.Fatalf("after %d: %v", seq, err)
		}
		return recs
	}

	t.Run("records after a sequence number, in order, up to limit", func(t *testing.T) {
		b := open(t)
		if got := after(t, b, 0, 10); len(got) != 0 {
			t.Fatalf("an empty log: %+v", got)
		}
		r := NewRequest("aaaa", "alice@example.com", T0)
		if _, _, err := b.Create(ctx, r, submitted(r), ""); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: T0.Add(time.Duration(i) * time.Second), Message: fmt.Sprint(i)}
			if err := b.AppendEvents(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		var all []flows.AuditRecord
		if err := b.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error { all = append(all, rec); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			seq   uint64
			limit int
			want  []flows.AuditRecord
		}{
			{0, 0, all}, {0, 10, all}, {2, 2, all[2:4]}, {4, 10, all[4:]}, {5, 10, nil}, {99, 1, nil},
		} {
			if diff := cmp.Diff(tt.want, after(t, b, tt.seq, tt.limit), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("after %d, limit %d (-want +got):\n%s", tt.seq, tt.limit, diff)
			}
		}
	})

	t.Run("the dispatcher reads what its cursor has not passed", func(t *testing.T) {
		b := open(t)
		for i := range 3 {
			if err := b.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: T0, Message: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		recs := after(t, b, 0, 2)
		if _, err := b.Enqueue(ctx, recs[len(recs)-1].Seq, flows.Delivery{Conversation: "A", What: "told", CreatedAt: T0}); err != nil {
			t.Fatal(err)
		}
		cur, err := b.Cursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rest := after(t, b, cur, 10); len(rest) != 1 || rest[0].Seq != 3 || rest[0].Event.Message != "2" {
			t.Fatalf("after the cursor (%d): %+v, want record 3 only", cur, rest)
		}
	})
}

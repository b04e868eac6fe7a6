package etcdstore_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// TestDeliveredCallsShareATransaction: the Delivered calls made while
// one commits go together in the next transaction; one of them that
// another replica changed meanwhile gets the answer it would have had
// alone, and the others go.
func TestDeliveredCallsShareATransaction(t *testing.T) {
	ctx := t.Context()
	a, b, kv := sharingReplicas(t, "/batch/")
	var ds []flows.Delivery
	for i := range 17 {
		who := fmt.Sprintf("u%d@example.com", i)
		ds = append(ds, flows.Delivery{Conversation: "slack:dm:" + who, Platform: "slack", What: "notice", Recipient: who, RequestID: flows.RequestID(fmt.Sprintf("r%d", i)), CreatedAt: flowstest.T0})
	}
	out, err := a.Enqueue(ctx, 0, ds...)
	if err != nil || len(out) != len(ds) {
		t.Fatalf("enqueue: %d %v", len(out), err)
	}
	// Another replica sends the last one first: a's copy of it is stale.
	stale := out[len(out)-1].ID
	if err := b.Delivered(ctx, stale, nil); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	var sizes []int
	var mu sync.Mutex
	a.BeforeSharedBatch(func(n int) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, n)
		mu.Unlock()
		if first {
			<-release // the others queue behind the first
		}
	})
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	delivered := func(i int) {
		ref := flows.MessageRef{Platform: "slack", Conversation: "D" + fmt.Sprint(i), ID: "1.0"}
		errs[i] = a.Delivered(ctx, out[i].ID, &ref)
	}
	started := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) == 1
	}
	wg.Go(func() { delivered(0) })
	waitFor(t, "the first batch", started)
	for i := 1; i < len(out); i++ {
		wg.Go(func() { delivered(i) })
	}
	waitFor(t, "the others queued", func() bool { return a.SharedQueued() == len(out)-1 })
	close(release)
	wg.Wait()

	if len(sizes) < 2 || sizes[1] != len(out)-1 {
		t.Fatalf("batches %v, want the first alone and then the %d that waited for it together", sizes, len(out)-1)
	}
	for i, err := range errs[:len(out)-1] {
		if err != nil {
			t.Errorf("delivered %d: %v", out[i].ID, err)
		}
	}
	if code := flows.ErrorCode(errs[len(out)-1]); code != flows.ENOTFOUND {
		t.Errorf("the delivery the other replica sent: %v, want ENOTFOUND as alone", errs[len(out)-1])
	}
	if n, _, err := b.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox depth: %d %v", n, err)
	}
	for i := range len(out) - 1 {
		refs, err := b.MessageRefs(ctx, out[i].RequestID)
		if err != nil || len(refs) != 1 {
			t.Fatalf("refs of %s: %v %v", out[i].RequestID, refs, err)
		}
	}

	// Without a stale one, a batch is one transaction.
	more, err := a.Enqueue(ctx, 0, ds[:8]...)
	if err != nil || len(more) != 8 {
		t.Fatalf("enqueue: %d %v", len(more), err)
	}
	mu.Lock()
	sizes = nil
	mu.Unlock()
	release = make(chan struct{})
	wg.Go(func() { _ = a.Delivered(ctx, more[0].ID, nil) })
	waitFor(t, "the first batch", started)
	writes := kv.writes.Load()
	for i := 1; i < len(more); i++ {
		wg.Go(func() {
			if err := a.Delivered(ctx, more[i].ID, nil); err != nil {
				t.Errorf("delivered %d: %v", more[i].ID, err)
			}
		})
	}
	waitFor(t, "the others queued", func() bool { return a.SharedQueued() == len(more)-1 })
	close(release)
	wg.Wait()
	// The first batch's transaction, then one for the seven.
	if got := kv.writes.Load() - writes; got != 2 {
		t.Errorf("%d transactions for a batch of 1 then one of 7, want 2", got)
	}
	if n, _, err := b.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox depth: %d %v", n, err)
	}
}

// waitFor waits until cond holds: another goroutine reaching a state, at
// most 10 s (a hang, not a timing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestInboxFinishesShareATransaction: the inbox items finished while one
// finish commits go together in the next transaction, with their
// answers; one that another replica finished meanwhile is finished (as
// alone: nothing more to do, no answer of this one stored), and the
// others go.
func TestInboxFinishesShareATransaction(t *testing.T) {
	ctx := t.Context()
	a, b, kv := sharingReplicas(t, "/finish/")
	const n = 9
	for i := range n {
		if first, err := a.Receive(ctx, flows.InboxItem{Key: fmt.Sprintf("k%d", i), Platform: "slack", ReceivedAt: flowstest.T0}); err != nil || !first {
			t.Fatalf("receive %d: %v %v", i, first, err)
		}
	}
	items, err := a.TakeInbox(ctx, flowstest.T0, time.Minute, 0)
	if err != nil || len(items) != n {
		t.Fatalf("take: %d %v", len(items), err)
	}
	// Another replica finishes the last one first: a's lease of it is stale.
	stale := fmt.Sprintf("k%d", n-1)
	if _, err := b.FinishInbox(ctx, stale, flowstest.T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	answer := func(i int) flows.Delivery {
		who := fmt.Sprintf("u%d@example.com", i)
		return flows.Delivery{Conversation: "slack:dm:" + who, Platform: "slack", What: "reply", Recipient: who, CreatedAt: flowstest.T0}
	}

	release := make(chan struct{})
	var sizes []int
	var mu sync.Mutex
	a.BeforeSharedBatch(func(n int) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, n)
		mu.Unlock()
		if first {
			<-release // the others queue behind the first
		}
	})
	stored := make([][]flows.Delivery, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	finish := func(i int) {
		stored[i], errs[i] = a.FinishInbox(ctx, fmt.Sprintf("k%d", i), flowstest.T0.Add(2*time.Second), answer(i))
	}
	wg.Go(func() { finish(0) })
	waitFor(t, "the first batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) == 1
	})
	writes := kv.writes.Load()
	for i := 1; i < n; i++ {
		wg.Go(func() { finish(i) })
	}
	waitFor(t, "the others queued", func() bool { return a.SharedQueued() == n-1 })
	close(release)
	wg.Wait()

	if len(sizes) < 2 || sizes[1] != n-1 {
		t.Fatalf("batches %v, want the first alone and then the %d that waited for it together", sizes, n-1)
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("finish k%d: %v", i, errs[i])
		}
	}
	for i := range n - 1 {
		if len(stored[i]) != 1 {
			t.Errorf("finish k%d stored %d answers, want its one", i, len(stored[i]))
		}
	}
	if len(stored[n-1]) != 0 {
		t.Errorf("the item the other replica finished: %d answers stored, want none", len(stored[n-1]))
	}
	// The batch of eight failed on the stale one and went one by one: the
	// first's transaction, the batch's, then each alone (and the stale
	// one's read and its own check again). Without the stale one, below,
	// the batch is one transaction.
	if got := kv.writes.Load() - writes; got < int64(n) {
		t.Errorf("%d transactions after the first, want the failed batch and each alone (at least %d)", got, n)
	}
	if depth, _, err := b.InboxDepth(ctx); err != nil || depth != 0 {
		t.Fatalf("inbox depth: %d %v", depth, err)
	}
	if out, _, err := b.OutboxDepth(ctx); err != nil || out != n-1 {
		t.Fatalf("outbox depth %d %v, want the %d answers", out, err, n-1)
	}

	// Without a stale one, a batch is one transaction.
	for i := range 4 {
		if _, err := a.Receive(ctx, flows.InboxItem{Key: fmt.Sprintf("m%d", i), Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
			t.Fatal(err)
		}
	}
	if items, err := a.TakeInbox(ctx, flowstest.T0, time.Minute, 0); err != nil || len(items) != 4 {
		t.Fatalf("take: %d %v", len(items), err)
	}
	mu.Lock()
	sizes = nil
	mu.Unlock()
	release = make(chan struct{})
	wg.Go(func() { _, _ = a.FinishInbox(ctx, "m0", flowstest.T0.Add(3*time.Second)) })
	waitFor(t, "the first batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) == 1
	})
	writes = kv.writes.Load()
	for i := 1; i < 4; i++ {
		wg.Go(func() {
			if _, err := a.FinishInbox(ctx, fmt.Sprintf("m%d", i), flowstest.T0.Add(3*time.Second), answer(i)); err != nil {
				t.Errorf("finish m%d: %v", i, err)
			}
		})
	}
	waitFor(t, "the others queued", func() bool { return a.SharedQueued() == 3 })
	close(release)
	wg.Wait()
	if got := kv.writes.Load() - writes; got != 2 {
		t.Errorf("%d transactions for a batch of 1 then one of 3, want 2", got)
	}
	if depth, _, err := b.InboxDepth(ctx); err != nil || depth != 0 {
		t.Fatalf("inbox depth: %d %v", depth, err)
	}
}

// sharingReplicas are two processes' stores under prefix on a one-member
// cluster: a, whose transactions kv counts, and b, another replica.
func sharingReplicas(t *testing.T, prefix string) (a, b *etcdstore.Store, kv *countingKV) {
	t.Helper()
	c := etcdtest.Start(t, 1)
	cli, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	kv = &countingKV{KV: cli.KV}
	cli.KV = kv
	if a, err = etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	if b, err = etcdstore.New(t.Context(), c.Client(), etcdstore.Options{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	return a, b, kv
}

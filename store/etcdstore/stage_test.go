package etcdstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// bigBatch is what the dispatcher enqueues after a burst: hundreds of
// deliveries over a few conversations, refreshes coalescing among
// themselves and into what waits already.
func bigBatch() (first flows.Delivery, batch []flows.Delivery) {
	dl := func(conv, what, coalesce string, seq uint64) flows.Delivery {
		return flows.Delivery{Conversation: conv, Platform: "slack", Priority: flows.PriorityApproval, What: what, Recipient: conv,
			RequestID: "req1", EventSeq: seq, Coalesce: coalesce, Payload: []byte(fmt.Sprintf(`{"what":%q,"pad":"%0200d"}`, what, seq)), CreatedAt: flowstest.T0}
	}
	first = dl("C0", "card v0", "card:req1", 1)
	for i := range 300 {
		conv := fmt.Sprintf("C%d", i%7)
		if i%5 == 0 {
			batch = append(batch, dl(conv, fmt.Sprintf("refresh %d", i), "card:req1", uint64(i+2)))
		} else {
			batch = append(batch, dl(conv, fmt.Sprintf("message %d", i), "", uint64(i+2)))
		}
	}
	return first, batch
}

// An enqueue larger than a transaction is still all or nothing, and ends
// as the memory backend's does.
func TestLargeEnqueue(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	mem := flowstest.NewStore()
	ctx := t.Context()
	first, batch := bigBatch()
	for _, b := range []flowstest.Backend{s, mem} {
		if _, err := b.Enqueue(ctx, 0, first); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Enqueue(ctx, 42, batch...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := mem.Enqueue(ctx, 42, batch...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("enqueued (-memory +etcd):\n%s", d)
	}
	pe, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := mem.Pending(ctx, 0)
	if d := cmp.Diff(pm, pe); d != "" || len(pe) < 240 {
		t.Fatalf("pending (-memory +etcd), %d waiting:\n%s", len(pe), d)
	}
	if cur, err := s.Cursor(ctx); err != nil || cur != 42 {
		t.Fatalf("cursor %d %v", cur, err)
	}
	if _, err := s.Enqueue(ctx, 42, batch...); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("the same batch at the same cursor again: %v, want ECONFLICT", err)
	}
	if n, _, err := s.OutboxDepth(ctx); err != nil || n != len(pe) {
		t.Fatalf("depth %d %v, want %d", n, err, len(pe))
	}
}

// A process that dies between the commit of a large enqueue and the end of
// storing it loses nothing: the next reader of the outbox finishes it.
func TestLargeEnqueueFinishedByTheNextReader(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	first, batch := bigBatch()
	if _, err := s.Enqueue(ctx, 0, first); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("killed")
	s.CrashAfterStagedCommit(crash)
	if _, err := s.Enqueue(ctx, 7, batch...); !errors.Is(err, crash) {
		t.Fatalf("enqueue that dies after its commit: %v", err)
	}
	// The cursor moved with the commit: a new leader does not expand the
	// events again.
	other, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: s.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := other.Cursor(ctx); cur != 7 {
		t.Fatalf("cursor after the commit: %d, want 7", cur)
	}
	got, err := other.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mem := flowstest.NewStore()
	_, _ = mem.Enqueue(ctx, 0, first)
	_, _ = mem.Enqueue(ctx, 7, batch...)
	want, _ := mem.Pending(ctx, 0)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("pending after another process finished the enqueue (-want +got):\n%s", d)
	}
	left, err := cli.Get(ctx, s.Prefix()+"outbox/stage", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || left.Count != 0 {
		t.Fatalf("%d staged keys left (%v)", left.Count, err)
	}
}

// A stage that never committed (its enqueuer died before) is dropped once
// it can no longer commit.
func TestDeadStageIsDropped(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	dead := s.Prefix() + "outbox/stage/deadbeef/0"
	if _, err := cli.Put(ctx, dead, `{"puts":[{"k":"x","v":"y"}]}`); err != nil {
		t.Fatal(err)
	}
	first, batch := bigBatch()
	if _, err := s.Enqueue(ctx, 0, first); err != nil { // the sequence moves past the stage
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, 3, batch...); err != nil {
		t.Fatal(err)
	}
	if resp, err := cli.Get(ctx, dead); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the dead stage is still there (%v)", err)
	}
	if resp, err := cli.Get(ctx, "x"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the dead stage was stored (%v)", err)
	}
}

package etcdstore_test

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// A delivery this process enqueued, or read as waiting, goes with one
// transaction and no read; one that another replica's enqueue coalesced
// into since is read, and still goes once, with its index entries.
func TestDeliveredWithoutARead(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := t.Context()
	cliA, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cliA.Close() })
	kv := &countingKV{KV: cliA.KV}
	cliA.KV = kv
	a, err := etcdstore.New(ctx, cliA, etcdstore.Options{Prefix: "/dlv/"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := etcdstore.New(ctx, c.Client(), etcdstore.Options{Prefix: "/dlv/"})
	if err != nil {
		t.Fatal(err)
	}
	notice := flows.Delivery{Conversation: "slack:dm:x@example.com", Platform: "slack", What: "notice", Recipient: "x@example.com", RequestID: "r1", CreatedAt: flowstest.T0}
	refresh := flows.Delivery{Conversation: "slack:channel:C1", Platform: "slack", What: "refresh", Recipient: "C1", RequestID: "r1", Coalesce: "ref:1", CreatedAt: flowstest.T0}
	out, err := a.Enqueue(ctx, 0, notice, refresh)
	if err != nil || len(out) != 2 {
		t.Fatalf("enqueue: %+v %v", out, err)
	}
	delivered := func(s *etcdstore.Store, id uint64, ref *flows.MessageRef, reads int64) {
		t.Helper()
		before := kv.reads.Load()
		if err := s.Delivered(ctx, id, ref); err != nil {
			t.Fatalf("delivered %d: %v", id, err)
		}
		if got := kv.reads.Load() - before; reads == 0 && got != 0 || reads > 0 && got == 0 {
			t.Fatalf("delivered %d: %d reads, want %d", id, got, reads)
		}
	}

	// Enqueued here: no read.
	ref := flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.0"}
	delivered(a, out[0].ID, &ref, 0)
	// Coalesced into by another replica since: read, then removed.
	again, err := b.Enqueue(ctx, 0, refresh)
	if err != nil || len(again) != 1 || again[0].ID != out[1].ID {
		t.Fatalf("b's refresh: %+v %v, want it coalesced into %d", again, err, out[1].ID)
	}
	delivered(a, out[1].ID, nil, 1)
	// Enqueued by another replica, read here as waiting: no read.
	later := notice
	later.CreatedAt = flowstest.T0.Add(time.Second)
	third, err := b.Enqueue(ctx, 0, later)
	if err != nil || len(third) != 1 {
		t.Fatalf("b's notice: %+v %v", third, err)
	}
	if ds, err := a.Pending(ctx, 0); err != nil || len(ds) != 1 || ds[0].ID != third[0].ID {
		t.Fatalf("pending: %+v %v", ds, err)
	}
	delivered(a, third[0].ID, nil, 0)

	if err := a.Delivered(ctx, out[0].ID, nil); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("delivered twice: %v, want ENOTFOUND", err)
	}
	if n, _, err := b.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox depth: %d %v", n, err)
	}
	resp, err := c.Client().Get(ctx, "/dlv/outbox/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.Kvs {
		if key := string(k.Key); key != "/dlv/outbox/seq" {
			t.Errorf("left in the outbox: %q", strings.ToValidUTF8(key, "?"))
		}
	}
	if refs, err := b.MessageRefs(ctx, "r1"); err != nil || len(refs) != 1 || refs[0] != ref {
		t.Fatalf("message refs: %+v %v, want the notice's", refs, err)
	}
}

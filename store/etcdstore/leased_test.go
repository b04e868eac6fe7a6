package etcdstore_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// A process finishes an item it leased without reading it first, on
// condition that it is still as its lease left it: when another replica
// took it since (the lease ran out), the finish reads it and still
// finishes it once, with its index entries gone.
func TestFinishingALeasedItem(t *testing.T) {
	cli, a, b := twoProcesses(t)
	ctx := t.Context()
	for _, k := range []string{"x", "y"} {
		if _, err := a.Receive(ctx, flows.InboxItem{Key: k, Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
			t.Fatal(err)
		}
	}
	if items, err := a.TakeInbox(ctx, flowstest.T0, time.Minute, 0); err != nil || len(items) != 2 {
		t.Fatalf("a takes: %+v %v", items, err)
	}
	// y: finished by a as it leased it.
	if _, err := a.FinishInbox(ctx, "y", flowstest.T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// x: a's lease runs out, b takes it, and a finishes it late.
	if items, err := b.TakeInbox(ctx, flowstest.T0.Add(time.Minute), time.Minute, 0); err != nil || len(items) != 1 || items[0].Key != "x" || items[0].Attempts != 2 {
		t.Fatalf("b takes after a's lease: %+v %v", items, err)
	}
	if _, err := a.FinishInbox(ctx, "x", flowstest.T0.Add(61*time.Second)); err != nil {
		t.Fatalf("a finishes x, which b leased since: %v", err)
	}
	if _, err := b.FinishInbox(ctx, "x", flowstest.T0.Add(62*time.Second)); err != nil {
		t.Fatalf("b finishes x, finished: %v", err)
	}
	for _, k := range []string{"x", "y"} {
		if first, err := b.Receive(ctx, flows.InboxItem{Key: k, Platform: "slack", ReceivedAt: flowstest.T0.Add(time.Hour)}); err != nil || first {
			t.Fatalf("%s delivered again: first %v (%v), want its tombstone to recognise it", k, first, err)
		}
	}
	for _, idx := range []string{"inbox/next/", "inbox/recv/"} {
		resp, err := cli.Get(ctx, a.Prefix()+idx, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("%s after the finishes: %d entries (%v), want none", idx, resp.Count, err)
		}
	}
	if n, _, err := a.InboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("inbox depth: %d %v", n, err)
	}
}

// A process extends the leases of items it leased without reading them,
// and still extends one another replica took since (its compare fails, it
// reads): the other replica's lease only grows, and each item is taken
// again only once the extension lapses.
func TestExtendingLeasedItems(t *testing.T) {
	_, a, b := twoProcesses(t)
	ctx := t.Context()
	for _, k := range []string{"x", "y"} {
		if _, err := a.Receive(ctx, flows.InboxItem{Key: k, Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
			t.Fatal(err)
		}
	}
	const lease = 10 * time.Second
	if items, err := a.TakeInbox(ctx, flowstest.T0, lease, 0); err != nil || len(items) != 2 {
		t.Fatalf("a takes: %+v %v", items, err)
	}
	if err := a.ExtendInbox(ctx, flowstest.T0.Add(2*lease), "x"); err != nil {
		t.Fatal(err)
	}
	// y's lease lapsed: b takes it; x's was extended: b leaves it.
	if items, err := b.TakeInbox(ctx, flowstest.T0.Add(lease), lease, 0); err != nil || len(items) != 1 || items[0].Key != "y" {
		t.Fatalf("b takes after a's first lease: %+v %v, want y alone", items, err)
	}
	// a, late, extends both: y as b leased it (read afresh), x as a did.
	if err := a.ExtendInbox(ctx, flowstest.T0.Add(4*lease), "x", "y"); err != nil {
		t.Fatalf("a extends x and y, which b leased since: %v", err)
	}
	if items, err := b.TakeInbox(ctx, flowstest.T0.Add(3*lease), lease, 0); err != nil || len(items) != 0 {
		t.Fatalf("b takes within the extensions: %+v %v, want nothing", items, err)
	}
	items, err := b.TakeInbox(ctx, flowstest.T0.Add(4*lease), lease, 0)
	if err != nil || len(items) != 2 {
		t.Fatalf("b takes once the extensions lapsed: %+v %v, want x and y", items, err)
	}
	// a finishes x, which b holds now: once, as the store has it.
	if _, err := a.FinishInbox(ctx, "x", flowstest.T0.Add(4*lease)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := a.InboxDepth(ctx); err != nil || n != 1 {
		t.Fatalf("inbox depth: %d %v, want y alone", n, err)
	}
}

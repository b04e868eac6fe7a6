package etcdstore_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// The message refs of several requests read together are what each
// request's read alone says, in the order they were added, across more
// transactions than one when etcd takes fewer operations than there are
// requests; a request with none is left out.
func TestManyMessageRefs(t *testing.T) {
	ctx := t.Context()
	s, err := etcdstore.New(ctx, etcdtest.Start(t, 1).Client(), etcdstore.Options{Prefix: "/refs/", MaxTxnOps: 4})
	if err != nil {
		t.Fatal(err)
	}
	var ids []flows.RequestID
	for i := range 10 {
		id := flows.RequestID(fmt.Sprintf("r%d", i))
		ids = append(ids, id)
		for j := range i % 3 {
			ref := flows.MessageRef{Platform: "slack", Conversation: "C1", ID: fmt.Sprintf("%d.%d", i, j), Recipient: "bob@example.com", Kind: "approval"}
			if err := s.AddMessageRef(ctx, id, ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.ManyMessageRefs(ctx, append(ids, "unknown"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[flows.RequestID][]flows.MessageRef{}
	for _, id := range ids {
		refs, err := s.MessageRefs(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) > 0 {
			want[id] = refs
		}
	}
	if len(want) != 6 {
		t.Fatalf("%d requests with refs, want 6", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("read together (-alone +together):\n%s", diff)
	}
}

// Deliveries read together are those still waiting, as each read alone
// says, across transactions when etcd takes fewer operations than there
// are ids.
func TestManyWaiting(t *testing.T) {
	ctx := t.Context()
	s, err := etcdstore.New(ctx, etcdtest.Start(t, 1).Client(), etcdstore.Options{Prefix: "/waiting/", MaxTxnOps: 8})
	if err != nil {
		t.Fatal(err)
	}
	var ds []flows.Delivery
	for i := range 10 {
		ds = append(ds, flows.Delivery{Conversation: fmt.Sprintf("slack:dm:u%d@example.com", i), Platform: "slack", What: "notice",
			Recipient: fmt.Sprintf("u%d@example.com", i), RequestID: "r1", Payload: []byte("x"), CreatedAt: flowstest.T0})
	}
	var stored []flows.Delivery
	for _, d := range ds { // one at a time: eight operations a transaction
		got, err := s.Enqueue(ctx, 0, d)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, got...)
	}
	var ids []uint64
	var want []flows.Delivery
	for i, d := range stored {
		ids = append(ids, d.ID)
		if i%3 == 0 {
			if err := s.Delivered(ctx, d.ID, nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := s.Waiting(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, got)
	}
	got, err := s.ManyWaiting(ctx, append(ids, 999))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("read together (-alone +together):\n%s", diff)
	}
}

package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// Concurrent enqueues of one process share transactions; each caller gets
// its own deliveries back, with ids nobody else got, and a caller whose
// delivery is refused does not fail the others.
func TestConcurrentEnqueuesEachGetTheirOwn(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := context.Background()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/enq/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const callers = 40
	var wg sync.WaitGroup
	outs := make([][]flows.Delivery, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			ds := []flows.Delivery{}
			for k := range 1 + i%3 {
				ds = append(ds, flows.Delivery{Conversation: fmt.Sprintf("C%02d", i), Platform: "slack", Priority: flows.PriorityActor,
					What: fmt.Sprintf("m%d-%d", i, k), Recipient: "U1", Payload: []byte(fmt.Sprintf(`{"i":%d,"k":%d}`, i, k)), CreatedAt: flowstest.T0})
			}
			if i == 7 {
				ds = append(ds, flows.Delivery{Conversation: "huge", What: "x", Payload: make([]byte, 2<<20), CreatedAt: flowstest.T0})
			}
			outs[i], errs[i] = s.Enqueue(ctx, 0, ds...)
		})
	}
	wg.Wait()
	ids := map[uint64]string{}
	for i := range callers {
		if i == 7 {
			if !errors.Is(errs[i], etcdstore.ErrTooLarge) {
				t.Errorf("caller 7 (a 2 MiB delivery): %v, want ErrTooLarge", errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if len(outs[i]) != 1+i%3 {
			t.Fatalf("caller %d got %d deliveries, sent %d", i, len(outs[i]), 1+i%3)
		}
		for k, d := range outs[i] {
			if want := fmt.Sprintf("m%d-%d", i, k); d.What != want || d.Conversation != fmt.Sprintf("C%02d", i) {
				t.Fatalf("caller %d delivery %d is %q in %s, want %q", i, k, d.What, d.Conversation, want)
			}
			if other, dup := ids[d.ID]; dup || d.ID == 0 {
				t.Fatalf("id %d given to %s and %s", d.ID, other, d.What)
			}
			ids[d.ID] = d.What
		}
	}
	pending, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(ids) {
		t.Fatalf("%d deliveries stored, %d enqueued", len(pending), len(ids))
	}
}

package etcdstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// Each replica takes the deliveries it received, so that the replicas'
// takers do not lease from one front and lose to each other; another
// replica's are taken once they have waited 5 seconds (their receiver
// died or is behind), and an item whose lease ran out by anyone.
func TestEachReplicaTakesWhatItReceived(t *testing.T) {
	_, a, b := twoProcesses(t)
	ctx := t.Context()
	receive := func(s *etcdstore.Store, key string) {
		t.Helper()
		if first, err := s.Receive(ctx, flows.InboxItem{Key: key, Platform: "slack", ReceivedAt: flowstest.T0}); err != nil || !first {
			t.Fatalf("receive %s: %v %v", key, first, err)
		}
	}
	take := func(s *etcdstore.Store, now time.Time, lease time.Duration) []string {
		t.Helper()
		items, err := s.TakeInbox(ctx, now, lease, 0)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, it := range items {
			keys = append(keys, it.Key)
		}
		slices.Sort(keys)
		return keys
	}
	receive(a, "a1")
	receive(b, "b1")
	receive(a, "a2")
	receive(b, "b2")
	if got := take(a, flowstest.T0, time.Minute); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("a takes %v, want what it received: [a1 a2]", got)
	}
	receive(a, "a3") // and a dies
	if got := take(b, flowstest.T0.Add(time.Second), time.Minute); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("b takes %v, want what it received: [b1 b2]", got)
	}
	if got := take(b, flowstest.T0.Add(4*time.Second), time.Minute); len(got) != 0 {
		t.Fatalf("b takes %v 4 s on, want nothing yet: a3 waits for a", got)
	}
	if got := take(b, flowstest.T0.Add(5*time.Second), time.Minute); !slices.Equal(got, []string{"a3"}) {
		t.Fatalf("b takes %v 5 s on, want a3, which a never took", got)
	}
	// a's leases run out a minute after it took a1 and a2: anyone's now.
	if got := take(b, flowstest.T0.Add(time.Minute), time.Minute); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("b takes %v once a's leases ran out, want [a1 a2]", got)
	}
}

package etcdstore_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

func benchStore(b *testing.B) *etcdstore.Store {
	cli := etcdtest.Start(b, benchMembers).Client()
	s, err := etcdstore.New(b.Context(), cli, etcdstore.Options{Prefix: "/bench/"})
	if err != nil {
		b.Fatal(err)
	}
	// A new cluster is slow for its first second or two (elections,
	// version negotiation): not what is measured.
	for i := range 200 {
		if _, err := cli.Put(b.Context(), fmt.Sprintf("/warm/%d", i), "x"); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	return s
}

// The ack path: one inbox item received (a read, a transaction).
func BenchmarkReceive(b *testing.B) {
	s := benchStore(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.Receive(b.Context(), flows.InboxItem{Key: fmt.Sprintf("%p-%d", pb, i), Platform: "slack", ReceivedAt: flowstest.T0}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A transition with its audit event, writers contending for the chain's
// head.
func BenchmarkUpdateParallel(b *testing.B) {
	s := benchStore(b)
	const n = 64
	for i := range n {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("r%02d", i)), "alice@example.com", flowstest.T0)
		if _, _, err := s.Create(b.Context(), r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			id := flows.RequestID(fmt.Sprintf("r%02d", i%n))
			if _, err := s.Update(b.Context(), id, func(r *flows.Request) ([]flows.Event, error) {
				r.Attempts++
				return []flows.Event{{Type: flows.EventProvisionFailed, RequestID: r.ID, Actor: "jitbot", At: flowstest.T0.Add(time.Second)}}, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchMembers is 1, or 3 with ETCD_BENCH_MEMBERS=3 (a quorum's fsyncs).
var benchMembers = func() int {
	if os.Getenv("ETCD_BENCH_MEMBERS") == "3" {
		return 3
	}
	return 1
}()

package etcdstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// A backlog of pending audit records (what piles up while no leader reads
// the log) is chained as far as a reader needs: a bounded read chains what
// it returns and leaves the rest pending, a whole read chains everything,
// over several rounds, in the order the records were committed.
func TestSealingChainsWhatTheReaderNeeds(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := context.Background()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/seal/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, each = 20, 60 // 1,200 records: more than one round of sealing
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0, Message: fmt.Sprintf("%02d/%03d", w, i)}
				if err := s.AppendEvents(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	pending := func() int64 {
		t.Helper()
		resp, err := c.Client().Get(ctx, "/seal/audit/p/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	if n := pending(); n != writers*each {
		t.Fatalf("%d pending records, want %d", n, writers*each)
	}

	recs, err := s.AuditAfter(ctx, 5, 10)
	if err != nil || len(recs) != 10 || recs[0].Seq != 6 || recs[9].Seq != 15 {
		t.Fatalf("records 6 to 15: %d records %v", len(recs), err)
	}
	if n := pending(); n != writers*each-15 {
		t.Fatalf("after reading to record 15, %d pending, want %d", n, writers*each-15)
	}

	sum, err := s.VerifyAudit(ctx)
	if err != nil || sum.Records != writers*each {
		t.Fatalf("verify: %+v %v", sum, err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("%d records left pending after a whole read", n)
	}
	// Each writer's records, one after the other, in its order.
	next := map[string]int{}
	if err := s.Audit(ctx, flowstest.T0.Add(-1), func(rec flows.AuditRecord) error {
		var w, i int
		if _, err := fmt.Sscanf(rec.Event.Message, "%d/%d", &w, &i); err != nil {
			return err
		}
		key := fmt.Sprint(w)
		if i != next[key] {
			return fmt.Errorf("record %d: writer %d's event %d where %d was due", rec.Seq, w, i, next[key])
		}
		next[key]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// countingKV counts the conditional transactions sent (the writes), and
// the reads: gets, and transactions without a condition.
type countingKV struct {
	clientv3.KV
	writes, reads atomic.Int64
}

func (k *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	k.reads.Add(1)
	return k.KV.Get(ctx, key, opts...)
}

func (k *countingKV) Txn(ctx context.Context) clientv3.Txn {
	return &countingTxn{Txn: k.KV.Txn(ctx), kv: k}
}

type countingTxn struct {
	clientv3.Txn
	kv          *countingKV
	conditional bool
}

func (t *countingTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	if len(cs) > 0 {
		t.kv.writes.Add(1)
		t.conditional = true
	}
	t.Txn = t.Txn.If(cs...)
	return t
}

func (t *countingTxn) Commit() (*clientv3.TxnResponse, error) {
	if !t.conditional {
		t.kv.reads.Add(1)
	}
	return t.Txn.Commit()
}
func (t *countingTxn) Then(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(ops...); return t }

// Concurrent transitions of one process share transactions, and a sweep's
// requests go in a few: the chain's head is fought over by processes, not
// by every goroutine.
func TestConcurrentChangesShareTransactions(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := c.Client()
	kv := &countingKV{KV: cli.KV}
	cli.KV = kv
	ctx := t.Context()
	s, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/comb/"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	ids := make([]flows.RequestID, n)
	for i := range n {
		ids[i] = flows.RequestID(fmt.Sprintf("r%03d", i))
	}
	var wg sync.WaitGroup
	kv.writes.Store(0)
	for _, id := range ids {
		wg.Go(func() {
			r := flowstest.NewRequest(id, "alice@example.com", flowstest.T0)
			r.PendingUntil = flowstest.T0.Add(time.Minute)
			if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: id, Actor: r.Requester, At: flowstest.T0}, "key-"+string(id)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent creates: %d transactions", n, kv.writes.Load())
	if w := kv.writes.Load(); w > n/2 {
		t.Fatalf("%d concurrent creates took %d transactions", n, w)
	}

	// A sweep: every request timed out, in order, in a few transactions.
	kv.writes.Store(0)
	due, err := s.Due(ctx, flowstest.T0.Add(time.Minute), 0)
	if err != nil || len(due) != n {
		t.Fatalf("due: %d %v", len(due), err)
	}
	got, errs, err := s.UpdateMany(ctx, ids, func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.TimeOut(flowstest.T0.Add(time.Minute))
		return []flows.Event{ev}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if errs[i] != nil || got[i] == nil || got[i].State != flows.StateTimedOut {
			t.Fatalf("request %s: %v %v", ids[i], got[i], errs[i])
		}
	}
	t.Logf("a sweep of %d: %d transactions", n, kv.writes.Load())
	if w := kv.writes.Load(); w > n/4 {
		t.Fatalf("a sweep of %d requests took %d transactions", n, w)
	}
	timedOut := map[flows.RequestID]int{}
	if err := s.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.Type == flows.EventTimedOut {
			timedOut[rec.Event.RequestID]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if timedOut[id] != 1 {
			t.Fatalf("request %s timed out %d times in the log", id, timedOut[id])
		}
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 2*n {
		t.Fatalf("audit: %+v %v", sum, err)
	}
	if due, _ := s.Due(ctx, flowstest.T0.Add(time.Hour), 0); len(due) != 0 {
		t.Fatalf("still due after the sweep: %v", due)
	}
}

// One UpdateMany's requests run in concurrent transactions, but its fn is
// never called by two at once: callers write it for one call at a time.
func TestOneCallsFnIsNeverCalledConcurrently(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := t.Context()
	s, err := etcdstore.New(ctx, c.Client(), etcdstore.Options{Prefix: "/serial/"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	ids := make([]flows.RequestID, n)
	for i := range n {
		ids[i] = flows.RequestID(fmt.Sprintf("r%03d", i))
		r := flowstest.NewRequest(ids[i], "alice@example.com", flowstest.T0)
		if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: ids[i], At: flowstest.T0}, ""); err != nil {
			t.Fatal(err)
		}
	}
	var inside, overlaps atomic.Int64
	seen := map[flows.RequestID]int{} // unguarded, as callers' maps are
	_, errs, err := s.UpdateMany(ctx, ids, func(r *flows.Request) ([]flows.Event, error) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inside.Add(-1)
		seen[r.ID]++
		time.Sleep(100 * time.Microsecond) // widen the window an overlap needs
		r.Attempts++
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("%s: %v", ids[i], e)
		}
	}
	if overlaps.Load() > 0 || len(seen) != n {
		t.Fatalf("%d overlapping calls of fn; %d of %d requests seen", overlaps.Load(), len(seen), n)
	}
}

// A transition that panics panics in its caller; the other writers of the
// process go on.
func TestAPanicReachesItsCaller(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("p1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want the transition's panic", v)
			}
		}()
		_, _ = s.Update(ctx, "p1", func(*flows.Request) ([]flows.Event, error) { panic("boom") })
		t.Fatal("Update returned after its transition panicked")
	}()
	if got, err := s.Update(ctx, "p1", func(r *flows.Request) ([]flows.Event, error) { r.Attempts++; return nil, nil }); err != nil || got.Attempts != 1 {
		t.Fatalf("an update after the panic: %v %v", got, err)
	}
}

// A change too large for any transaction fails alone: the changes queued
// with it are written.
func TestTooLargeFailsAlone(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for round := range 5 {
		big := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("big%d", round)), "alice@example.com", flowstest.T0)
		big.Reason = strings.Repeat("x", 2<<20)
		wg.Go(func() {
			if _, _, err := s.Create(ctx, big, flows.Event{Type: flows.EventSubmitted, RequestID: big.ID, Actor: big.Requester, At: flowstest.T0}, ""); !errors.Is(err, etcdstore.ErrTooLarge) {
				t.Errorf("create of a 2 MiB request: %v, want ErrTooLarge", err)
			}
		})
		for i := range 10 {
			wg.Go(func() {
				r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("small%d-%d", round, i)), "bob@example.com", flowstest.T0)
				if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
					t.Errorf("create of %s beside a request too large: %v", r.ID, err)
				}
			})
		}
	}
	wg.Wait()
	if got, err := s.Find(ctx, flows.Query{Requester: "bob@example.com"}); err != nil || len(got) != 50 {
		t.Fatalf("small requests stored: %d %v, want 50", len(got), err)
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 50 {
		t.Fatalf("audit: %+v %v", sum, err)
	}
}

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

	"go.uber.org/zap"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// Two stores, each with its own client connected to a different member of
// a 3-member cluster, stand for two jitbot processes: nothing they share
// but etcd keeps the chain one and the request's updates whole, while a
// member is stopped and started again under them.
func TestTwoProcessesOnOneCluster(t *testing.T) {
	c := etcdtest.Start(t, 3)
	ctx := t.Context()
	open := func(member int) *etcdstore.Store {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[member].ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		s, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/shared/", RequestTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(0), open(1)
	r := flowstest.NewRequest("req1", "alice@example.com", flowstest.T0)
	if _, _, err := a.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, "k1"); err != nil {
		t.Fatal(err)
	}
	// The same idempotency key through the other process: the same request.
	if got, created, err := b.Create(ctx, flowstest.NewRequest("req2", "alice@example.com", flowstest.T0), flows.Event{}, "k1"); err != nil || created || got.ID != "req1" {
		t.Fatalf("create with a key the other process used: %v created=%v %v", got, created, err)
	}

	const writers, each = 3, 8
	var wg sync.WaitGroup
	for _, s := range []*etcdstore.Store{a, b} {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0, Message: fmt.Sprintf("%d/%d", w, i)}
					if err := s.AppendEvents(ctx, ev); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Update(ctx, "req1", func(r *flows.Request) ([]flows.Event, error) {
						r.Attempts++
						return []flows.Event{{Type: flows.EventProvisionFailed, RequestID: r.ID, Actor: "jitbot", At: flowstest.T0, Attempt: r.Attempts}}, nil
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	// Both processes read the log while they write, so both chain what is
	// pending, racing each other (audit.go).
	writing := make(chan struct{})
	var readers sync.WaitGroup
	for _, s := range []*etcdstore.Store{a, b} {
		readers.Go(func() {
			for {
				select {
				case <-writing:
					return
				default:
				}
				if _, err := s.AuditAfter(ctx, 0, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A member that neither process talks to goes down and comes back
	// while they write: a quorum remains throughout.
	c.Stop(2)
	time.Sleep(200 * time.Millisecond) // let writes run on two members
	c.Restart(2)
	wg.Wait()
	close(writing)
	readers.Wait()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	total := 2 * writers * each
	got, err := b.Get(ctx, "req1")
	if err != nil || got.Attempts != total {
		t.Fatalf("attempts after %d updates from two processes: %v %v", total, got.Attempts, err)
	}
	for _, s := range []*etcdstore.Store{a, b} {
		sum, err := s.VerifyAudit(ctx)
		if err != nil || sum.Records != uint64(1+2*total) {
			t.Fatalf("chain: %+v %v, want %d records", sum, err, 1+2*total)
		}
	}
	// Each update recorded the attempt it made: every number once, in the
	// order the updates committed, whichever process chained them.
	last := 0
	if err := a.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.Type == flows.EventProvisionFailed {
			if rec.Event.Attempt != last+1 {
				return fmt.Errorf("record %d: attempt %d after attempt %d", rec.Seq, rec.Event.Attempt, last)
			}
			last = rec.Event.Attempt
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last != total {
		t.Fatalf("the chain records %d attempts, want %d", last, total)
	}
	// Webhooks and inbox workers of both processes: each delivery is
	// received once and taken once.
	var firsts, taken sync.Map
	for _, s := range []*etcdstore.Store{a, b} {
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					key := fmt.Sprintf("slack:trigger:%d", (w*10+i)%20)
					first, err := s.Receive(ctx, flows.InboxItem{Key: key, Platform: "slack", ReceivedAt: flowstest.T0})
					if err != nil {
						t.Error(err)
						return
					}
					if first {
						if _, dup := firsts.LoadOrStore(key, true); dup {
							t.Errorf("%s received first twice", key)
						}
					}
				}
				items, err := s.TakeInbox(ctx, flowstest.T0, time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				for _, it := range items {
					if _, dup := taken.LoadOrStore(it.Key, true); dup {
						t.Errorf("%s taken twice under one lease", it.Key)
					}
				}
			})
		}
	}
	wg.Wait()
	n := 0
	firsts.Range(func(any, any) bool { n++; return true })
	if n != 20 {
		t.Fatalf("%d keys received first, want 20", n)
	}
	for _, s := range []*etcdstore.Store{a, b} {
		for {
			items, err := s.TakeInbox(ctx, flowstest.T0, time.Hour, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				if _, dup := taken.LoadOrStore(it.Key, true); dup {
					t.Fatalf("%s taken twice under one lease", it.Key)
				}
			}
		}
	}
	n = 0
	taken.Range(func(any, any) bool { n++; return true })
	if n != 20 {
		t.Fatalf("%d items taken, want 20", n)
	}

	// The restarted member serves what was written while it was down.
	cli3, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[2].ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli3.Close()
	s3, err := etcdstore.New(ctx, cli3, etcdstore.Options{Prefix: "/shared/"})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := s3.VerifyAudit(ctx); err != nil || sum.Records != uint64(1+2*total) {
		t.Fatalf("the restarted member: %+v %v", sum, err)
	}
}

// A write under a fence that no longer holds writes nothing.
func TestFenceRefusesADeposedWriter(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	lead, err := cli.Put(ctx, "/election/leader", "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	fenced := etcdstore.WithFence(ctx, etcdstore.Fence{Key: "/election/leader", Revision: lead.Header.Revision})
	ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0}
	if err := s.AppendEvents(fenced, ev); err != nil {
		t.Fatalf("a write under a fence that holds: %v", err)
	}
	dls, err := s.Enqueue(ctx, 0, flows.Delivery{Conversation: "slack:dm:bob", Platform: "slack", What: "card", CreatedAt: flowstest.T0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sending(fenced, dls[0].ID, flows.SendMark{Holder: "replica-a", At: flowstest.T0}); err != nil {
		t.Fatalf("a mark under a fence that holds: %v", err)
	}
	// Another replica wins: the key is created anew.
	if _, err := cli.Delete(ctx, "/election/leader"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/election/leader", "replica-b"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(fenced, ev); !errors.Is(err, etcdstore.ErrFenced) {
		t.Fatalf("append under a broken fence: %v, want ErrFenced", err)
	}
	// A deposed dispatcher cannot mark a message as its to send: it sends
	// nothing more.
	if _, err := s.Sending(fenced, dls[0].ID, flows.SendMark{Holder: "replica-a", At: flowstest.T0.Add(time.Second)}); !errors.Is(err, etcdstore.ErrFenced) {
		t.Fatalf("a mark under a broken fence: %v, want ErrFenced", err)
	}
	if prev, err := s.Sending(ctx, dls[0].ID, flows.SendMark{Holder: "replica-b"}); err != nil || prev == nil || !prev.At.Equal(flowstest.T0) {
		t.Fatalf("the mark the new leader finds: %+v %v, want the one made under the fence that held", prev, err)
	}
	r := flowstest.NewRequest("f1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(fenced, r, ev, ""); !errors.Is(err, etcdstore.ErrFenced) {
		t.Fatalf("create under a broken fence: %v, want ErrFenced", err)
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 1 {
		t.Fatalf("after refused writes: %+v %v, want the one record", sum, err)
	}
	if _, err := s.Get(ctx, "f1"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("a refused create was written: %v", err)
	}
}

// The same changes make the same chain, hash for hash, in bbolt and in
// etcd: a store copied from one to the other verifies on both sides.
func TestSameChainAsBbolt(t *testing.T) {
	_, open := opener(t)
	e := open(t)
	b, err := store.Open(t.TempDir()+"/jitbot.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	for _, s := range []flowstest.Backend{e, b} {
		r := flowstest.NewRequest("aaaa", "alice@example.com", flowstest.T0)
		if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0, To: flows.StatePending}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, "aaaa", func(r *flows.Request) ([]flows.Event, error) {
			ev, err := r.Approve("owner@example.com", flowstest.T0.Add(time.Minute))
			return []flows.Event{ev}, err
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0, Message: "é ✓"}); err != nil {
			t.Fatal(err)
		}
	}
	se, err := e.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if se != sb || se.Records != 3 {
		t.Fatalf("etcd chain %+v, bbolt chain %+v: want the same 3 records", se, sb)
	}
}

// A request record larger than a transaction takes is refused whole.
func TestTooLargeIsRefusedWhole(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("big1", "alice@example.com", flowstest.T0)
	r.Reason = strings.Repeat("x", 2<<20)
	_, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, "")
	if !errors.Is(err, etcdstore.ErrTooLarge) {
		t.Fatalf("a 2 MiB request: %v, want ErrTooLarge", err)
	}
	if _, err := s.Get(ctx, "big1"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("part of it was written: %v", err)
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 0 {
		t.Fatalf("its event was recorded: %+v %v", sum, err)
	}
	huge := flows.Delivery{Conversation: "A", What: "x", Payload: make([]byte, 2<<20), CreatedAt: flowstest.T0}
	if _, err := s.Enqueue(ctx, 0, huge); !errors.Is(err, etcdstore.ErrTooLarge) {
		t.Fatalf("a 2 MiB delivery: %v, want ErrTooLarge", err)
	}
	if n, _, err := s.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox after a refused enqueue: %d %v", n, err)
	}
}

// A request may have more approvers than a transaction has operations:
// its approver index follows it all the same.
func TestManyApprovers(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("many", "alice@example.com", flowstest.T0)
	r.Approvers = nil
	for i := range 300 {
		r.Approvers = append(r.Approvers, fmt.Sprintf("approver%03d@example.com", i))
	}
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"approver000@example.com", "approver299@example.com"} {
		if got, err := s.Find(ctx, flows.Query{Approver: a}); err != nil || len(got) != 1 || got[0].ID != "many" {
			t.Fatalf("requests awaiting %s: %v %v", a, got, err)
		}
	}
	if _, err := s.Update(ctx, "many", func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.Approve("approver150@example.com", flowstest.T0.Add(time.Minute))
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"approver000@example.com", "approver150@example.com", "approver299@example.com"} {
		if got, err := s.Find(ctx, flows.Query{Approver: a}); err != nil || len(got) != 0 {
			t.Fatalf("a decided request still awaits %s: %v %v", a, len(got), err)
		}
	}
}

// An approver index whose writer died half-way is finished by the next
// reader, and by the request's next change before it is made.
func TestUnfinishedApproverIndex(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("half", "alice@example.com", flowstest.T0)
	r.Approvers = []string{"a@example.com", "b@example.com"}
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	// As a writer that died would leave it: b's entry gone, the list that
	// puts it back there.
	bKey := s.Prefix() + "idx/approver/b@example.com\x00half"
	if _, err := cli.Delete(ctx, bKey); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, s.Prefix()+"idxwork/half", `{"put":["`+strings.ReplaceAll(bKey, "\x00", `\u0000`)+`"]}`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Find(ctx, flows.Query{Approver: "b@example.com"}); err != nil || len(got) != 1 {
		t.Fatalf("find by the approver whose entry was being written: %v %v", got, err)
	}
	if resp, _ := cli.Get(ctx, s.Prefix()+"idxwork/", clientv3.WithPrefix()); len(resp.Kvs) != 0 {
		t.Fatal("the list is still there after Find finished it")
	}
	// Again, then a change: the list first, then the change's own index.
	if _, err := cli.Put(ctx, s.Prefix()+"idxwork/half", `{"put":["`+strings.ReplaceAll(bKey, "\x00", `\u0000`)+`"]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "half", func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.Deny("a@example.com", "no", flowstest.T0.Add(time.Minute))
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := cli.Get(ctx, bKey); len(resp.Kvs) != 0 {
		t.Fatal("the denied request is still indexed under b: the old list ran after the change")
	}
}

// A prefix written by a later jitbot is not read.
func TestRefusesALaterSchema(t *testing.T) {
	cli, _ := opener(t)
	if _, err := cli.Put(t.Context(), "/later/schema", "99"); err != nil {
		t.Fatal(err)
	}
	_, err := etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: "/later/"})
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("open on a later schema: %v", err)
	}
}

// Every call is bounded: a cluster that does not answer makes an error
// within the request timeout, not a hang.
func TestUnreachableClusterTimesOut(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := c.Client()
	s, err := etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: "/gone/", RequestTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	start := time.Now()
	_, err = s.Get(context.Background(), "x")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get with the cluster down: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the call took %v with a 300ms request timeout", d)
	}
	// Back, it serves the same store again, through the same client.
	c.Restart(0)
	deadline := time.Now().Add(20 * time.Second)
	for { // reads until one reaches the cluster
		_, err = s.Get(context.Background(), "x")
		if flows.ErrorCode(err) == flows.ENOTFOUND || time.Now().After(deadline) {
			break
		}
	}
	if flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("a read after the cluster came back: %v", err)
	}
	if err := s.AppendEvents(context.Background(), flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0}); err != nil {
		t.Fatalf("a write after the cluster came back: %v", err)
	}
	if sum, err := s.VerifyAudit(context.Background()); err != nil || sum.Records != 1 {
		t.Fatalf("audit after the outage: %+v %v", sum, err)
	}
}

// Retries of one submission reaching several replicas at once create one
// request.
func TestConcurrentCreatesWithOneKey(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	var created atomic.Int32
	ids := make([]flows.RequestID, 20)
	for i := range 20 {
		wg.Go(func() {
			r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("dup%02d", i)), "alice@example.com", flowstest.T0)
			got, first, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, "slack:trigger:1")
			if err != nil {
				t.Error(err)
				return
			}
			if first {
				created.Add(1)
			}
			ids[i] = got.ID
		})
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d of 20 creates with one key created a request, want 1", created.Load())
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("creates with one key returned %v", ids)
		}
	}
	if all, err := s.Find(ctx, flows.Query{}); err != nil || len(all) != 1 {
		t.Fatalf("requests stored: %d %v", len(all), err)
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 1 {
		t.Fatalf("audit: %+v %v", sum, err)
	}
}

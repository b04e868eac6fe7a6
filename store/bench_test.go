package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/storetest"
)

// historicalFixture returns a store file holding n finished requests and m
// audit events, built once per machine (it takes seconds) and reused.
func historicalFixture(b *testing.B, n, m int) string {
	b.Helper()
	path, err := storetest.History(os.TempDir(), n, m)
	if err != nil {
		b.Fatal(err)
	}
	return path
}

func copyFile(b *testing.B, from string) string {
	b.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	to := filepath.Join(b.TempDir(), "jitbot.db")
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	return to
}

func benchService(b testing.TB, db *store.DB, clock *flowstest.Clock) *flows.Service {
	b.Helper()
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6"}},
		Flows: []flows.FlowSpec{{Name: "f", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0"},
			Roles: []string{"read"}, AutoApprove: true}},
	})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Secrets: &flowstest.Secrets{}, Clock: clock,
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {{Name: "Cluster0"}}}),
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkTransition measures one state transition: a compare-and-set
// update of a request, its indexes and an audit record, fsynced.
func BenchmarkTransition(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ids := make([]string, b.N)
	for i := range ids {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("t%08d", i)), "alice@example.com", flowstest.T0)
		if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
			b.Fatal(err)
		}
		ids[i] = string(r.ID)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Update(ctx, flows.RequestID(ids[i]), func(r *flows.Request) ([]flows.Event, error) {
			ev, err := r.Approve("owner@example.com", flowstest.T0)
			return []flows.Event{ev}, err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweepNothingDue100k sweeps a store of 100k finished requests when
// nothing is due: the due index makes it independent of history.
func BenchmarkSweepNothingDue100k(b *testing.B) {
	db, err := store.Open(historicalFixture(b, 100_000, 100_000), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	clock := flowstest.NewClock(flowstest.T0)
	svc := benchService(b, db, clock)
	ctx := context.Background()
	for b.Loop() {
		rep, err := svc.Sweep(ctx, flowstest.T0)
		if err != nil || rep.Due != 0 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}

// BenchmarkSweep100Due times out 100 pending requests per sweep, among 100k
// historical ones.
func BenchmarkSweep100Due(b *testing.B) {
	db, err := store.Open(copyFile(b, historicalFixture(b, 100_000, 100_000)), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	clock := flowstest.NewClock(flowstest.T0)
	svc := benchService(b, db, clock)
	ctx := context.Background()
	now := flowstest.T0
	var commits uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range 100 {
			r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("d%05d-%03d", i, j)), "alice@example.com", now.Add(-2*time.Hour))
			if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		before := store.Commits(db)
		rep, err := svc.Sweep(ctx, now)
		if err != nil || rep.TimedOut != 100 {
			b.Fatalf("%+v %v", rep, err)
		}
		commits += store.Commits(db) - before
	}
	reportSweepCommits(b, commits)
}

// BenchmarkSweep100Expiring revokes 100 grants due at once per sweep (rate
// limit off, the deletes done by the flowstest provisioner), among 100k
// historical requests: the intent of all of them is one commit, the
// outcomes at most 3 more (DESIGN §8: at most 10 fsyncs).
func BenchmarkSweep100Expiring(b *testing.B) {
	db, err := store.Open(copyFile(b, historicalFixture(b, 100_000, 100_000)), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := benchService(b, db, flowstest.NewClock(flowstest.T0))
	ctx := context.Background()
	var commits uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		addExpiring(b, db, fmt.Sprintf("x%05d", i), 100, flowstest.T0)
		before := store.Commits(db)
		b.StartTimer()
		rep, err := svc.Sweep(ctx, flowstest.T0)
		if err != nil || rep.Revocations != 100 {
			b.Fatalf("%+v %v", rep, err)
		}
		commits += store.Commits(db) - before
	}
	reportSweepCommits(b, commits)
}

// reportSweepCommits reports commits (and fsyncs, two per commit) per sweep.
func reportSweepCommits(b *testing.B, commits uint64) {
	b.ReportMetric(float64(commits)/float64(b.N), "commits/sweep")
	b.ReportMetric(2*float64(commits)/float64(b.N), "fsyncs/sweep")
}

// addExpiring stores n active grants that expired a minute before now.
func addExpiring(t testing.TB, db *store.DB, prefix string, n int, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for j := range n {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("%s-%03d", prefix, j)), "alice@example.com", now.Add(-2*time.Hour))
		r.State, r.ActivatedAt, r.ExpiresAt = flows.StateActive, now.Add(-time.Hour-time.Minute), now.Add(-time.Minute)
		r.Principal, r.Resource = fmt.Sprintf("jit-alice-%s-%03d", prefix, j), flows.Resource{Integration: "prod", Cluster: "Cluster0"}
		if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkOpen100kRequests1MAudit measures start-up on a large history:
// open, find the work to resume and the first due items (what serve does
// before it is ready), and reports the Go heap afterwards.
func BenchmarkOpen100kRequests1MAudit(b *testing.B) {
	path := historicalFixture(b, 100_000, 1_000_000)
	ctx := context.Background()
	var heap uint64
	for b.Loop() {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Find(ctx, flows.Query{States: []flows.State{flows.StateApproved, flows.StateProvisioning, flows.StateRevoking, flows.StateRevokeFailed}}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Due(ctx, flowstest.T0, 1000); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(sample)
		heap = sample[0].Value.Uint64()
		_ = db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
}

// BenchmarkFindLive reads a person's live requests (what Submit and list
// do) with no history and with 1,000 finished requests: the live index
// keeps the two alike.
func BenchmarkFindLive(b *testing.B) {
	for _, history := range []int{0, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(filepath.Join(b.TempDir(), "jitbot.db"), store.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			add := func(id string, at time.Time, st flows.State) {
				r := flowstest.NewRequest(flows.RequestID(id), "alice@example.com", at)
				r.State = st
				if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: flows.RequestID(id), At: at}, ""); err != nil {
					b.Fatal(err)
				}
			}
			for i := range history {
				add(fmt.Sprintf("h%06d", i), flowstest.T0.Add(time.Duration(i)*time.Minute), flows.StateExpired)
			}
			add("live1", flowstest.T0.Add(-time.Hour), flows.StatePending)
			add("live2", flowstest.T0.Add(-2*time.Hour), flows.StateActive)
			q := flows.Query{Requester: "alice@example.com", States: []flows.State{flows.StatePending, flows.StateActive}}
			b.ResetTimer()
			for b.Loop() {
				if rs, err := db.Find(ctx, q); err != nil || len(rs) != 2 {
					b.Fatalf("%d live requests, %v", len(rs), err)
				}
			}
		})
	}
}

// reportCommits reports commits and fsyncs per operation since before
// (bbolt makes two fdatasyncs per commit: the pages, then the meta page).
func reportCommits(b *testing.B, db *store.DB, before uint64) {
	commits := float64(store.Commits(db)-before) / float64(b.N)
	b.ReportMetric(commits, "commits/op")
	b.ReportMetric(2*commits, "fsyncs/op")
}

// BenchmarkInboxReceiveParallel receives distinct deliveries from many
// concurrent callers (webhooks waiting to ack) on a store with real
// fsyncs: the committer lets them share commits, so fsyncs/op falls as
// callers grow. callers=1 is a lone webhook: its latency is one commit, with
// no wait for a batch to fill.
func BenchmarkInboxReceiveParallel(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "jitbot.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			payload := make([]byte, 300)
			var n atomic.Int64
			before := store.Commits(db)
			b.ResetTimer()
			if callers == 1 {
				for b.Loop() {
					receiveOne(b, ctx, db, n.Add(1), payload)
				}
			} else {
				// RunParallel starts parallelism*GOMAXPROCS goroutines.
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						receiveOne(b, ctx, db, n.Add(1), payload)
					}
				})
			}
			b.StopTimer()
			reportCommits(b, db, before)
		})
	}
}

func receiveOne(b *testing.B, ctx context.Context, db *store.DB, i int64, payload []byte) {
	first, err := db.Receive(ctx, flows.InboxItem{
		Key: fmt.Sprintf("slack:trigger:%d", i), Platform: "slack", Payload: payload, ReceivedAt: flowstest.T0,
	})
	if err != nil || !first {
		b.Errorf("receive %d: first=%v %v", i, first, err)
	}
}

// BenchmarkTakeAndFinish is a worker's round on a store with real fsyncs:
// take up to 16 due items under a lease, then finish each. backlog items
// wait behind them, not due yet: the next-at index keeps a take from
// reading them, so the cost is the same with or without.
func BenchmarkTakeAndFinish(b *testing.B) {
	for _, backlog := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "jitbot.db")
			// Filled alone, without fsync.
			fill, err := store.Open(path, store.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 300)
			receive := func(key string, next time.Time) {
				if _, err := fill.Receive(ctx, flows.InboxItem{Key: key, Payload: payload, ReceivedAt: flowstest.T0, NextAt: next}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range backlog {
				receive(fmt.Sprintf("later:%d", i), flowstest.T0.Add(24*time.Hour))
			}
			for i := range b.N {
				receive(fmt.Sprintf("due:%d", i), flowstest.T0)
			}
			if err := fill.Close(); err != nil {
				b.Fatal(err)
			}
			db, err := store.Open(path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			before := store.Commits(db)
			b.ResetTimer()
			for done := 0; done < b.N; {
				items, err := db.TakeInbox(ctx, flowstest.T0, time.Minute, min(16, b.N-done))
				if err != nil || len(items) == 0 {
					b.Fatalf("take after %d of %d: %d items, %v", done, b.N, len(items), err)
				}
				for _, it := range items {
					if _, err := db.FinishInbox(ctx, it.Key, flowstest.T0); err != nil {
						b.Fatal(err)
					}
				}
				done += len(items)
			}
			b.StopTimer()
			reportCommits(b, db, before)
		})
	}
}

// BenchmarkEnqueueDeliver is one message's way through the outbox on a
// store with real fsyncs: enqueued with the cursor moving past its event,
// read by the dispatcher, delivered with its reference kept.
func BenchmarkEnqueueDeliver(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	payload := make([]byte, 300)
	before := store.Commits(db)
	cursor := uint64(0)
	for b.Loop() {
		cursor++
		conv := fmt.Sprintf("slack:dm:u%d@example.com", cursor%50)
		if _, err := db.Enqueue(ctx, cursor, flows.Delivery{
			Conversation: conv, Platform: "slack", What: "notice", RequestID: flows.RequestID(fmt.Sprintf("r%d", cursor)),
			EventSeq: cursor, Payload: payload, CreatedAt: flowstest.T0,
		}); err != nil {
			b.Fatal(err)
		}
		ds, err := db.Pending(ctx, 1)
		if err != nil || len(ds) != 1 {
			b.Fatalf("pending: %d, %v", len(ds), err)
		}
		if err := db.Delivered(ctx, ds[0].ID, &flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.1"}); err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, db, before)
}

// BenchmarkSweepReminders reminds the approvers of 10,000 pending requests
// (50 approvers, 200 requests each) that are all due at once: the sweeps
// take them SweepBatch (1,000) at a time and commit each batch's
// transitions and their audit events in one UpdateMany, and the outbox's
// dispatcher expands those events into deliveries from the audit log (one
// coalesced reminder per approver; bot's tests show the coalescing). One
// iteration is a full round of 10,000 reminders.
func BenchmarkSweepReminders(b *testing.B) {
	const n, approvers, every = 10_000, 50, 10 * time.Minute
	path := filepath.Join(b.TempDir(), "jitbot.db")
	fill, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("p%06d", i)), fmt.Sprintf("req%d@example.com", i%500), flowstest.T0)
		r.Approvers = []string{fmt.Sprintf("approver%02d@example.com", i%approvers)}
		r.PendingUntil = flowstest.T0.Add(6 * 24 * time.Hour)
		r.RemindApproversEvery, r.RemindApproversAt = every, flowstest.T0.Add(every)
		if _, _, err := fill.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
			b.Fatal(err)
		}
	}
	if err := fill.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	clock := flowstest.NewClock(flowstest.T0)
	svc := benchService(b, db, clock)
	now := flowstest.T0
	var commits, sweeps uint64
	for b.Loop() {
		now = now.Add(every)
		clock.Set(now)
		before := store.Commits(db)
		reminded := 0
		for reminded < n {
			rep, err := svc.Sweep(ctx, now)
			if err != nil || rep.Nudged == 0 {
				b.Fatalf("after %d reminders: %+v %v", reminded, rep, err)
			}
			reminded += rep.Nudged
			sweeps++
		}
		if reminded != n {
			b.Fatalf("reminded %d, want %d", reminded, n)
		}
		commits += store.Commits(db) - before
	}
	b.ReportMetric(float64(commits)/float64(b.N), "commits/10k")
	b.ReportMetric(float64(commits)/float64(sweeps), "commits/sweep")
	b.ReportMetric(float64(sweeps)/float64(b.N), "sweeps/10k")
}

package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// On bbolt the one replica leads from start to end: one term, its
// context the caller's, and the metric says so while it lasts.
func TestLeadershipSoleOnBbolt(t *testing.T) {
	db, err := OpenBackend(&config.Config{StorePath: filepath.Join(t.TempDir(), "j.db")}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st leaderState
	l, err := newLeadership(db, &st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	terms := 0
	err = l.Run(ctx, func(lctx context.Context) error {
		terms++
		if !st.leading.Load() {
			t.Error("jitbot_leader is 0 while leading")
		}
		cancel()
		<-lctx.Done()
		return nil
	})
	if !errors.Is(err, context.Canceled) || terms != 1 || st.leading.Load() || st.changes.Load() != 2 {
		t.Fatalf("Run: %v, %d terms, leading %v, %d changes", err, terms, st.leading.Load(), st.changes.Load())
	}
}

// Two replicas on one 3-member etcd cluster: exactly one runs the leader's
// work, under a fence; when it crashes (its client closed, no
// resignation), the other takes over within the lease's TTL, and the
// metrics follow.
func TestLeadershipOnEtcdHandsOverOnCrash(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cfg := &config.Config{StoreEtcd: &etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/lead/"}}
	type replica struct {
		db    Backend
		st    leaderState
		terms atomic.Int64
		done  chan struct{}
	}
	var running atomic.Int64
	start := func() *replica {
		db, err := OpenBackend(cfg, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{db: db, done: make(chan struct{})}
		l, err := newLeadership(db, &r.st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if _, sole := l.(soleLeader); sole {
			t.Fatal("the sole leader on etcd")
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer close(r.done)
			_ = l.Run(ctx, func(lctx context.Context) error {
				if _, err := etcdstore.FenceOf(lctx); err != nil {
					t.Error("the leader's work runs without a fence")
				}
				if running.Add(1) != 1 {
					t.Error("two replicas run the leader's work at once")
				}
				r.terms.Add(1)
				<-lctx.Done()
				running.Add(-1)
				return nil
			})
		}()
		t.Cleanup(func() { cancel(); <-r.done; _ = db.Close() })
		return r
	}
	a, b := start(), start()
	wait := func(d time.Duration, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatal("timed out")
	}
	wait(10*time.Second, func() bool { return a.st.leading.Load() || b.st.leading.Load() })
	leader, other := a, b
	if b.st.leading.Load() {
		leader, other = b, a
	}
	time.Sleep(500 * time.Millisecond)
	if other.st.leading.Load() || other.terms.Load() != 0 || leader.terms.Load() != 1 {
		t.Fatalf("leader %d terms, other %d terms, leading %v", leader.terms.Load(), other.terms.Load(), other.st.leading.Load())
	}
	crashed := time.Now()
	_ = leader.db.Close() // the client: no resignation, the lease lapses
	wait(etcdstore.DefaultLeaderTTL+3*time.Second, func() bool { return other.st.leading.Load() })
	t.Logf("handover in %v", time.Since(crashed))
	if leader.st.leading.Load() || other.terms.Load() != 1 || leader.st.changes.Load() != 2 || other.st.changes.Load() != 1 {
		t.Fatalf("after the crash: old leader leading %v (%d changes), new one %d terms (%d changes)",
			leader.st.leading.Load(), leader.st.changes.Load(), other.terms.Load(), other.st.changes.Load())
	}
}

// heldReads counts the reads of what a replica holds.
type heldReads struct {
	*flowstest.Store
	n atomic.Int64
}

func (s *heldReads) Held(ctx context.Context, holder string, limit int) ([]flows.Delivery, error) {
	s.n.Add(1)
	return s.Store.Held(ctx, holder, limit)
}

// The sender of what this replica holds runs until a term starts, which
// stops it (and waits for it) before the term's dispatcher sends anything,
// and runs again once the term ends; started twice, it runs once.
func TestHeldSenderStopsForTheTerm(t *testing.T) {
	st := &heldReads{Store: flowstest.NewStore()}
	d, err := bot.NewDispatcher(bot.DispatcherConfig{Idle: time.Millisecond}, bot.DispatcherDeps{
		Store: st, Platforms: func() []bot.Platform { return nil }, Secrets: bot.NewSecrets(flows.SystemClock{}, 0, 0),
		Audience: func(flows.Event, *flows.Request) []string { return nil }, Self: "replica-a",
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &heldSender{d: d}
	var running sync.WaitGroup
	h.start(t.Context(), running.Go)
	h.start(t.Context(), running.Go)
	reads := func(after int64) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); st.n.Load() <= after; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("the held sender does not read what it holds")
			}
		}
	}
	reads(0)
	h.stop()
	running.Wait() // RunHeld has returned: stop waited for it
	stopped := st.n.Load()
	h.start(t.Context(), running.Go)
	reads(stopped)
	h.stop()
	running.Wait()
	var none *heldSender // one replica: no held sender, and nothing to do
	none.start(t.Context(), running.Go)
	none.stop()
}

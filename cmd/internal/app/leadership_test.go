package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
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

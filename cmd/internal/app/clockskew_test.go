package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// The skew of a replica is its clock against the median of all clocks.
func TestSkewFrom(t *testing.T) {
	s := time.Second
	peers := func(offsets ...time.Duration) []etcdstore.PeerClock {
		var out []etcdstore.PeerClock
		for _, o := range offsets {
			out = append(out, etcdstore.PeerClock{Offset: o})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		peers []etcdstore.PeerClock
		want  time.Duration
	}{
		{"alone", nil, 0},
		{"the two others 2 s behind: this one is ahead", peers(-2*s, -2*s), 2 * s},
		{"one of the others 2 s ahead: this one is right", peers(2*s, 0), 0},
		{"one of the others 2 s behind: this one is right", peers(-2*s, 0), 0},
		{"two replicas apart: neither can tell", peers(2 * s), 0},
		{"three others 1.5 s behind", peers(-1500*time.Millisecond, -1500*time.Millisecond, -1500*time.Millisecond), 1500 * time.Millisecond},
		{"four others spread", peers(-3*s, -s, -500*time.Millisecond, 3*s), 500 * time.Millisecond},
	} {
		if got := skewFrom(tc.peers); got != tc.want {
			t.Errorf("%s: skew %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Three replicas on etcd, each on its own fake clock. The leader's clock
// jumps 3 s ahead of the others': it says so in its metrics and resigns,
// another replica leads, and it does not campaign while its clock is off;
// set right, it campaigns again.
func TestClockSkewStopsCampaigning(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cfg := &config.Config{StoreEtcd: &etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/skew/"}}
	base := time.Now().UTC().Truncate(time.Second)
	type replica struct {
		clock *flowstest.Clock
		st    leaderState
		guard *clockGuard
	}
	var leaders atomic.Int64
	start := func() *replica {
		db, err := OpenBackend(cfg, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{clock: flowstest.NewClock(base)}
		log := slog.New(slog.DiscardHandler)
		if r.guard, err = newClockGuard(db, r.clock, 50*time.Millisecond, log); err != nil || r.guard == nil {
			t.Fatalf("no clock guard on etcd: %v", err)
		}
		l, err := newLeadership(db, &r.st, log)
		if err != nil {
			t.Fatal(err)
		}
		gated := clockGated{Leadership: l, guard: r.guard}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { r.guard.run(ctx); done <- struct{}{} }()
		go func() {
			_ = gated.Run(ctx, func(lctx context.Context) error {
				if leaders.Add(1) != 1 {
					t.Error("two replicas lead at once")
				}
				<-lctx.Done()
				leaders.Add(-1)
				return nil
			})
			done <- struct{}{}
		}()
		t.Cleanup(func() { cancel(); <-done; <-done; _ = db.Close() })
		return r
	}
	rs := []*replica{start(), start(), start()}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	leader := func() *replica {
		for _, r := range rs {
			if r.st.leading.Load() {
				return r
			}
		}
		return nil
	}
	gauge := func(r *replica, name string) float64 {
		for _, c := range r.guard.counters() {
			if c.name == name {
				return c.read()[""]
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	wait("a leader, every replica campaigning and seeing the two others", func() bool {
		for _, r := range rs {
			if gauge(r, "jitbot_campaigning") != 1 || len(r.guard.peers()) != 2 {
				return false
			}
		}
		return leader() != nil
	})
	off := leader()
	off.clock.Advance(3 * time.Second)
	wait("the skewed leader to resign and another to lead", func() bool {
		l := leader()
		return l != nil && l != off && !off.st.leading.Load() && gauge(off, "jitbot_campaigning") == 0
	})
	if got := gauge(off, "jitbot_clock_skew_seconds"); got < 2.8 || got > 3.2 {
		t.Errorf("the skewed replica's jitbot_clock_skew_seconds = %v, want 3", got)
	}
	for _, r := range rs {
		// Within a loopback round trip of 0 (a loaded machine's): the fake clocks stand still,
		// the round trips do not.
		if r != off && (gauge(r, "jitbot_campaigning") != 1 || abs(gauge(r, "jitbot_clock_skew_seconds")) > 0.5) {
			t.Errorf("a replica with a right clock: campaigning %v, skew %v", gauge(r, "jitbot_campaigning"), gauge(r, "jitbot_clock_skew_seconds"))
		}
	}
	// Resigned, not crashed: nobody waited for a lease to lapse, and the
	// skewed one does not come back while it is off.
	time.Sleep(300 * time.Millisecond)
	if off.st.leading.Load() || off.st.changes.Load() != 2 {
		t.Fatalf("the skewed replica: leading %v after %d changes", off.st.leading.Load(), off.st.changes.Load())
	}
	off.clock.Advance(-3 * time.Second)
	wait("the replica set right to campaign again", func() bool {
		return gauge(off, "jitbot_campaigning") == 1 && abs(gauge(off, "jitbot_clock_skew_seconds")) < 0.5
	})
}

func abs(f float64) float64 { return max(f, -f) }

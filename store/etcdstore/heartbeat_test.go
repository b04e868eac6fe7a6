package etcdstore_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// Three replicas publish their clocks; one runs 3 s ahead. Each measures
// the others' offsets from its own clock within a loopback round trip:
// the fast one sees the others 3 s behind, they see it 3 s ahead and
// each other level. Set right, it is level with them again. A replica
// that stops is forgotten by the others.
func TestHeartbeatMeasuresOffsets(t *testing.T) {
	c := etcdtest.Start(t, 1)
	type replica struct {
		hb   *etcdstore.Heartbeat
		skew atomic.Int64
		stop context.CancelFunc
		done chan struct{}
	}
	start := func(id string) *replica {
		r := &replica{done: make(chan struct{})}
		hb, err := etcdstore.NewHeartbeat(c.Client(), "/hb/", etcdstore.HeartbeatConfig{
			ID: id, Interval: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
			Clock: func() time.Time { return time.Now().Add(time.Duration(r.skew.Load())) },
		})
		if err != nil {
			t.Fatal(err)
		}
		r.hb = hb
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		go func() { defer close(r.done); _ = hb.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a, b, fast := start("a"), start("b"), start("fast")
	fast.skew.Store(int64(3 * time.Second))
	const tolerance = 500 * time.Millisecond // the paths' asymmetry on a loaded machine
	near := func(got, want time.Duration) bool { return got > want-tolerance && got < want+tolerance }
	// offsets says whether r sees each named replica at the offset given.
	offsets := func(r *replica, want map[string]time.Duration) bool {
		got := r.hb.Peers()
		if len(got) != len(want) {
			return false
		}
		for _, p := range got {
			w, ok := want[p.ID]
			if !ok || !near(p.Offset, w) {
				return false
			}
		}
		return true
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("%s: a sees %v, b %v, fast %v", what, a.hb.Peers(), b.hb.Peers(), fast.hb.Peers())
	}
	wait("one replica 3 s ahead", func() bool {
		return offsets(a, map[string]time.Duration{"b": 0, "fast": 3 * time.Second}) &&
			offsets(b, map[string]time.Duration{"a": 0, "fast": 3 * time.Second}) &&
			offsets(fast, map[string]time.Duration{"a": -3 * time.Second, "b": -3 * time.Second})
	})
	fast.skew.Store(0)
	wait("its clock set right", func() bool {
		return offsets(a, map[string]time.Duration{"b": 0, "fast": 0}) &&
			offsets(fast, map[string]time.Duration{"a": 0, "b": 0})
	})
	fast.stop()
	<-fast.done // its lease revoked: its key goes, and the others hear of it
	wait("a replica gone", func() bool {
		return offsets(a, map[string]time.Duration{"b": 0}) && offsets(b, map[string]time.Duration{"a": 0})
	})
}

// A heartbeat needs its replica's id and clock.
func TestHeartbeatConfig(t *testing.T) {
	c := etcdtest.Start(t, 1)
	if _, err := etcdstore.NewHeartbeat(c.Client(), "/hb/", etcdstore.HeartbeatConfig{Clock: time.Now}); err == nil {
		t.Error("a heartbeat without an id")
	}
	if _, err := etcdstore.NewHeartbeat(c.Client(), "/hb/", etcdstore.HeartbeatConfig{ID: "a"}); err == nil {
		t.Error("a heartbeat without a clock")
	}
}

package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// Clocks of the replicas on etcd. The leader's clock decides when a grant
// is due: a leader whose clock is behind revokes late, one ahead revokes
// early. Each replica publishes its clock (etcdstore.Heartbeat) and
// measures the others'; a replica more than MaxClockSkew off the others
// says so (jitbot_clock_skew_seconds, a warning) and stops campaigning,
// resigning if it leads, until its clock is back within bounds. The
// failover bound counts the skew allowed (README, "Running on etcd").

// MaxClockSkew is how far a replica's clock may be from the others' and
// still lead.
const MaxClockSkew = time.Second

// clockGuard follows this replica's clock against the others' and says
// whether it may campaign.
type clockGuard struct {
	id    string // this replica's, in its heartbeat
	hb    *etcdstore.Heartbeat
	max   time.Duration
	log   *slog.Logger
	peers func() []etcdstore.PeerClock

	mu      sync.Mutex
	skew    time.Duration // this replica's clock minus the others'
	out     bool          // |skew| > max
	changed chan struct{} // closed, and replaced, when out changes

	campaigning atomic.Bool
}

// newClockGuard is the guard of a replica on etcd (nil on bbolt, whose one
// replica has nobody to compare with), its heartbeat published every
// interval (etcdstore.DefaultHeartbeatInterval when 0) on clock.
func newClockGuard(db Backend, clock flows.Clock, interval time.Duration, log *slog.Logger) (*clockGuard, error) {
	eb, ok := db.(etcdBackend)
	if !ok {
		return nil, nil
	}
	g := &clockGuard{id: replicaID(), max: MaxClockSkew, log: log.With("component", "clock"), changed: make(chan struct{})}
	hb, err := eb.NewHeartbeat(etcdstore.HeartbeatConfig{
		ID: g.id, Clock: clock.Now, Interval: interval, OnSample: g.update, Log: log,
	})
	if err != nil {
		return nil, err
	}
	g.hb, g.peers = hb, hb.Peers
	return g, nil
}

// replicaID names this replica among those on one store: its host, its
// process, and a random part (two jitbots in one process, in tests).
func replicaID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// run publishes this replica's heartbeat until ctx ends.
func (g *clockGuard) run(ctx context.Context) { _ = g.hb.Run(ctx) }

// skewFrom is this replica's clock minus the others', from the others'
// offsets (each: their clock minus this one's): the median of the clocks
// of all the replicas, this one's included, is taken as the truth, so that
// one replica off is found off by itself and by the others alike. With an
// even number of clocks, the middle one nearer this replica's is taken:
// two replicas 2 s apart cannot tell which one is off, and neither stops
// (the peers' offsets are logged).
func skewFrom(peers []etcdstore.PeerClock) time.Duration {
	d := make([]time.Duration, 0, len(peers)+1)
	d = append(d, 0)
	for _, p := range peers {
		d = append(d, -p.Offset)
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	lo, hi := d[n/2-1], d[n/2]
	if lo.Abs() < hi.Abs() {
		return lo
	}
	return hi
}

// alive reports whether another replica's heartbeat is fresh: what it
// holds in memory (the secrets it made) it sends itself.
func (g *clockGuard) alive(replica string) bool {
	for _, p := range g.peers() {
		if p.ID == replica {
			return true
		}
	}
	return false
}

// update measures the skew again (the heartbeat's OnSample).
func (g *clockGuard) update() {
	peers := g.peers()
	skew := skewFrom(peers)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.skew = skew
	out := skew.Abs() > g.max
	if out == g.out {
		return
	}
	g.out = out
	close(g.changed)
	g.changed = make(chan struct{})
	offsets := make([]any, 0, 2*len(peers))
	for _, p := range peers {
		offsets = append(offsets, p.ID, p.Offset.String())
	}
	if out {
		g.log.Warn("this replica's clock is off the others' by more than allowed: not campaigning for leadership until it is set right",
			"skew", skew.String(), "max_skew", g.max.String(), slog.Group("peer_offsets", offsets...))
		return
	}
	g.log.Info("this replica's clock is within bounds again: campaigning", "skew", skew.String(), "max_skew", g.max.String())
}

// state is whether this replica may campaign now, and a channel closed
// when that changes.
func (g *clockGuard) state() (ok bool, changed <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.out, g.changed
}

func (g *clockGuard) counters() []counter {
	return []counter{
		{name: "jitbot_clock_skew_seconds", help: "This replica's clock minus the other replicas' (their median), measured on their heartbeats in etcd; beyond 1 s either way the replica stops campaigning for leadership.",
			gauge: true, read: func() map[string]float64 {
				g.mu.Lock()
				defer g.mu.Unlock()
				return map[string]float64{"": g.skew.Seconds()}
			}},
		{name: "jitbot_campaigning", help: "1 while this replica is a candidate for leadership (or leads), 0 while its clock is too far off the others' for it to lead.",
			gauge: true, read: func() map[string]float64 {
				if g.campaigning.Load() {
					return map[string]float64{"": 1}
				}
				return map[string]float64{"": 0}
			}},
	}
}

// clockGated is a leadership whose replica campaigns only while its clock
// is within bounds: when it goes out, the campaign ends, and the term if
// this replica leads (Election.Run resigns on its way out, so the next
// replica leads at once).
type clockGated struct {
	Leadership
	guard *clockGuard
}

func (l clockGated) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	for {
		ok, changed := l.guard.state()
		if !ok {
			l.guard.campaigning.Store(false)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				continue
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-changed:
				cancel()
			case <-cctx.Done():
			}
		}()
		l.guard.campaigning.Store(true)
		err := l.Leadership.Run(cctx, lead)
		cancel()
		l.guard.campaigning.Store(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cctx.Err() == nil && err != nil {
			return err
		}
	}
}

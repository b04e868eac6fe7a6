package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Heartbeats: each replica on one store publishes its wall clock under
// <prefix>replicas/<id>, on a lease of its own (a replica that dies leaves
// no heartbeat behind), every Interval; and it watches the others'. etcd's
// responses carry revisions, not times, so a replica's clock is compared
// with another's on the watch event that brings the other's heartbeat: the
// other read its clock T_p just before its Put, the Put reached etcd about
// half its round trip later (rtt_p, measured by the publisher on its
// previous Put and published with it), and the event reached this replica
// about half this replica's own round trip (rtt_r) after the commit. At the
// moment the event arrives, this replica's clock reads T_r and the other's
// reads about T_p + rtt_p/2 + rtt_r/2, so
//
//	offset(other − this) ≈ T_p + (rtt_p + rtt_r)/2 − T_r
//
// The error of one sample is the asymmetry of the paths, within one round
// trip; a sample delivered late (a watch catching up after a reconnection)
// makes the other look behind, never ahead, so the offset kept is the
// greatest of the last few samples (the NTP filter: the least-delayed
// sample is the truest).

// DefaultHeartbeatInterval is how often a replica publishes its clock.
const DefaultHeartbeatInterval = 2 * time.Second

// heartbeatSamples is how many samples of each other replica are kept.
const heartbeatSamples = 3

// HeartbeatConfig describes a replica's heartbeat.
type HeartbeatConfig struct {
	// ID names the replica, unique among those on the store (required).
	ID string
	// Clock is the replica's wall clock, the one its sweeps read (the
	// app's flows.Clock): required.
	Clock func() time.Time
	// Interval is how often the heartbeat is published
	// (DefaultHeartbeatInterval). Its lease is three intervals, whole
	// seconds, at least 2 s.
	Interval time.Duration
	// OnSample is called after each change of what Peers returns (a new
	// sample, a replica gone). Optional; it must not block.
	OnSample func()
	Log      *slog.Logger
}

// PeerClock is another replica's clock as this one measured it.
type PeerClock struct {
	ID string
	// Offset is the other's clock minus this replica's, at one moment.
	Offset time.Duration
}

// Heartbeat publishes this replica's clock and measures the others'.
type Heartbeat struct {
	cli    *clientv3.Client
	prefix string // <store prefix>replicas/
	cfg    HeartbeatConfig
	ttl    int64
	log    *slog.Logger
	rtt    atomic.Int64 // the last Put's round trip, ns

	mu    sync.Mutex
	peers map[string]*peerSamples
}

type peerSamples struct {
	offsets []time.Duration // the last heartbeatSamples, oldest first
	seen    time.Time       // when the last one came (monotonic)
}

// heartbeat is the record under <prefix>replicas/<id>.
type heartbeat struct {
	ID    string    `json:"id"`
	Clock time.Time `json:"clock"`  // the publisher's clock just before its Put
	RTTns int64     `json:"rtt_ns"` // its previous Put's round trip
}

// NewHeartbeat is this replica's heartbeat on the store's cluster.
func (s *Store) NewHeartbeat(cfg HeartbeatConfig) (*Heartbeat, error) {
	return NewHeartbeat(s.cli, s.p, cfg)
}

// NewHeartbeat is a replica's heartbeat on the cluster cli reaches, under
// prefix (the store's).
func NewHeartbeat(cli *clientv3.Client, prefix string, cfg HeartbeatConfig) (*Heartbeat, error) {
	if cfg.ID == "" || strings.ContainsAny(cfg.ID, "\x00") {
		return nil, fmt.Errorf("etcdstore: a heartbeat needs the replica's id")
	}
	if cfg.Clock == nil {
		return nil, fmt.Errorf("etcdstore: a heartbeat needs the replica's clock")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultHeartbeatInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	ttl := max(2, int64(math.Ceil((3 * cfg.Interval).Seconds())))
	return &Heartbeat{cli: cli, prefix: prefix + "replicas/", cfg: cfg, ttl: ttl,
		log: cfg.Log.With("component", "heartbeat"), peers: map[string]*peerSamples{}}, nil
}

// Peers are the other replicas whose heartbeat was seen within the last
// three intervals, each with its offset from this replica's clock.
func (h *Heartbeat) Peers() []PeerClock {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]PeerClock, 0, len(h.peers))
	for id, p := range h.peers {
		if time.Since(p.seen) > 3*h.cfg.Interval {
			delete(h.peers, id)
			continue
		}
		best := p.offsets[0]
		for _, o := range p.offsets[1:] {
			best = max(best, o)
		}
		out = append(out, PeerClock{ID: id, Offset: best})
	}
	return out
}

// Run publishes and watches until ctx ends; etcd unreachable, it goes on
// trying (and the others' heartbeats age out of Peers). It returns ctx's
// error; the heartbeat's lease is revoked on the way out.
func (h *Heartbeat) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); h.watch(ctx) }()
	var lease clientv3.LeaseID
	defer func() {
		if lease != 0 {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_, _ = h.cli.Revoke(rctx, lease)
			cancel()
		}
		<-done
	}()
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		var err error
		if lease, err = h.publish(ctx, lease); err != nil && ctx.Err() == nil {
			h.log.DebugContext(ctx, "could not publish the heartbeat", "err", err)
		}
		// Peers left silent age out even when nothing else comes.
		h.notify()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// publish writes one heartbeat on lease (granted when 0, or when etcd
// forgot it), and returns the lease in use.
func (h *Heartbeat) publish(ctx context.Context, lease clientv3.LeaseID) (clientv3.LeaseID, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Interval)
	defer cancel()
	if lease != 0 {
		if _, err := h.cli.KeepAliveOnce(ctx, lease); err != nil {
			if !leaseGone(err) {
				return lease, fmt.Errorf("renew the heartbeat's lease: %w", err)
			}
			lease = 0
		}
	}
	if lease == 0 {
		g, err := h.cli.Grant(ctx, h.ttl)
		if err != nil {
			return 0, fmt.Errorf("grant the heartbeat's lease: %w", err)
		}
		lease = g.ID
	}
	raw, err := json.Marshal(heartbeat{ID: h.cfg.ID, Clock: h.cfg.Clock(), RTTns: h.rtt.Load()})
	if err != nil {
		return lease, err
	}
	start := time.Now()
	if _, err := h.cli.Put(ctx, h.prefix+h.cfg.ID, string(raw), clientv3.WithLease(lease)); err != nil {
		if leaseGone(err) {
			return 0, fmt.Errorf("publish the heartbeat: %w", err)
		}
		return lease, fmt.Errorf("publish the heartbeat: %w", err)
	}
	h.rtt.Store(int64(time.Since(start)))
	return lease, nil
}

// watch samples the others' heartbeats as they come, until ctx ends.
func (h *Heartbeat) watch(ctx context.Context) {
	for ctx.Err() == nil {
		// From now on: the heartbeats already written are stale samples.
		for wr := range h.cli.Watch(clientv3.WithRequireLeader(ctx), h.prefix, clientv3.WithPrefix()) {
			if wr.Err() != nil {
				break
			}
			now := h.cfg.Clock()
			for _, ev := range wr.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), h.prefix)
				if id == h.cfg.ID {
					continue
				}
				if ev.Type == clientv3.EventTypeDelete {
					h.forget(id)
					continue
				}
				var hb heartbeat
				if json.Unmarshal(ev.Kv.Value, &hb) != nil {
					continue
				}
				h.sample(id, hb.Clock.Add(time.Duration(hb.RTTns+h.rtt.Load())/2).Sub(now))
			}
			h.notify()
		}
		select {
		case <-ctx.Done():
		case <-time.After(h.cfg.Interval):
		}
	}
}

func (h *Heartbeat) sample(id string, offset time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.peers[id]
	if p == nil {
		p = &peerSamples{}
		h.peers[id] = p
	}
	p.offsets = append(p.offsets, offset)
	if len(p.offsets) > heartbeatSamples {
		p.offsets = p.offsets[len(p.offsets)-heartbeatSamples:]
	}
	p.seen = time.Now()
}

func (h *Heartbeat) forget(id string) {
	h.mu.Lock()
	delete(h.peers, id)
	h.mu.Unlock()
}

func (h *Heartbeat) notify() {
	if h.cfg.OnSample != nil {
		h.cfg.OnSample()
	}
}

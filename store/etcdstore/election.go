package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Leader election among the replicas of one store, on etcd's concurrency
// package: each replica campaigns on one election (a key prefix); the one
// whose key is oldest leads. A replica's key lives on its session's lease:
// a replica that dies stops renewing it and loses its key within the
// lease's TTL, and the next candidate leads.
//
// What the leader does runs under a context that (1) ends as soon as the
// replica can no longer be sure it leads (its session's lease lapsed or
// could not be renewed, its key is gone) and (2) carries the fence of its
// term (WithFence: the leader key and its creation revision), so that a
// write a deposed leader still makes (in flight when it lost the lease, or
// under context.WithoutCancel) fails with ErrFenced instead of acting
// twice with the new leader.

// MaxLeaderTTL is the longest lease a leader may hold: the failover bound
// is this, plus a campaign, plus the new leader's first sweep.
const MaxLeaderTTL = 10 * time.Second

// DefaultLeaderTTL is the leader's lease when ElectionConfig sets none.
const DefaultLeaderTTL = 10 * time.Second

// ElectionConfig describes a replica's candidacy.
type ElectionConfig struct {
	// Name is the election's, under the store's prefix ("leader" when
	// empty): replicas on one store and one name elect one leader.
	Name string
	// Identity is what this replica writes as its candidacy (its host
	// name, say): it says who leads, nothing depends on it.
	Identity string
	// TTL is the lease of the candidacy, whole seconds, at least 2 s (etcd
	// refuses shorter ones) and at most MaxLeaderTTL (DefaultLeaderTTL).
	TTL time.Duration
	// Retry is the pause after a failed session or campaign, jittered
	// (1 s).
	Retry time.Duration
	// OnChange is told when this replica becomes leader (true) and when it
	// stops being leader (false), in turn (metrics, logs). Optional.
	OnChange func(leading bool)
	Log      *slog.Logger
}

// Election is a replica's candidacy for leadership over one store.
type Election struct {
	cli    *clientv3.Client
	prefix string // the election's key prefix
	cfg    ElectionConfig
	log    *slog.Logger
}

// NewElection is a candidacy on the store's cluster and prefix.
func (s *Store) NewElection(cfg ElectionConfig) (*Election, error) {
	return NewElection(s.cli, s.p, cfg)
}

// NewElection is a candidacy on the cluster cli reaches, under prefix
// (the store's).
func NewElection(cli *clientv3.Client, prefix string, cfg ElectionConfig) (*Election, error) {
	if cfg.Name == "" {
		cfg.Name = "leader"
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaderTTL
	}
	switch {
	case cfg.TTL < 2*time.Second || cfg.TTL > MaxLeaderTTL:
		return nil, fmt.Errorf("etcdstore: a leader's lease of %v: it must be between 2s and %v", cfg.TTL, MaxLeaderTTL)
	case cfg.TTL%time.Second != 0:
		return nil, fmt.Errorf("etcdstore: a leader's lease of %v: etcd leases are whole seconds", cfg.TTL)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Election{cli: cli, prefix: prefix + "election/" + cfg.Name, cfg: cfg, log: cfg.Log.With("component", "election")}, nil
}

// Run campaigns until ctx ends. Each time this replica wins, it runs lead
// with a context that ends when the leadership is lost (or ctx ends) and
// carries the term's fence; lead must return once its context ends. When
// lead returns earlier, the replica resigns (with lead's error logged) and
// campaigns again. Run returns ctx's error.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		won, err := e.term(ctx, lead)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			e.log.WarnContext(ctx, "leader election", "err", err)
		}
		if won {
			i = 0
		}
		// A pause, jittered so that candidates that failed together do not
		// try again together; longer after failures in a row.
		wait := time.Duration(float64(e.cfg.Retry<<min(i, 3)) * (0.5 + rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// term is one session: a campaign and, when won, one term of leadership.
func (e *Election) term(ctx context.Context, lead func(ctx context.Context) error) (won bool, err error) {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(int(e.cfg.TTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("open a session: %w", err)
	}
	defer func() {
		// Closing revokes the lease: the next candidate need not wait for
		// it to lapse (a crash leaves it to lapse).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_, _ = e.cli.Revoke(cctx, sess.Lease())
		_ = sess.Close()
	}()
	el := concurrency.NewElection(sess, e.prefix)
	// The campaign ends, unwon, if the session's lease lapses while it
	// waits (etcd unreachable): a new session then.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	err = el.Campaign(cctx, e.cfg.Identity)
	if err != nil {
		cancel()
		return false, fmt.Errorf("campaign: %w", err)
	}
	fence := Fence{Key: el.Key(), Revision: el.Rev()}
	lctx := WithFence(cctx, fence)
	// The key may go while the lease lives (deleted by hand, or the
	// lease revoked by an operator): the term ends then too.
	go e.watchKey(lctx, cancel, fence)
	e.log.InfoContext(ctx, "leading", "identity", e.cfg.Identity, "key", fence.Key, "revision", fence.Revision)
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(true)
	}
	lerr := lead(lctx)
	lost := lctx.Err() != nil && ctx.Err() == nil
	cancel()
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(false)
	}
	switch {
	case lost:
		e.log.WarnContext(ctx, "lost leadership", "identity", e.cfg.Identity)
	case ctx.Err() == nil:
		e.log.WarnContext(ctx, "the leader's work stopped; resigning", "err", lerr)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer rcancel()
	_ = el.Resign(rctx)
	return true, nil
}

// watchKey cancels the term once its leader key is deleted or recreated.
func (e *Election) watchKey(ctx context.Context, cancel context.CancelFunc, f Fence) {
	defer cancel() // a watch that ends early cannot vouch for the term
	for wr := range e.cli.Watch(clientv3.WithRequireLeader(ctx), f.Key, clientv3.WithRev(f.Revision)) {
		if err := wr.Err(); err != nil {
			if ctx.Err() == nil {
				e.log.WarnContext(ctx, "watching the leader key failed; giving up the term", "err", err)
			}
			return
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete || ev.Kv.CreateRevision != f.Revision {
				return
			}
		}
	}
}

// Leader is who leads now (their Identity), or "" when nobody does.
func (e *Election) Leader(ctx context.Context) (string, error) {
	resp, err := e.cli.Get(ctx, e.prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("etcdstore: read the leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// ErrNotLeader is returned by FenceOf outside a term.
var ErrNotLeader = errors.New("etcdstore: not under a leader's term")

// FenceOf is the fence a leader's context carries (Run's lead).
func FenceOf(ctx context.Context) (Fence, error) {
	f, ok := fenceOf(ctx)
	if !ok {
		return Fence{}, ErrNotLeader
	}
	return f, nil
}

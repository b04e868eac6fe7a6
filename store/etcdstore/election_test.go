package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// electionTTL is the shortest lease etcd grants: the tests wait on it.
const electionTTL = 2 * time.Second

// candidate is one replica campaigning with its own client: closing the
// client without resigning is how it crashes.
type candidate struct {
	name    string
	cli     *clientv3.Client
	el      *etcdstore.Election
	leading atomic.Bool
	changes atomic.Int64
	stop    context.CancelFunc
	done    chan struct{}
}

// campaign starts a candidate on c running lead while it leads (nil: wait
// for the term to end).
func campaign(t *testing.T, c *etcdtest.Cluster, name string, lead func(ctx context.Context) error) *candidate {
	t.Helper()
	cd := &candidate{name: name, cli: c.Client(), done: make(chan struct{})}
	el, err := etcdstore.NewElection(cd.cli, "/ha/", etcdstore.ElectionConfig{
		Identity: name, TTL: electionTTL, Retry: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		OnChange: func(leading bool) { cd.leading.Store(leading); cd.changes.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	cd.el = el
	if lead == nil {
		lead = func(ctx context.Context) error { <-ctx.Done(); return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	cd.stop = cancel
	go func() {
		defer close(cd.done)
		_ = el.Run(ctx, lead)
	}()
	t.Cleanup(func() { cd.stop(); <-cd.done })
	return cd
}

// crash closes the candidate's client without resigning: its lease lapses
// on its own.
func (cd *candidate) crash() { _ = cd.cli.Close() }

// waitLeader waits (within d) until exactly one of cs leads, and returns it.
func waitLeader(t *testing.T, d time.Duration, cs ...*candidate) *candidate {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var leaders []*candidate
		for _, c := range cs {
			if c.leading.Load() {
				leaders = append(leaders, c)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("%d leaders at once", len(leaders))
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no leader within %v", d)
	return nil
}

func TestElectionConfig(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 11 * time.Second, 2500 * time.Millisecond} {
		if _, err := etcdstore.NewElection(nil, "/x/", etcdstore.ElectionConfig{TTL: ttl}); err == nil {
			t.Errorf("a lease of %v was taken", ttl)
		}
	}
	if _, err := etcdstore.NewElection(nil, "/x/", etcdstore.ElectionConfig{}); err != nil {
		t.Errorf("the default lease: %v", err)
	}
}

// Three replicas on a 3-member cluster: one leads, the others wait; when
// the leader crashes, another leads within the lease's TTL (and a
// campaign); the new leader's term has a new fence.
func TestElectionOneLeaderAndCrashHandover(t *testing.T) {
	c := etcdtest.Start(t, 3)
	fences := make(chan etcdstore.Fence, 4)
	lead := func(ctx context.Context) error {
		f, err := etcdstore.FenceOf(ctx)
		if err != nil {
			return err
		}
		fences <- f
		<-ctx.Done()
		return nil
	}
	cs := []*candidate{campaign(t, c, "a", lead), campaign(t, c, "b", lead), campaign(t, c, "c", lead)}
	first := waitLeader(t, 10*time.Second, cs...)
	// It stays the only one.
	for range 10 {
		waitLeader(t, time.Second, cs...)
		time.Sleep(50 * time.Millisecond)
	}
	if who, err := cs[1].el.Leader(t.Context()); err != nil || who != first.name {
		t.Fatalf("Leader() = %q %v, want %q", who, err, first.name)
	}
	f1 := <-fences

	crashed := time.Now()
	first.crash()
	var rest []*candidate
	for _, cd := range cs {
		if cd != first {
			rest = append(rest, cd)
		}
	}
	next := waitLeader(t, electionTTL+3*time.Second, rest...)
	t.Logf("handover in %v", time.Since(crashed))
	if first.leading.Load() {
		t.Fatal("the crashed replica still thinks it leads")
	}
	f2 := <-fences
	if f2.Key == f1.Key || f2.Revision <= f1.Revision {
		t.Fatalf("the new term's fence %+v does not follow %+v", f2, f1)
	}
	if who, err := next.el.Leader(t.Context()); err != nil || who != next.name {
		t.Fatalf("Leader() = %q %v, want %q", who, err, next.name)
	}
	// A leader that stops (its replica shuts down) resigns: the next one
	// need not wait for the lease.
	next.stop()
	<-next.done
	resigned := time.Now()
	var last *candidate
	for _, cd := range rest {
		if cd != next {
			last = cd
		}
	}
	waitLeader(t, electionTTL, last)
	t.Logf("after a resignation in %v", time.Since(resigned))
}

// A deposed leader's write, made under its term's context after it lost
// the lease (in flight, or under context.WithoutCancel), fails with
// ErrFenced and writes nothing; the new leader's writes go through.
func TestElectionFencedWriteOfDeposedLeader(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s, err := etcdstore.New(t.Context(), c.Client(), etcdstore.Options{Prefix: "/ha/"})
	if err != nil {
		t.Fatal(err)
	}
	terms := make(chan context.Context, 4)
	lead := func(ctx context.Context) error {
		if err := s.PutContact(ctx, "test", "lead", []byte("term")); err != nil {
			return err
		}
		terms <- context.WithoutCancel(ctx) // keeps the fence, not the end
		<-ctx.Done()
		return nil
	}
	a := campaign(t, c, "a", lead)
	old := <-terms
	if !a.leading.Load() {
		t.Fatal("a is not leading")
	}
	if err := s.PutContact(old, "test", "k", []byte("by a, leading")); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	b := campaign(t, c, "b", lead)
	a.crash()
	current := <-terms
	if !b.leading.Load() {
		t.Fatal("b is not leading")
	}
	err = s.PutContact(old, "test", "k", []byte("by a, deposed"))
	if !errors.Is(err, etcdstore.ErrFenced) {
		t.Fatalf("the deposed leader's write: %v, want ErrFenced", err)
	}
	if got, err := s.Contact(t.Context(), "test", "k"); err != nil || string(got) != "by a, leading" {
		t.Fatalf("after the fenced write: %q %v", got, err)
	}
	if err := s.PutContact(current, "test", "k", []byte("by b")); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	if got, _ := s.Contact(t.Context(), "test", "k"); string(got) != "by b" {
		t.Fatalf("after the new leader's write: %q", got)
	}
}

// Sweeps run by whoever leads, while the leaders crash one after the
// other and new replicas join: no two sweeps ever run at once, each term
// sweeps, and every sweep's fenced write lands (counted in etcd).
func TestElectionSweepsNeverOverlapUnderLeaderChanges(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s, err := etcdstore.New(t.Context(), c.Client(), etcdstore.Options{Prefix: "/ha/"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		active, overlaps, sweeps, written atomic.Int64
		mu                                sync.Mutex
		byTerm                            = map[int64]int{}
	)
	sweep := func(ctx context.Context) error {
		f, err := etcdstore.FenceOf(ctx)
		if err != nil {
			return err
		}
		for ctx.Err() == nil {
			if active.Add(1) > 1 {
				overlaps.Add(1)
			}
			n := sweeps.Add(1)
			mu.Lock()
			byTerm[f.Revision]++
			mu.Unlock()
			if err := s.PutContact(ctx, "sweep", fmt.Sprint(n), []byte("swept")); err == nil {
				written.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
			active.Add(-1)
		}
		return nil
	}
	cs := []*candidate{campaign(t, c, "r0", sweep), campaign(t, c, "r1", sweep)}
	const kills = 2
	for i := range kills {
		leader := waitLeader(t, electionTTL+3*time.Second, cs...)
		time.Sleep(200 * time.Millisecond) // it sweeps a while
		leader.crash()
		var alive []*candidate
		for _, cd := range cs {
			if cd != leader {
				alive = append(alive, cd)
			}
		}
		cs = append(alive, campaign(t, c, fmt.Sprintf("r%d", i+2), sweep))
	}
	last := waitLeader(t, electionTTL+3*time.Second, cs...)
	time.Sleep(200 * time.Millisecond)
	// The followers first: the leader's resignation must not hand over.
	for _, cd := range append(cs, last) {
		if cd != last || !last.leading.Load() {
			cd.stop()
			<-cd.done
		}
	}
	last.stop()
	<-last.done

	mu.Lock()
	defer mu.Unlock()
	if overlaps.Load() != 0 {
		t.Fatalf("%d sweeps ran beside another", overlaps.Load())
	}
	if len(byTerm) != kills+1 {
		t.Fatalf("sweeps in %d terms, want %d: %v", len(byTerm), kills+1, byTerm)
	}
	for term, n := range byTerm {
		if n == 0 {
			t.Fatalf("term %d did not sweep", term)
		}
	}
	resp, err := c.Client().Get(t.Context(), "/ha/contact/sweep", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	// A sweep cut short by its leader's crash may not have written; none
	// wrote twice, and nothing else wrote.
	if resp.Count != written.Load() || written.Load() < int64(len(byTerm)) || written.Load() > sweeps.Load() {
		t.Fatalf("%d sweep writes in etcd, %d acknowledged, %d sweeps", resp.Count, written.Load(), sweeps.Load())
	}
}

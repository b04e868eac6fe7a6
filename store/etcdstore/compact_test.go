package etcdstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// The compactor keeps a retention's worth of history, in time: it
// compacts to the revision it read a retention ago, never to a younger
// one, and the store reads on.
func TestCompactorKeepsTheRetention(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	write := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := s.Update(ctx, "c1", func(r *flows.Request) ([]flows.Event, error) { r.Attempts = i; return nil, nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := flowstest.NewRequest("c1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	old, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(5)
	c := s.NewCompactor(time.Hour)
	t0 := flowstest.T0
	noted, _ := s.Revision(ctx) // what the first step notes (before its own write)
	if rev, err := c.Step(ctx, t0); err != nil || rev != 0 {
		t.Fatalf("first step: compacted to %d (%v), want nothing yet", rev, err)
	}
	write(5)
	if rev, err := c.Step(ctx, t0.Add(30*time.Minute)); err != nil || rev != 0 {
		t.Fatalf("half a retention on: compacted to %d (%v), want nothing yet", rev, err)
	}
	// The history of the last hour is still there.
	if _, err := cli.Get(ctx, s.Prefix()+"req/c1", clientv3.WithRev(old)); err != nil {
		t.Fatalf("a read of an hour-young revision: %v", err)
	}
	write(5)
	rev, err := c.Step(ctx, t0.Add(time.Hour))
	if err != nil || rev != noted {
		t.Fatalf("a retention on: compacted to %d (%v), want %d, the revision read an hour ago", rev, err, noted)
	}
	if _, err := cli.Get(ctx, s.Prefix()+"req/c1", clientv3.WithRev(old)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("a read of a revision older than the retention: %v, want compacted", err)
	}
	if _, err := cli.Get(ctx, s.Prefix()+"req/c1", clientv3.WithRev(noted)); err != nil {
		t.Fatalf("a read at the revision compacted to: %v", err)
	}
	got, err := s.Get(ctx, "c1")
	if err != nil || got.Attempts != 4 {
		t.Fatalf("the request after compaction: %+v %v", got, err)
	}
	// The next compaction waits for the next sample to age.
	if rev, err := c.Step(ctx, t0.Add(time.Hour+time.Minute)); err != nil || rev != 0 {
		t.Fatalf("a minute later: compacted to %d (%v), want nothing", rev, err)
	}
}

func TestCompactionConfig(t *testing.T) {
	base := etcdstore.Config{Endpoints: []string{"http://127.0.0.1:2379"}}
	for _, tc := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{{"", time.Minute, false}, {"off", 0, false}, {"15m", 15 * time.Minute, false}, {"10s", 0, true}, {"31d", 0, true}, {"1000h", 0, true}, {"soon", 0, true}} {
		c := base
		c.Compaction = tc.value
		errs := c.Validate()
		if bad := len(errs) > 0; bad != tc.bad {
			t.Errorf("compaction %q: %v", tc.value, errs)
			continue
		}
		if !tc.bad && c.CompactionRetention() != tc.want {
			t.Errorf("compaction %q: retention %v, want %v", tc.value, c.CompactionRetention(), tc.want)
		}
		if tc.bad && errs[0].Path != "compaction" {
			t.Errorf("compaction %q: %v, want an error at compaction", tc.value, errs)
		}
	}
}

// A new leader's compactor goes on from the notes of the one before it,
// kept in etcd: with leaders changing more often than the retention,
// notes kept in memory never aged enough to compact anything.
func TestCompactionOutlivesAChangeOfLeader(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("c1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	old, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := flowstest.T0
	first := s.NewCompactor(time.Minute)
	if rev, err := first.Step(ctx, t0); err != nil || rev != 0 {
		t.Fatalf("first leader's step: compacted to %d (%v), want nothing yet", rev, err)
	}
	if _, err := s.Update(ctx, "c1", func(r *flows.Request) ([]flows.Event, error) { r.Attempts = 1; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	// The first leader dies; the next one (another process: another store
	// on the same prefix) steps a retention later.
	other, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: s.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	next := other.NewCompactor(time.Minute)
	rev, err := next.Step(ctx, t0.Add(time.Minute))
	if err != nil || rev != old {
		t.Fatalf("next leader's first step a retention on: compacted to %d (%v), want %d, the revision the first one noted", rev, err, old)
	}
	if _, err := cli.Get(ctx, s.Prefix()+"req/c1", clientv3.WithRev(old-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("a read of a revision older than the retention: %v, want compacted", err)
	}
	got, err := s.Get(ctx, "c1")
	if err != nil || got.Attempts != 1 {
		t.Fatalf("the request after compaction: %+v %v", got, err)
	}
}

// A long retention, stepped every 10 minutes (the schedule's longest
// period): the notes stay about ten, thinned by time, and the oldest still
// ages past the retention, so compaction comes.
func TestCompactionWithALongRetention(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	c := s.NewCompactor(24 * time.Hour)
	t0 := flowstest.T0
	compacted := time.Duration(0)
	for step := time.Duration(0); step <= 26*time.Hour && compacted == 0; step += 10 * time.Minute {
		if err := s.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: t0.Add(step)}); err != nil {
			t.Fatal(err)
		}
		rev, err := c.Step(ctx, t0.Add(step))
		if err != nil {
			t.Fatal(err)
		}
		if rev > 0 {
			compacted = step
		}
	}
	if compacted < 24*time.Hour || compacted > 24*time.Hour+3*time.Hour {
		t.Fatalf("first compaction %v after the first step, want a retention (24h) on, within a tenth of it", compacted)
	}
	resp, err := cli.Get(ctx, s.Prefix()+"compaction")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the notes: %v %v", resp, err)
	}
	if n := strings.Count(string(resp.Kvs[0].Value), `"rev"`); n > 12 {
		t.Fatalf("%d notes kept for a 24h retention stepped every 10 minutes, want about ten", n)
	}
}

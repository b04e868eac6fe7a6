package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
)

// TestSweepOf100DueGrantsCostsAtMostTenCommits is DESIGN §8's row on real
// bbolt, counted exactly (bbolt's transaction id), not timed: 100 grants
// due at once (rate limit off) are revoked in at most 10 fsyncs for the
// whole sweep: bbolt makes two per commit, so at most 5 commits.
func TestSweepOf100DueGrantsCostsAtMostTenCommits(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	svc := benchService(t, db, flowstest.NewClock(flowstest.T0))
	addExpiring(t, db, "due", 100, flowstest.T0)
	before := store.Commits(db)
	rep, err := svc.Sweep(ctx, flowstest.T0)
	if err != nil || rep.Revocations != 100 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	commits := store.Commits(db) - before
	t.Logf("%d commits (%d fsyncs) for a sweep of 100 due grants", commits, 2*commits)
	if 2*commits > 10 {
		t.Fatalf("%d commits, %d fsyncs; want at most 10 fsyncs", commits, 2*commits)
	}
	expired, err := db.Find(ctx, flows.Query{States: []flows.State{flows.StateExpired}})
	if err != nil || len(expired) != 100 {
		t.Fatalf("%d expired, %v; want 100", len(expired), err)
	}
}

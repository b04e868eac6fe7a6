package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestReceiveSharesACommitAndSurvivesARerun puts Receives of two keys and a
// function that fails into one bbolt batch: the batch is rolled back and run
// again without the failing function, so the Receives that ran before it
// run twice. Exactly one Receive per key must still answer first, each item
// be stored once, and all of them share one commit.
func TestReceiveSharesACommitAndSurvivesARerun(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	const receivers = 8
	// The batch runs when full, so all of them are in it, whatever the
	// scheduling (an hour's delay is never reached).
	db.bolt.MaxBatchSize = receivers + 1
	db.bolt.MaxBatchDelay = time.Hour
	before := Commits(db)
	failed := errors.New("another caller's failure")
	var firsts [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range receivers {
		wg.Go(func() {
			first, err := db.Receive(ctx, flows.InboxItem{Key: fmt.Sprintf("k%d", i%2), ReceivedAt: flowstest.T0})
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts[i%2].Add(1)
			}
		})
	}
	wg.Go(func() {
		if err := db.bolt.Batch(func(*bolt.Tx) error { return failed }); !errors.Is(err, failed) {
			t.Errorf("the failing function's batch: %v", err)
		}
	})
	wg.Wait()
	for k := range firsts {
		if n := firsts[k].Load(); n != 1 {
			t.Errorf("key k%d: %d receives were first, want 1", k, n)
		}
	}
	if n, _, err := db.InboxDepth(ctx); err != nil || n != 2 {
		t.Fatalf("depth: %d %v, want 2", n, err)
	}
	if items, err := db.TakeInbox(ctx, flowstest.T0, time.Minute, 0); err != nil || len(items) != 2 {
		t.Fatalf("taken: %+v %v, want the two items", items, err)
	}
	// The batch's one commit and the take's; the failed runs committed nothing.
	if got := Commits(db) - before; got != 2 {
		t.Fatalf("%d commits, want 2 (the batch's and the take's)", got)
	}
}

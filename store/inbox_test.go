package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestReceiveSharesACommitAndSurvivesARerun puts Receives of two keys and a
// function that fails into one transaction of the committer: it is rolled
// back and run again without the failing function, so the Receives that ran
// before it run twice. Exactly one Receive per key must still answer first,
// each item be stored once, and all of them share one commit.
func TestReceiveSharesACommitAndSurvivesARerun(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	const receivers = 8
	before := Commits(db)
	// A first write holds the committer while the others queue, so that
	// they all land in the next transaction whatever the scheduling.
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.write(func(*bolt.Tx) error { close(entered); <-release; return nil }); err != nil {
			t.Error(err)
		}
	})
	<-entered
	failed := errors.New("another caller's failure")
	var firsts [2]atomic.Int32
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
		// Another ack, so that it shares the receivers' transaction.
		if err := db.writeAck(func(*bolt.Tx) error { return failed }); !errors.Is(err, failed) {
			t.Errorf("the failing function's write: %v", err)
		}
	})
	for len(db.commit.acks) < receivers+1 {
		runtime.Gosched() // the queue fills without any timer; this only yields
	}
	close(release)
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
	// The holder's commit, the batch's one and the take's; the failed runs
	// committed nothing.
	if got := Commits(db) - before; got != 3 {
		t.Fatalf("%d commits, want 3 (the holder's, the batch's and the take's)", got)
	}
}

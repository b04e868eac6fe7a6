package store

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCloseDrainsTheCommitter: writes already handed over when Close is
// called are committed, and one after Close is refused, not lost silently.
func TestCloseDrainsTheCommitter(t *testing.T) {
	db := openTemp(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.write(func(*bolt.Tx) error { close(entered); <-release; return nil }); err != nil {
			t.Error(err)
		}
	})
	<-entered
	const queued = 5
	for i := range queued {
		wg.Go(func() {
			err := db.write(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte{'q', byte(i)}, []byte{1}) })
			if err != nil {
				t.Error(err)
			}
		})
	}
	for len(db.commit.jobs) < queued {
		runtime.Gosched() // only yields: the queue fills without a timer
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	close(release)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := db.write(func(*bolt.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("a write after Close: %v", err)
	}
	re, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	_ = re.bolt.View(func(tx *bolt.Tx) error {
		for i := range queued {
			if tx.Bucket(bucketMeta).Get([]byte{'q', byte(i)}) == nil {
				t.Errorf("queued write %d was lost on Close", i)
			}
		}
		return nil
	})
}

// TestAcksCommitAheadOfTheBackground: writes queued behind a commit on
// disk go out as the acks alone first, in one light transaction, then the
// background's queue in the next (with any ack that came meanwhile), so a
// webhook's answer never waits for a heavy commit of its own and the
// background is never starved by a stream of acks.
func TestAcksCommitAheadOfTheBackground(t *testing.T) {
	db := openTemp(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.write(func(*bolt.Tx) error { close(entered); <-release; return nil }); err != nil {
			t.Error(err)
		}
	})
	<-entered
	const background, acks = 4, 3
	var mu sync.Mutex
	txOf := map[string]int{}
	put := func(write func(func(*bolt.Tx) error) error, name string) {
		err := write(func(tx *bolt.Tx) error {
			mu.Lock()
			txOf[name] = tx.ID()
			mu.Unlock()
			return tx.Bucket(bucketMeta).Put([]byte(name), []byte{1})
		})
		if err != nil {
			t.Error(err)
		}
	}
	for i := range background {
		wg.Go(func() { put(db.write, fmt.Sprintf("background-%d", i)) })
	}
	for len(db.commit.jobs) < background {
		runtime.Gosched()
	}
	for i := range acks {
		wg.Go(func() { put(db.writeAck, fmt.Sprintf("ack-%d", i)) })
	}
	for len(db.commit.acks) < acks {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	ackTx, bgTx := txOf["ack-0"], txOf["background-0"]
	for name, id := range txOf {
		want := bgTx
		if strings.HasPrefix(name, "ack-") {
			want = ackTx
		}
		if id != want {
			t.Errorf("%s committed in transaction %d, want %d (acks %d, background %d)", name, id, want, ackTx, bgTx)
		}
	}
	if bgTx != ackTx+1 {
		t.Errorf("the acks committed in transaction %d and the background in %d: want the acks alone first, the background next", ackTx, bgTx)
	}

	// A stream of acks: each transaction of acks alone is followed by one
	// that takes the background's queue.
	entered, release = make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		if err := db.write(func(*bolt.Tx) error { close(entered); <-release; return nil }); err != nil {
			t.Error(err)
		}
	})
	<-entered
	wg.Go(func() { put(db.write, "late-background") })
	for len(db.commit.jobs) < 1 {
		runtime.Gosched()
	}
	wg.Go(func() { put(db.writeAck, "late-ack-0") })
	// Until the background commits, an ack is always queued.
	bgDone := make(chan struct{})
	wg.Go(func() {
		for n := 1; n < 10_000; n++ {
			select {
			case <-bgDone:
				return
			default:
			}
			put(db.writeAck, fmt.Sprintf("late-ack-%d", n))
		}
	})
	for len(db.commit.acks) < 1 {
		runtime.Gosched()
	}
	close(release)
	for {
		mu.Lock()
		_, done := txOf["late-background"]
		mu.Unlock()
		if done {
			close(bgDone)
			break
		}
		runtime.Gosched()
	}
	wg.Wait()
	first := txOf["late-ack-0"]
	for name, id := range txOf {
		if strings.HasPrefix(name, "late-ack-") {
			first = min(first, id)
		}
	}
	if bg := txOf["late-background"]; bg > first+1 {
		t.Errorf("acks kept coming and the background waited: first ack in transaction %d, the background in %d", first, bg)
	}
}

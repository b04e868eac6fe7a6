package store

import (
	"errors"
	"runtime"
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

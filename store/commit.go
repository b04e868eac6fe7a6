package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The committer is how writes share fsyncs (DESIGN §4: commits are
// grouped). Every write that goes through DB.write (or DB.change, the
// inbox's and outbox's own) hands its function to one goroutine, which runs
// all it has queued in a single bbolt transaction (one commit: two
// fdatasyncs), then takes whatever arrived while that commit was on disk. Nothing ever waits for a timer: a lone writer commits at once, and
// writers that come together share a commit, so under load a batch is as
// large as one commit's time lets it grow. bbolt's Batch, used before, closed
// a batch only when its timer (MaxBatchDelay, 10ms) fired, so a lone webhook
// always paid the whole delay.
//
// Savepoints, which bbolt lacks, are replaced by two rules:
//
//   - A function that refuses (a conflict, a request not found: an answer,
//     not a failure) must do so before it writes anything, and says so by
//     returning refuse(err). The others in the transaction go on; the caller
//     gets err.
//   - Any other error (or a panic) may come after a partial write: the whole
//     transaction is rolled back and run again without that function, which
//     alone gets the error (what bbolt's Batch does).
//
// So a function may run more than once and must be idempotent: it derives
// everything it reports from the transaction it is given, on every run.

// maxBatch bounds the functions in one transaction (bbolt's MaxBatchSize).
const maxBatch = 1000

// errClosed is what a write after Close gets.
var errClosed = errors.New("store: the store is closed")

type job struct {
	fn   func(tx *bolt.Tx) error
	done chan error // buffered: the committer never waits on a caller
}

// refusal wraps the error of a function that wrote nothing.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// refuse marks err as a refusal that wrote nothing: the rest of the
// transaction stands.
func refuse(err error) error { return refusal{err} }

// panicked carries a panic out of the committer to the writer whose function
// raised it, where it is raised again.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("store: panic in a transaction: %v", p.v) }

type committer struct {
	bolt    *bolt.DB
	mu      sync.RWMutex // held for reading while sending, for writing by close
	closed  bool
	jobs    chan *job
	stopped chan struct{}
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{bolt: db, jobs: make(chan *job, maxBatch), stopped: make(chan struct{})}
	go c.run()
	return c
}

// write runs fn in a write transaction shared with whatever other writes
// are queued, and returns once that transaction is committed (or fn's
// error).
func (d *DB) write(fn func(tx *bolt.Tx) error) error {
	err := d.submit(fn)
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	return err
}

// submit is write, a refusal still marked as one (change tells it apart).
func (d *DB) submit(fn func(tx *bolt.Tx) error) error {
	c := d.commit
	j := &job{fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.jobs <- j
	c.mu.RUnlock()
	err := <-j.done
	var p panicked
	if errors.As(err, &p) {
		panic(p.v)
	}
	return err
}

// close lets queued writes commit, then stops the committer.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.jobs)
	}
	c.mu.Unlock()
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	for first := range c.jobs {
		batch := []*job{first}
	more:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-c.jobs:
				if !ok {
					break more
				}
				batch = append(batch, j)
			default:
				break more
			}
		}
		c.commitBatch(batch)
	}
}

// commitBatch runs batch in one transaction; a function that fails is
// dropped and the rest run again in a new one.
func (c *committer) commitBatch(batch []*job) {
	for len(batch) > 0 {
		results := make([]error, len(batch))
		failed, failure := -1, error(nil)
		err := c.bolt.Update(func(tx *bolt.Tx) error {
			for i, j := range batch {
				err := call(j.fn, tx)
				var r refusal
				switch {
				case errors.As(err, &r):
					results[i] = r
				case err != nil:
					failed, failure = i, err
					return err
				default:
					results[i] = nil
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- failure
			batch = slices.Delete(batch, failed, failed+1)
			continue
		}
		for i, j := range batch {
			if err != nil {
				j.done <- err // the commit itself failed: nothing was written
			} else {
				j.done <- results[i]
			}
		}
		return
	}
}

// call runs fn, turning a panic into an error the writer re-raises.
func call(fn func(tx *bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(tx)
}

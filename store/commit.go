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
// Acks go first. A webhook waits for its inbox record (Receive) to be on
// disk before it answers the platform, and everything else (requests,
// audit, outbox, finished inbox items) can wait a commit longer. So the
// committer keeps two queues: when acks are queued they commit in a
// transaction of their own, a few small pages, instead of sharing one with
// the background's tens of pages; the next transaction takes the
// background's queue (and any acks that came meanwhile), so neither starves.
// An ack then waits at most for the commit already on disk and its own
// light one, where it used to wait for that one and a heavy one.
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
	bolt   *bolt.DB
	mu     sync.RWMutex // held for reading while sending, for writing by close
	closed bool
	// acks are the writes a webhook answers the platform after; jobs the
	// rest.
	acks, jobs chan *job
	stopped    chan struct{}
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{bolt: db, acks: make(chan *job, maxBatch), jobs: make(chan *job, maxBatch), stopped: make(chan struct{})}
	go c.run()
	return c
}

// write runs fn in a write transaction shared with whatever other writes
// are queued, and returns once that transaction is committed (or fn's
// error).
func (d *DB) write(fn func(tx *bolt.Tx) error) error {
	return unmarkRefusal(d.submit(fn))
}

// unmarkRefusal returns the error a refusal carries, and any other as is.
func unmarkRefusal(err error) error {
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	return err
}

// writeAck is write for what a webhook's answer waits on: it commits ahead
// of the background writes, in a transaction of acks only.
func (d *DB) writeAck(fn func(tx *bolt.Tx) error) error {
	return unmarkRefusal(d.enqueue(d.commit.acks, fn))
}

// submit is write, a refusal still marked as one (change tells it apart).
func (d *DB) submit(fn func(tx *bolt.Tx) error) error {
	return d.enqueue(d.commit.jobs, fn)
}

func (d *DB) enqueue(queue chan *job, fn func(tx *bolt.Tx) error) error {
	c := d.commit
	j := &job{fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	queue <- j
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
		close(c.acks)
		close(c.jobs)
	}
	c.mu.Unlock()
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	acks, jobs := c.acks, c.jobs
	var held []*job    // background jobs taken while acks went first
	acksAlone := false // the last transaction was acks only
	for {
		if len(held) == 0 {
			// Wait for the first write of either queue; both closed and
			// drained is the end.
			if acks == nil && jobs == nil {
				return
			}
			select {
			case j, ok := <-acks:
				if !ok {
					acks = nil
					continue
				}
				if acksAlone {
					held = append(held, j) // an ack still goes in the next commit
				} else {
					c.commitBatch(drain(acks, []*job{j}, &acks))
					acksAlone = true
					continue
				}
			case j, ok := <-jobs:
				if !ok {
					jobs = nil
					continue
				}
				held = append(held, j)
			}
		}
		if !acksAlone {
			if waiting := drain(acks, nil, &acks); len(waiting) > 0 {
				c.commitBatch(waiting)
				acksAlone = true
				continue
			}
		}
		batch := drain(acks, held, &acks)
		batch = drain(jobs, batch, &jobs)
		held = nil
		c.commitBatch(batch)
		acksAlone = false
	}
}

// drain appends to batch what queue holds now, without waiting, up to
// maxBatch; a closed queue is set to nil through closed.
func drain(queue chan *job, batch []*job, closed *chan *job) []*job {
	for queue != nil && len(batch) < maxBatch {
		select {
		case j, ok := <-queue:
			if !ok {
				*closed = nil
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
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

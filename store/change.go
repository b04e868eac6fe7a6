package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// change runs fn through the committer (commit.go), sharing a transaction
// and its fsyncs with whatever other writes are queued: the inbox's and the
// outbox's own writes (an item taken, finished or retried, a delivery
// enqueued, sent, postponed or dropped) come with every request a burst
// brings, and each committing alone would queue them behind one another on
// bbolt's single writer. As with every committer function, fn may run more
// than once and derives all it reports from the transaction it is given. A
// refusal (refuse: given before fn writes) is returned as it is, for
// people; any other error is wrapped with what the change was.
func (d *DB) change(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := d.submit(fn)
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

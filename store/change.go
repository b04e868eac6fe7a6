package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// change runs fn in one read-write transaction, for the writes that do not
// go through the committer. A refusal (refuse, as in the committer: given
// before fn writes) rolls the transaction back and is returned as it is, for
// people; any other error is wrapped with what the change was.
func (d *DB) change(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := d.bolt.Update(fn)
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

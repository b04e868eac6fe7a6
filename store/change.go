package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// change runs fn through the committer, sharing its commit with concurrent
// writers (the inbox's finishes and the dispatcher's deliveries come many
// at once under load). As for every committed function, fn may run more
// than once and must derive what it reports from the transaction it is
// given; a refusal (refuse, given before fn writes) leaves the rest of the
// batch standing and is returned as it is, for people; any other error is
// wrapped with what the change was.
func (d *DB) change(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := d.write(fn)
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

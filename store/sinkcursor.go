package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// prefixSinkCursor keys, in the meta bucket, the last audit seq each audit
// sink acknowledged (store/auditsink.Cursors): "audit_sink" 0 name -> be64.
// They live in meta, whose keys any version has, so they need no schema
// step and a read-only open of an older file reads them as 0.
var prefixSinkCursor = []byte("audit_sink\x00")

func sinkCursorKey(sink string) []byte { return join(prefixSinkCursor, []byte(sink)) }

// SinkCursor implements store/auditsink.Cursors: the last audit seq sink
// acknowledged, 0 when it never did.
func (d *DB) SinkCursor(ctx context.Context, sink string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var seq uint64
	err := d.bolt.View(func(tx *bolt.Tx) error {
		seq = counter(tx.Bucket(bucketMeta), sinkCursorKey(sink))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: audit sink %q cursor: %w", sink, err)
	}
	return seq, nil
}

// AdvanceSinkCursor implements store/auditsink.Cursors: it records that
// sink acknowledged every record up to seq. It moves forward only, so a
// late acknowledgement never makes a sink receive again what it has.
func (d *DB) AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if sink == "" {
		return errors.New("store: advance an audit sink cursor: the sink has no name")
	}
	err := d.write(func(tx *bolt.Tx) error {
		meta, k := tx.Bucket(bucketMeta), sinkCursorKey(sink)
		if counter(meta, k) >= seq {
			return nil
		}
		return meta.Put(k, be64(seq))
	})
	if err != nil {
		return fmt.Errorf("store: advance audit sink %q cursor to %d: %w", sink, seq, err)
	}
	return nil
}

package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// AddMessageRef remembers a chat message sent about a request.
func (d *DB) AddMessageRef(ctx context.Context, requestID flows.RequestID, ref flows.MessageRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error { return putMessageRef(tx, requestID, ref) })
}

// putMessageRef adds ref to the refs of a request (AddMessageRef, and
// Delivered in the transaction that removes the delivery).
func putMessageRef(tx *bolt.Tx, requestID flows.RequestID, ref flows.MessageRef) error {
	raw, err := json.Marshal(record.MessageRef(ref))
	if err != nil {
		return fmt.Errorf("store: encode message ref: %w", err)
	}
	b := tx.Bucket(bucketMsgRefs)
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(join([]byte(requestID), sep, be64(n)), raw)
}

// MessageRefs returns the chat messages sent about a request, oldest first.
func (d *DB) MessageRefs(ctx context.Context, requestID flows.RequestID) ([]flows.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []flows.MessageRef
	prefix := join([]byte(requestID), sep)
	err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMsgRefs).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var rec record.MessageRef
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: decode message ref: %w", err)
			}
			out = append(out, flows.MessageRef(rec))
		}
		return nil
	})
	return out, err
}

// PutContact stores a chat platform's reference to a person (a Teams
// conversation reference), so proactive messages survive restarts.
func (d *DB) PutContact(ctx context.Context, platform, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContacts).Put(join([]byte(platform), sep, []byte(key)), data)
	})
}

// Contact returns what PutContact stored, or ENOTFOUND.
func (d *DB) Contact(ctx context.Context, platform, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := d.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketContacts).Get(join([]byte(platform), sep, []byte(key))); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err == nil && out == nil {
		return nil, flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)
	}
	return out, err
}

// DeleteContact removes what PutContact stored for key, and appends evs to the audit log in
// the same transaction (the admin who had it removed, say). With nothing stored it returns
// ENOTFOUND and records nothing.
func (d *DB) DeleteContact(ctx context.Context, platform, key string, evs ...flows.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := join([]byte(platform), sep, []byte(key))
	found := false
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		if b.Get(k) == nil {
			return nil
		}
		found = true
		if err := b.Delete(k); err != nil {
			return err
		}
		return appendAudit(tx, evs...)
	})
	if err == nil && !found {
		return flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)
	}
	return err
}

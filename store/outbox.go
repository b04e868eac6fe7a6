package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

var (
	_ flows.Outbox      = (*DB)(nil)
	_ flows.AuditReader = (*DB)(nil)
)

// The outbox (flows.Outbox) is one record per delivery in bucketOutbox, by
// its big-endian id (the bucket's own sequence: increasing, never reused,
// kept across restarts), and three indexes:
//
//   - idx_outbox_conv (conversation, id): a conversation's deliveries in
//     order, so Pending reads a conversation without a scan;
//   - idx_outbox_coalesce (conversation, coalesce) -> id: the waiting
//     delivery a new one with the same Coalesce updates;
//   - idx_outbox_created (created_at, id): the oldest for OutboxDepth.
//
// The number of waiting deliveries and the dispatcher's audit cursor are
// kept in bucketMeta (keyOutboxWaiting, keyOutboxCursor).

func outboxConvPrefix(conv string) []byte { return join([]byte(conv), sep) }
func outboxConvKey(rec record.Delivery) []byte {
	return join(outboxConvPrefix(rec.Conversation), be64(rec.ID))
}
func outboxCoalesceKey(rec record.Delivery) []byte {
	return join([]byte(rec.Conversation), sep, []byte(rec.Coalesce))
}
func outboxCreatedKey(rec record.Delivery) []byte { return join(atKey(rec.CreatedAt), be64(rec.ID)) }

// getDelivery reads delivery id; found is false when there is none.
func getDelivery(tx *bolt.Tx, id uint64) (rec record.Delivery, found bool, err error) {
	found, err = getJSON(tx.Bucket(bucketOutbox), be64(id), &rec)
	if err != nil {
		err = fmt.Errorf("decode delivery %d: %w", id, err)
	}
	return rec, found, err
}

// Enqueue implements flows.Outbox: the deliveries, their indexes, the
// waiting count and the cursor are one transaction. A cursor that does not
// move forward is refused with ECONFLICT and nothing is written: the
// events up to it were expanded already (by this dispatcher, or by one that
// lost its leadership since), and expanding them again would send their
// messages twice.
func (d *DB) Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDeliveries("enqueue", ds); err != nil {
		return nil, err
	}
	var out []flows.Delivery
	err := d.change(ctx, "enqueue", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if cur := counter(meta, keyOutboxCursor); cursor != 0 && cursor <= cur {
			return refuse(flows.Errorf(flows.ECONFLICT, "the outbox cursor is at %d already, not before %d", cur, cursor))
		}
		var err error
		if out, err = enqueueTx(tx, ds); err != nil {
			return err
		}
		if cursor == 0 {
			return nil
		}
		return meta.Put(keyOutboxCursor, be64(cursor))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkDeliveries refuses deliveries that could never be sent.
func checkDeliveries(what string, ds []flows.Delivery) error {
	for _, dl := range ds {
		if dl.Conversation == "" {
			return fmt.Errorf("store: %s: a delivery needs a conversation", what)
		}
	}
	return nil
}

// enqueueTx adds deliveries (or coalesces them into waiting ones) in tx and
// returns them as stored.
func enqueueTx(tx *bolt.Tx, ds []flows.Delivery) ([]flows.Delivery, error) {
	meta := tx.Bucket(bucketMeta)
	b, coalesce := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxCoalesce)
	var out []flows.Delivery
	for _, dl := range ds {
		rec := record.NewDelivery(dl)
		if rec.Coalesce != "" {
			if id := coalesce.Get(outboxCoalesceKey(rec)); len(id) == 8 {
				updated, err := coalesceInto(tx, binary.BigEndian.Uint64(id), rec)
				if err != nil {
					return nil, err
				}
				out = append(out, updated.Delivery())
				continue
			}
		}
		id, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		rec.ID = id
		if err := putJSON(b, be64(id), rec); err != nil {
			return nil, err
		}
		if err := indexDelivery(tx, rec); err != nil {
			return nil, err
		}
		if err := bump(meta, keyOutboxWaiting, 1); err != nil {
			return nil, err
		}
		d := rec.Delivery()
		d.Payload = bytes.Clone(d.Payload) // not the caller's own buffer
		out = append(out, d)
	}
	return out, nil
}

// coalesceInto updates waiting delivery id with what a newer delivery of
// the same conversation and Coalesce says: the event it tells of, its
// payload and what it is. Its place in the conversation stays.
func coalesceInto(tx *bolt.Tx, id uint64, newer record.Delivery) (record.Delivery, error) {
	rec, found, err := getDelivery(tx, id)
	if err != nil || !found {
		return rec, cmp.Or(err, fmt.Errorf("the coalesce index names delivery %d, which is not stored", id))
	}
	rec.EventSeq, rec.Payload, rec.What = newer.EventSeq, newer.Payload, newer.What
	return rec, putJSON(tx.Bucket(bucketOutbox), be64(id), rec)
}

func indexDelivery(tx *bolt.Tx, rec record.Delivery) error {
	if err := tx.Bucket(bucketOutboxConv).Put(outboxConvKey(rec), nil); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutboxCreated).Put(outboxCreatedKey(rec), nil); err != nil {
		return err
	}
	if rec.Coalesce == "" {
		return nil
	}
	return tx.Bucket(bucketOutboxCoalesce).Put(outboxCoalesceKey(rec), be64(rec.ID))
}

// removeDelivery deletes delivery id with its index entries; found is
// false when there is none.
func removeDelivery(tx *bolt.Tx, id uint64) (rec record.Delivery, found bool, err error) {
	rec, found, err = getDelivery(tx, id)
	if err != nil || !found {
		return rec, found, err
	}
	if err := tx.Bucket(bucketOutbox).Delete(be64(id)); err != nil {
		return rec, found, err
	}
	if err := tx.Bucket(bucketOutboxConv).Delete(outboxConvKey(rec)); err != nil {
		return rec, found, err
	}
	if err := tx.Bucket(bucketOutboxCreated).Delete(outboxCreatedKey(rec)); err != nil {
		return rec, found, err
	}
	if rec.Coalesce != "" {
		co := tx.Bucket(bucketOutboxCoalesce)
		if k := outboxCoalesceKey(rec); bytes.Equal(co.Get(k), be64(id)) {
			if err := co.Delete(k); err != nil {
				return rec, found, err
			}
		}
	}
	return rec, found, bump(tx.Bucket(bucketMeta), keyOutboxWaiting, -1)
}

// Cursor implements flows.Outbox.
func (d *DB) Cursor(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var cur uint64
	err := d.bolt.View(func(tx *bolt.Tx) error {
		cur = counter(tx.Bucket(bucketMeta), keyOutboxCursor)
		return nil
	})
	return cur, err
}

// Pending implements flows.Outbox. It walks the deliveries in id order;
// the first one of a conversation not seen yet brings that conversation's
// deliveries, read in order from the conversation index. A delivery of a
// conversation already returned is passed over, and each was returned
// before the walk reached it, so the cost is at most twice the deliveries
// returned. A store opened read-only at an earlier version has no outbox:
// nothing is pending.
func (d *DB) Pending(ctx context.Context, limit int) ([]flows.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = math.MaxInt
	}
	var out []flows.Delivery
	err := d.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		seen := map[string]bool{}
		convs := tx.Bucket(bucketOutboxConv).Cursor()
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var head record.Delivery
			if err := json.Unmarshal(v, &head); err != nil {
				return fmt.Errorf("decode delivery %x: %w", k, err)
			}
			if seen[head.Conversation] {
				continue
			}
			seen[head.Conversation] = true
			prefix := outboxConvPrefix(head.Conversation)
			for ck, _ := convs.Seek(prefix); ck != nil && len(ck) == len(prefix)+8 && bytes.HasPrefix(ck, prefix) && len(out) < limit; ck, _ = convs.Next() {
				rec, found, err := getDelivery(tx, binary.BigEndian.Uint64(ck[len(prefix):]))
				if err != nil || !found {
					return cmp.Or(err, fmt.Errorf("the conversation index names delivery %x, which is not stored", ck[len(prefix):]))
				}
				out = append(out, rec.Delivery())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending deliveries: %w", err)
	}
	return out, nil
}

// Held implements flows.Outbox by a walk of the outbox: one replica owns
// a bbolt store and leads it for good, so its dispatcher sends every
// delivery and nothing asks for this but the conformance suite and a store
// copied from etcd.
func (d *DB) Held(ctx context.Context, holder string, limit int) ([]flows.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if holder == "" || limit <= 0 {
		return nil, nil
	}
	var out []flows.Delivery
	err := d.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec record.Delivery
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode delivery %x: %w", k, err)
			}
			if rec.Holder == holder && len(out) < limit {
				out = append(out, rec.Delivery())
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: held deliveries: %w", err)
	}
	return out, nil
}

// Waiting implements flows.Outbox.
func (d *DB) Waiting(ctx context.Context, id uint64) (flows.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return flows.Delivery{}, err
	}
	var out flows.Delivery
	err := d.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOutbox) == nil {
			return flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
		}
		rec, found, err := getDelivery(tx, id)
		switch {
		case err != nil:
			return err
		case !found:
			return flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
		}
		out = rec.Delivery()
		return nil
	})
	if err != nil {
		return flows.Delivery{}, fmt.Errorf("store: waiting delivery: %w", err)
	}
	return out, nil
}

// Delivered implements flows.Outbox: the delivery goes, and the message it
// created joins its request's message refs (the bucket AddMessageRef
// writes), in one transaction. A delivery about no request has nowhere to
// remember its message: its ref is not kept.
func (d *DB) Delivered(ctx context.Context, id uint64, ref *flows.MessageRef) error {
	return d.change(ctx, fmt.Sprintf("delivered %d", id), func(tx *bolt.Tx) error {
		rec, found, err := removeDelivery(tx, id)
		switch {
		case err != nil:
			return err
		case !found:
			return refuse(flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id))
		case ref == nil || rec.RequestID == "":
			return nil
		}
		return putMessageRef(tx, flows.RequestID(rec.RequestID), *ref)
	})
}

// Postpone implements flows.Outbox.
func (d *DB) Postpone(ctx context.Context, id uint64, notBefore time.Time) error {
	return d.change(ctx, fmt.Sprintf("postpone delivery %d", id), func(tx *bolt.Tx) error {
		return updateDelivery(tx, id, func(rec *record.Delivery) {
			rec.Attempts++
			rec.NotBefore = notBefore
		})
	})
}

// updateDelivery rewrites waiting delivery id as update leaves it
// (ENOTFOUND, refused, when there is none).
func updateDelivery(tx *bolt.Tx, id uint64, update func(rec *record.Delivery)) error {
	rec, found, err := getDelivery(tx, id)
	switch {
	case err != nil:
		return err
	case !found:
		return refuse(flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id))
	}
	update(&rec)
	return putJSON(tx.Bucket(bucketOutbox), be64(id), rec)
}

// Sending implements flows.Outbox: the mark is kept in the delivery's
// record, which Delivered and Drop remove.
func (d *DB) Sending(ctx context.Context, id uint64, mark flows.SendMark) (*flows.SendMark, error) {
	var prev *flows.SendMark
	err := d.change(ctx, fmt.Sprintf("mark delivery %d as sending", id), func(tx *bolt.Tx) error {
		return updateDelivery(tx, id, func(rec *record.Delivery) { prev, rec.Mark = rec.Mark, &mark })
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// Drop implements flows.Outbox. The events join the one audit chain
// (appendAudit) in the transaction that removes the delivery; an unknown
// delivery is ENOTFOUND and records nothing.
func (d *DB) Drop(ctx context.Context, id uint64, evs ...flows.Event) error {
	return d.change(ctx, fmt.Sprintf("drop delivery %d", id), func(tx *bolt.Tx) error {
		_, found, err := removeDelivery(tx, id)
		switch {
		case err != nil:
			return err
		case !found:
			return refuse(flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id))
		}
		return appendAudit(tx, evs...)
	})
}

// OutboxDepth implements flows.Outbox: the count is a counter, the oldest
// delivery the first entry of the created index.
func (d *DB) OutboxDepth(ctx context.Context) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	var n int
	var oldest time.Time
	err := d.bolt.View(func(tx *bolt.Tx) error {
		created := tx.Bucket(bucketOutboxCreated)
		if created == nil {
			return nil
		}
		n = int(counter(tx.Bucket(bucketMeta), keyOutboxWaiting))
		k, _ := created.Cursor().First()
		if k == nil {
			return nil
		}
		rec, found, err := getDelivery(tx, binary.BigEndian.Uint64(k[8:]))
		if err != nil || !found {
			return cmp.Or(err, fmt.Errorf("the created index names delivery %x, which is not stored", k[8:]))
		}
		oldest = rec.CreatedAt
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox depth: %w", err)
	}
	return n, oldest, nil
}

// AuditAfter implements flows.AuditReader: a Seek to the big-endian key
// after seq, then up to limit records (every one when limit <= 0), so it
// costs what it returns whatever the log's length.
func (d *DB) AuditAfter(ctx context.Context, seq uint64, limit int) ([]flows.AuditRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if seq == math.MaxUint64 {
		return nil, nil
	}
	if limit <= 0 {
		limit = math.MaxInt
	}
	var out []flows.AuditRecord
	err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(be64(seq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var rec record.Audit
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode audit record %x: %w", k, err)
			}
			out = append(out, rec.AuditRecord())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit after %d: %w", seq, err)
	}
	return out, nil
}

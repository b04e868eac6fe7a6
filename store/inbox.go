package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

var _ flows.Inbox = (*DB)(nil)

// The inbox (flows.Inbox) is one record per item in bucketInbox, by key,
// and three time indexes that make every operation cost what it returns:
//
//   - idx_inbox_next (next_at, seq): the unfinished items by when they may
//     be taken, so TakeInbox reads the due ones from the front, oldest
//     first, and nothing else;
//   - idx_inbox_recv (received_at, seq): the unfinished items by arrival,
//     so InboxDepth reads the oldest one from the front;
//   - idx_inbox_done (finished_at, key): the tombstones, so PurgeInbox
//     reads only what it removes.
//
// The number of unfinished items is a counter in bucketMeta (keyInboxOpen)
// kept by every write, so the depth gauge costs no scan.

// Receive implements flows.Inbox. It commits through the committer's ack
// queue (commit.go), so concurrent receivers (webhooks waiting to ack)
// share one light commit and its fsyncs, ahead of the background writes, and
// a lone one commits at once. The committer may
// run the function more than once (when another function of the batch
// fails, the transaction is rolled back and the rest run again): first is
// therefore decided afresh from the transaction on every run, never carried
// over from a run that was rolled back.
func (d *DB) Receive(ctx context.Context, item flows.InboxItem) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if item.Key == "" {
		return false, errors.New("store: receive: an inbox item needs a key")
	}
	if item.NextAt.IsZero() {
		item.NextAt = item.ReceivedAt
	}
	first := false
	err := d.writeAck(func(tx *bolt.Tx) error {
		first = false
		b := tx.Bucket(bucketInbox)
		old, found, err := getInbox(tx, item.Key)
		switch {
		case err != nil:
			return err
		case found && old.Dropped:
			// Its receiver refused it and dropped it once committed: this
			// delivery is taken as new.
			if err := tx.Bucket(bucketInboxDone).Delete(inboxDoneKey(old)); err != nil {
				return err
			}
		case found && old.FinishedAt.IsZero() && !old.Redelivered:
			// Received before (perhaps earlier in this very batch) and
			// acknowledged again now: it must be acted on.
			old.Redelivered = true
			return putJSON(b, []byte(item.Key), old)
		case found:
			return nil // received before
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec := record.NewInbox(item, seq)
		if err := putJSON(b, []byte(item.Key), rec); err != nil {
			return err
		}
		if err := indexOpenItem(tx, rec); err != nil {
			return err
		}
		if err := bump(tx.Bucket(bucketMeta), keyInboxOpen, 1); err != nil {
			return err
		}
		first = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: receive %q: %w", item.Key, err)
	}
	return first, nil
}

func inboxNextKey(rec record.Inbox) []byte { return join(atKey(rec.NextAt), be64(rec.Seq)) }
func inboxRecvKey(rec record.Inbox) []byte { return join(atKey(rec.ReceivedAt), be64(rec.Seq)) }
func inboxDoneKey(rec record.Inbox) []byte {
	return join(atKey(rec.FinishedAt), []byte(rec.Key))
}

// indexOpenItem adds an unfinished item to the next and received indexes.
func indexOpenItem(tx *bolt.Tx, rec record.Inbox) error {
	if err := tx.Bucket(bucketInboxNext).Put(inboxNextKey(rec), []byte(rec.Key)); err != nil {
		return err
	}
	return tx.Bucket(bucketInboxRecv).Put(inboxRecvKey(rec), []byte(rec.Key))
}

// getInbox reads the item stored under key; found is false when there is
// none.
func getInbox(tx *bolt.Tx, key string) (rec record.Inbox, found bool, err error) {
	found, err = getJSON(tx.Bucket(bucketInbox), []byte(key), &rec)
	if err != nil {
		err = fmt.Errorf("decode inbox item %q: %w", key, err)
	}
	return rec, found, err
}

// TakeInbox implements flows.Inbox. One write transaction leases every item
// it returns, so two takers (bbolt has one writer at a time) never get the
// same item. It reads the next index from its front up to now: the cost is
// that of the items taken, whatever the inbox holds.
func (d *DB) TakeInbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]flows.InboxItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []flows.InboxItem
	upto := atKey(now)
	// Through the committer, so a take shares its commit with the writes
	// queued with it; the function may run more than once, so it starts
	// afresh each time.
	err := d.write(func(tx *bolt.Tx) error {
		out = nil
		next := tx.Bucket(bucketInboxNext)
		// Collect first: the leased items go back into the index being
		// walked (later, at now+lease), and a cursor must not see its
		// bucket change under it.
		type due struct{ idx, key []byte }
		var items []due
		c := next.Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], upto) <= 0; k, v = c.Next() {
			if limit > 0 && len(items) == limit {
				break
			}
			items = append(items, due{bytes.Clone(k), bytes.Clone(v)})
		}
		b := tx.Bucket(bucketInbox)
		for _, it := range items {
			rec, found, err := getInbox(tx, string(it.key))
			if err != nil {
				return err
			}
			if err := next.Delete(it.idx); err != nil {
				return err
			}
			if !found || !rec.FinishedAt.IsZero() || !bytes.Equal(inboxNextKey(rec), it.idx) {
				continue // a stale entry (none is ever left behind): dropped, not taken
			}
			if err := leaseItem(next, b, it.key, &rec, now, lease); err != nil {
				return err
			}
			out = append(out, rec.Item())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take inbox: %w", err)
	}
	return out, nil
}

// leaseItem leases rec, stored under key and out of the next index, until
// now+lease: it goes back into the index (next) at its new time.
func leaseItem(next, items *bolt.Bucket, key []byte, rec *record.Inbox, now time.Time, lease time.Duration) error {
	rec.Attempts++
	rec.NextAt = now.Add(lease)
	if err := next.Put(inboxNextKey(*rec), key); err != nil {
		return err
	}
	return putJSON(items, key, *rec)
}

// TakeInboxKeys implements flows.Inbox, in one write transaction through
// the committer, as TakeInbox.
func (d *DB) TakeInboxKeys(ctx context.Context, now time.Time, lease time.Duration, keys ...string) ([]flows.InboxItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var out []flows.InboxItem
	err := d.write(func(tx *bolt.Tx) error {
		out = nil
		next, b := tx.Bucket(bucketInboxNext), tx.Bucket(bucketInbox)
		for _, key := range keys {
			rec, found, err := getInbox(tx, key)
			if err != nil {
				return err
			}
			if !found || !rec.FinishedAt.IsZero() || rec.NextAt.After(now) {
				continue
			}
			if err := next.Delete(inboxNextKey(rec)); err != nil {
				return err
			}
			if err := leaseItem(next, b, []byte(key), &rec, now, lease); err != nil {
				return err
			}
			out = append(out, rec.Item())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take inbox items by key: %w", err)
	}
	return out, nil
}

// FinishInbox implements flows.Inbox. The record stays as a tombstone (its
// payload, with any response_url, dropped: nothing will act on it again) so
// that a redelivery is still recognised; finishing an item twice keeps the
// first finish time and enqueues no answer the second time. The answers
// join the outbox in the same transaction.
func (d *DB) FinishInbox(ctx context.Context, key string, at time.Time, answers ...flows.Delivery) ([]flows.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if at.IsZero() {
		return nil, fmt.Errorf("store: finish inbox item %q: no finish time", key)
	}
	if err := checkDeliveries("finish inbox item "+key, answers); err != nil {
		return nil, err
	}
	var out []flows.Delivery
	err := d.change(ctx, fmt.Sprintf("finish inbox item %q", key), func(tx *bolt.Tx) error {
		out = nil
		rec, found, err := getInbox(tx, key)
		switch {
		case err != nil:
			return err
		case !found:
			return refuse(flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key))
		case !rec.FinishedAt.IsZero():
			return nil
		}
		if err := unindexOpenItem(tx, rec); err != nil {
			return err
		}
		rec.FinishedAt, rec.Payload = at, nil
		if err := tx.Bucket(bucketInboxDone).Put(inboxDoneKey(rec), nil); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketInbox), []byte(key), rec); err != nil {
			return err
		}
		if err := bump(tx.Bucket(bucketMeta), keyInboxOpen, -1); err != nil {
			return err
		}
		out, err = enqueueTx(tx, answers)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DropInbox implements flows.Inbox: as FinishInbox without answers,
// unless the item was redelivered since it was received.
func (d *DB) DropInbox(ctx context.Context, key string, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if at.IsZero() {
		return false, fmt.Errorf("store: drop inbox item %q: no finish time", key)
	}
	dropped := false
	err := d.change(ctx, fmt.Sprintf("drop inbox item %q", key), func(tx *bolt.Tx) error {
		dropped = false
		rec, found, err := getInbox(tx, key)
		switch {
		case err != nil:
			return err
		case !found:
			return refuse(flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key))
		case !rec.FinishedAt.IsZero() || rec.Redelivered:
			return nil
		}
		if err := unindexOpenItem(tx, rec); err != nil {
			return err
		}
		rec.FinishedAt, rec.Payload, rec.Dropped = at, nil, true
		if err := tx.Bucket(bucketInboxDone).Put(inboxDoneKey(rec), nil); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketInbox), []byte(key), rec); err != nil {
			return err
		}
		dropped = true
		return bump(tx.Bucket(bucketMeta), keyInboxOpen, -1)
	})
	return dropped, err
}

func unindexOpenItem(tx *bolt.Tx, rec record.Inbox) error {
	if err := tx.Bucket(bucketInboxNext).Delete(inboxNextKey(rec)); err != nil {
		return err
	}
	return tx.Bucket(bucketInboxRecv).Delete(inboxRecvKey(rec))
}

// RetryInbox implements flows.Inbox. An unknown key is ENOTFOUND; a
// finished item is ECONFLICT (it is done and must not run again).
func (d *DB) RetryInbox(ctx context.Context, key string, next time.Time) error {
	return d.change(ctx, fmt.Sprintf("retry inbox item %q", key), func(tx *bolt.Tx) error {
		rec, found, err := getInbox(tx, key)
		switch {
		case err != nil:
			return err
		case !found:
			return refuse(flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key))
		case !rec.FinishedAt.IsZero():
			return refuse(flows.Errorf(flows.ECONFLICT, "inbox item %s is finished", key))
		}
		idx := tx.Bucket(bucketInboxNext)
		if err := idx.Delete(inboxNextKey(rec)); err != nil {
			return err
		}
		rec.NextAt = next
		if err := idx.Put(inboxNextKey(rec), []byte(key)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketInbox), []byte(key), rec)
	})
}

// ExtendInbox implements flows.Inbox, in one transaction.
func (d *DB) ExtendInbox(ctx context.Context, until time.Time, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return d.change(ctx, fmt.Sprintf("extend %d inbox leases", len(keys)), func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketInboxNext)
		for _, key := range keys {
			rec, found, err := getInbox(tx, key)
			if err != nil {
				return err
			}
			if !found || !rec.FinishedAt.IsZero() || !until.After(rec.NextAt) {
				continue
			}
			if err := idx.Delete(inboxNextKey(rec)); err != nil {
				return err
			}
			rec.NextAt = until
			if err := idx.Put(inboxNextKey(rec), []byte(key)); err != nil {
				return err
			}
			if err := putJSON(tx.Bucket(bucketInbox), []byte(key), rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeInbox implements flows.Inbox. It reads the tombstones' index from
// its front up to t, so it costs what it removes.
func (d *DB) PurgeInbox(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	upto := atKey(t)
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		n = 0
		b, done := tx.Bucket(bucketInbox), tx.Bucket(bucketInboxDone)
		c := done.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], upto) <= 0; k, _ = c.First() {
			key := string(k[8:])
			rec, found, err := getInbox(tx, key)
			if err != nil {
				return err
			}
			// Only the tombstone this entry was written for: an item
			// finished, purged, received and finished again has an entry
			// of its own.
			mine := found && !rec.FinishedAt.IsZero() && bytes.Equal(inboxDoneKey(rec), k)
			if err := done.Delete(k); err != nil {
				return err
			}
			if mine {
				if err := b.Delete([]byte(key)); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge inbox: %w", err)
	}
	return n, nil
}

// InboxDepth implements flows.Inbox: the count is a counter, the oldest
// item the first entry of the received index. A store opened read-only at
// an earlier version has no inbox: it is empty.
func (d *DB) InboxDepth(ctx context.Context) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	var n int
	var oldest time.Time
	err := d.bolt.View(func(tx *bolt.Tx) error {
		recv := tx.Bucket(bucketInboxRecv)
		if recv == nil {
			return nil
		}
		n = int(counter(tx.Bucket(bucketMeta), keyInboxOpen))
		_, key := recv.Cursor().First()
		if key == nil {
			return nil
		}
		rec, found, err := getInbox(tx, string(key))
		if err != nil || !found {
			return cmp.Or(err, fmt.Errorf("inbox index names %q, which is not stored", key))
		}
		oldest = rec.ReceivedAt
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: inbox depth: %w", err)
	}
	return n, oldest, nil
}

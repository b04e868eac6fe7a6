package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schema version 3: the side-effect path (flows.Inbox, flows.Outbox). Keys
// are big-endian so that a cursor walks each time index in time order and
// reads only what it returns.
var (
	bucketInbox     = []byte("inbox")          // key -> record.Inbox
	bucketInboxNext = []byte("idx_inbox_next") // next_at seq -> key, unfinished items: what TakeInbox reads
	bucketInboxRecv = []byte("idx_inbox_recv") // received_at seq -> key, unfinished items: the oldest for InboxDepth
	bucketInboxDone = []byte("idx_inbox_done") // finished_at key -> nil, tombstones: what PurgeInbox reads

	bucketOutbox         = []byte("outbox")              // id -> record.Delivery; the bucket's sequence numbers deliveries
	bucketOutboxConv     = []byte("idx_outbox_conv")     // conversation 0 id -> nil: a conversation's deliveries in order
	bucketOutboxCoalesce = []byte("idx_outbox_coalesce") // conversation 0 coalesce -> id, while that delivery waits
	bucketOutboxCreated  = []byte("idx_outbox_created")  // created_at id -> nil: the oldest for OutboxDepth

	// Counters in bucketMeta, so that the depth gauges cost no scan.
	keyInboxOpen     = []byte("inbox_open")     // items received and not finished
	keyOutboxWaiting = []byte("outbox_waiting") // deliveries enqueued and not delivered or dropped
	keyOutboxCursor  = []byte("outbox_cursor")  // the audit seq the dispatcher expanded last
)

// v3Buckets are the buckets version 3 added.
func v3Buckets() [][]byte {
	return [][]byte{
		bucketInbox, bucketInboxNext, bucketInboxRecv, bucketInboxDone,
		bucketOutbox, bucketOutboxConv, bucketOutboxCoalesce, bucketOutboxCreated,
	}
}

// addSideEffects (version 3) adds the inbox and the outbox, empty, with
// their counters and the dispatcher's cursor at zero: every audit record
// written before is history the dispatcher must not announce again, so
// the cursor starts at the log's head.
func addSideEffects(tx *bolt.Tx) error {
	for _, name := range v3Buckets() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	for _, k := range [][]byte{keyInboxOpen, keyOutboxWaiting} {
		if err := meta.Put(k, be64(0)); err != nil {
			return err
		}
	}
	return meta.Put(keyOutboxCursor, be64(tx.Bucket(bucketAudit).Sequence()))
}

// atKey is t as a big-endian key that sorts in time order. Times outside
// what nanoseconds since 1970 can hold in an int64 (the zero time, say) are
// clamped to its ends rather than wrapped around.
func atKey(t time.Time) []byte {
	switch {
	case t.Before(time.Unix(0, 0)):
		return be64(0)
	case t.After(time.Unix(0, math.MaxInt64)):
		return be64(math.MaxInt64)
	}
	return be64(uint64(t.UnixNano()))
}

// counter reads a uint64 kept in b under k (0 when absent).
func counter(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// bump adds delta to the counter kept in b under k, never below zero.
func bump(b *bolt.Bucket, k []byte, delta int) error {
	n := int64(counter(b, k)) + int64(delta)
	return b.Put(k, be64(uint64(max(n, 0))))
}

// getJSON decodes the record stored in b under k into v; found is false
// when there is none.
func getJSON(b *bolt.Bucket, k []byte, v any) (found bool, err error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// putJSON encodes v and stores it in b under k.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

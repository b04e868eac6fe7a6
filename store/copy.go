package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// Export calls fn with every piece of the store's state, kind by kind in
// record.Kinds' order, from one read transaction (`jitbot store copy`; see
// record.Piece). Indexes and counts are left out: they follow from the
// records. Counters at zero are left out too, so an empty store exports
// nothing.
func (d *DB) Export(ctx context.Context, fn func(record.Piece) error) error {
	return d.bolt.View(func(tx *bolt.Tx) error {
		n := 0
		each := func(bucket []byte, f func(k, v []byte) error) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil // a file of a version before the bucket
			}
			return b.ForEach(func(k, v []byte) error {
				if n++; n%4096 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				return f(k, v)
			})
		}
		emit := func(e record.Piece) error {
			e.Value = bytes.Clone(e.Value) // bbolt's memory is the transaction's
			return fn(e)
		}
		if err := each(bucketRequests, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindRequest, Key: string(k), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketIdem, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindIdempotency, Key: string(k), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketAudit, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindAudit, Seq: binary.BigEndian.Uint64(k), Value: v})
		}); err != nil {
			return err
		}
		// request id 0 seq: a request's refs, oldest first.
		if err := each(bucketMsgRefs, func(k, v []byte) error {
			id, _, ok := bytes.Cut(k, sep)
			if !ok {
				return fmt.Errorf("store: message ref key %q", k)
			}
			return emit(record.Piece{Kind: record.KindMessageRef, Key: string(id), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketContacts, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindContact, Key: string(k), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketInbox, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindInbox, Key: string(k), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketOutbox, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindDelivery, Seq: binary.BigEndian.Uint64(k), Value: v})
		}); err != nil {
			return err
		}
		if err := each(bucketOutboxCoalesce, func(k, v []byte) error {
			return emit(record.Piece{Kind: record.KindCoalesce, Key: string(k), Seq: binary.BigEndian.Uint64(v)})
		}); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if b := tx.Bucket(bucketOutbox); b != nil && b.Sequence() > 0 {
			if err := emit(record.Piece{Kind: record.KindOutboxSeq, Seq: b.Sequence()}); err != nil {
				return err
			}
		}
		if cur := counter(meta, keyOutboxCursor); cur > 0 {
			if err := emit(record.Piece{Kind: record.KindOutboxCursor, Seq: cur}); err != nil {
				return err
			}
		}
		c := meta.Cursor()
		for k, v := c.Seek(prefixSignIn); k != nil && bytes.HasPrefix(k, prefixSignIn); k, v = c.Next() {
			if err := emit(record.Piece{Kind: record.KindSignIn, Key: string(k[len(prefixSignIn):]), Value: v}); err != nil {
				return err
			}
		}
		for k, v := c.Seek(prefixSinkCursor); k != nil && bytes.HasPrefix(k, prefixSinkCursor); k, v = c.Next() {
			if len(v) != 8 {
				return fmt.Errorf("store: audit sink cursor %q: %d bytes", k, len(v))
			}
			if err := emit(record.Piece{Kind: record.KindSinkCursor, Key: string(k[len(prefixSinkCursor):]), Seq: binary.BigEndian.Uint64(v)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// importBatch is how many entries one transaction of Import writes: a
// large store is imported in many, each fsync'd once.
const importBatch = 10000

// Import writes entries (another store's Export) into this store, with
// the indexes, counts and sequences they imply; the audit head is the
// last record's hash. It is for an empty store nobody else writes to
// (`jitbot store copy` checks both); what it writes is verified by the
// caller against the source.
func (d *DB) Import(ctx context.Context, entries iter.Seq[record.Piece]) error {
	var batch []record.Piece
	var st importState
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := d.bolt.Update(func(tx *bolt.Tx) error {
			for _, e := range batch {
				if err := st.put(tx, e); err != nil {
					return fmt.Errorf("store: import %s %q %d: %w", e.Kind, e.Key, e.Seq, err)
				}
			}
			return st.finish(tx)
		})
		batch = batch[:0]
		return err
	}
	for e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = append(batch, e)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// importState is what Import carries from one transaction to the next.
type importState struct {
	head     string // the last audit record's hash
	auditSeq uint64
	inboxSeq uint64
}

func (st *importState) put(tx *bolt.Tx, e record.Piece) error {
	meta := tx.Bucket(bucketMeta)
	switch e.Kind {
	case record.KindRequest:
		r, err := record.DecodeRequest(e.Value)
		if err != nil {
			return err
		}
		if string(r.ID) != e.Key {
			return fmt.Errorf("the record is request %q", r.ID)
		}
		if err := tx.Bucket(bucketRequests).Put([]byte(e.Key), e.Value); err != nil {
			return err
		}
		return reindex(tx, nil, r)
	case record.KindIdempotency:
		return tx.Bucket(bucketIdem).Put([]byte(e.Key), e.Value)
	case record.KindAudit:
		var rec record.Audit
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAudit).Put(be64(e.Seq), e.Value); err != nil {
			return err
		}
		if e.Seq > st.auditSeq {
			st.auditSeq, st.head = e.Seq, rec.Hash
		}
		return nil
	case record.KindMessageRef:
		var ref record.MessageRef
		if err := json.Unmarshal(e.Value, &ref); err != nil {
			return err
		}
		return putMessageRef(tx, flows.RequestID(e.Key), flows.MessageRef(ref))
	case record.KindContact:
		return tx.Bucket(bucketContacts).Put([]byte(e.Key), e.Value)
	case record.KindInbox:
		var rec record.Inbox
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketInbox).Put([]byte(e.Key), e.Value); err != nil {
			return err
		}
		st.inboxSeq = max(st.inboxSeq, rec.Seq)
		if !rec.FinishedAt.IsZero() {
			return tx.Bucket(bucketInboxDone).Put(inboxDoneKey(rec), nil)
		}
		if err := indexOpenItem(tx, rec); err != nil {
			return err
		}
		return bump(meta, keyInboxOpen, 1)
	case record.KindDelivery:
		var rec record.Delivery
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutbox).Put(be64(e.Seq), e.Value); err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutboxConv).Put(outboxConvKey(rec), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutboxCreated).Put(outboxCreatedKey(rec), nil); err != nil {
			return err
		}
		return bump(meta, keyOutboxWaiting, 1)
	case record.KindCoalesce:
		return tx.Bucket(bucketOutboxCoalesce).Put([]byte(e.Key), be64(e.Seq))
	case record.KindOutboxSeq:
		return tx.Bucket(bucketOutbox).SetSequence(e.Seq)
	case record.KindOutboxCursor:
		return meta.Put(keyOutboxCursor, be64(e.Seq))
	case record.KindSignIn:
		return meta.Put(join(prefixSignIn, []byte(e.Key)), e.Value)
	case record.KindSinkCursor:
		return meta.Put(sinkCursorKey(e.Key), be64(e.Seq))
	}
	return fmt.Errorf("an entry of a kind this jitbot does not know")
}

// finish sets what follows from everything imported so far: the audit
// log's sequence and head, the inbox's sequence.
func (st *importState) finish(tx *bolt.Tx) error {
	if st.auditSeq > 0 {
		if err := tx.Bucket(bucketAudit).SetSequence(st.auditSeq); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(keyAuditHead, []byte(st.head)); err != nil {
			return err
		}
	}
	if b := tx.Bucket(bucketInbox); st.inboxSeq > b.Sequence() {
		return b.SetSequence(st.inboxSeq)
	}
	return nil
}

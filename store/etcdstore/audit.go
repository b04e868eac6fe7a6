package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// The audit log is one chain for every replica: audit/r/<seq> holds each
// record and audit/head the last one's seq and hash. A transition does not
// append to it: that would condition every transition of every replica on
// audit/head, one key all of them write, and under load they spend their
// time losing races on it (the HA scenario at 100 requests/s fell minutes
// behind that way, a writers' lock in etcd only moving the queue). Instead
// a transition's transaction writes each of its events as a pending record,
// audit/p/<process>/<n>, a key nobody else writes, so that the event is
// committed with the change it records and nothing else is compared.
//
// Whoever reads the log first seals what is pending (seal): it reads the
// pending records and the head in one snapshot, orders the records by the
// revision that committed them (and, within one transaction, by n: the
// order its writer gave them), and moves them into the chain after the
// head: each record written with its seq and hashes and its pending key
// deleted, on condition that the head is still the one read. Two sealers
// cannot both chain the same records, and the chain's order is the order
// in which etcd committed the events, which is the order of their changes.
// The reader of the log under load is the leader's dispatcher, a few times
// a second, so the chain stays seconds behind the commits at most, and it
// is the only writer of audit/head.

// auditHead is the value of audit/head.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func (s *Store) headKey() string            { return s.p + "audit/head" }
func (s *Store) auditKey(seq uint64) string { return s.p + "audit/r/" + hex16(seq) }
func (s *Store) auditPrefix() string        { return s.p + "audit/r/" }
func (s *Store) pendingPrefix() string      { return s.p + "audit/p/" }

func decodeHead(kv *mvccpb.KeyValue) (auditHead, error) {
	var h auditHead
	if kv == nil {
		return h, nil
	}
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		return h, fmt.Errorf("decode the audit head: %w", err)
	}
	return h, nil
}

// addEvents adds evs to c as pending records, in their order.
func (s *Store) addEvents(c *change, evs ...flows.Event) error {
	for _, ev := range evs {
		raw, err := json.Marshal(record.Unchained(ev))
		if err != nil {
			return fmt.Errorf("encode audit record: %w", err)
		}
		c.put(s.ownKey(s.pendingPrefix()), string(raw))
	}
	return nil
}

func (s *Store) putHead(c *change, h auditHead) {
	raw, _ := json.Marshal(h) // a struct of plain fields always encodes
	c.put(s.headKey(), string(raw))
}

// headIs conditions c on the head being h (absent for an empty log): by
// value, which names the last record and its hash, so that a sealer can
// go on after its own commit without reading the head again.
func (s *Store) headIs(c *change, h auditHead) {
	if h.Seq == 0 {
		c.unchanged(s.headKey(), nil)
		return
	}
	raw, _ := json.Marshal(h)
	c.cmps = append(c.cmps, clientv3.Compare(clientv3.Value(s.headKey()), "=", string(raw)))
}

// AppendEvents implements flows.Store: the events, pending, in one
// transaction (through the combiner, with the transitions of this
// process: combine.go).
func (s *Store) AppendEvents(ctx context.Context, evs ...flows.Event) error {
	if len(evs) == 0 {
		return ctx.Err()
	}
	j := &job{ctx: ctx, kind: jobAppend, evs: evs}
	s.submit(j)
	return j.err
}

// sealRounds bounds the transactions one round of sealing commits, so
// that a round (one request's time) fits under load however much is
// pending: after a change of leader, thousands of records.
const sealRounds = 8

// seal moves into the chain the records pending when it starts, in the
// order etcd committed them, until the chain holds target records (every
// one pending when target is 0). Records committed meanwhile wait for the
// next seal: a reader needs what was committed before it read, and a
// sealer that chased every new record could run for ever under load.
func (s *Store) seal(ctx context.Context, target uint64) error {
	var until int64 // the revision of the first read
	for {
		more := false
		err := s.retry(ctx, "seal the audit log", func(ctx context.Context) (bool, error) {
			var ok bool
			var err error
			ok, more, err = s.sealRound(ctx, target, &until)
			return ok, err
		})
		if err != nil || !more {
			return err
		}
	}
}

// sealRound commits up to sealRounds transactions of seal's work. ok is
// false when another sealer went first (read again); more says that
// records are left for another round.
func (s *Store) sealRound(ctx context.Context, target uint64, until *int64) (ok, more bool, err error) {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.headKey()),
		clientv3.OpGet(s.pendingPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend)),
	).Commit()
	if err != nil {
		return false, false, err
	}
	if *until == 0 {
		*until = resp.Header.Revision
	}
	var headKV *mvccpb.KeyValue
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		headKV = kvs[0]
	}
	h, err := decodeHead(headKV)
	if err != nil {
		return false, false, err
	}
	pending := inCommitOrder(resp.Responses[1].GetResponseRange().Kvs, *until)
	rev := resp.Header.Revision
	reached := func() bool { return target > 0 && h.Seq >= target }
	for round := 0; len(pending) > 0 && !reached(); round++ {
		if round == sealRounds {
			return true, true, nil
		}
		// Two operations a record, the head's put and the marker's.
		n := min(len(pending), (s.maxOps-2)/2)
		if target > 0 {
			n = min(n, int(target-h.Seq))
		}
		keys := make([]string, n)
		for i, kv := range pending[:n] {
			keys[i] = string(kv.Key)
		}
		kvs, err := s.getAll(ctx, rev, keys...)
		if err != nil {
			return false, false, err
		}
		c := &change{}
		s.headIs(c, h)
		next := h
		for i, kv := range kvs {
			if kv == nil {
				return false, false, fmt.Errorf("the pending audit record %s vanished from revision %d", keys[i], rev)
			}
			var rec record.Audit
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				return false, false, fmt.Errorf("decode the pending audit record %s: %w", kv.Key, err)
			}
			rec = rec.Link(next.Seq+1, next.Hash)
			raw, err := json.Marshal(rec)
			if err != nil {
				return false, false, fmt.Errorf("encode audit record: %w", err)
			}
			if i > 0 && c.bytes+len(raw)+len(kv.Key)+256 > maxRequestBytes {
				n = i
				break
			}
			c.put(s.auditKey(rec.Seq), string(raw))
			c.del(string(kv.Key))
			next = auditHead{Seq: rec.Seq, Hash: rec.Hash}
		}
		s.putHead(c, next)
		if ok, err := s.commit(ctx, c); err != nil || !ok {
			return false, false, err // another sealer went first: read again
		}
		h, pending = next, pending[n:]
	}
	return true, false, nil
}

// auditPage is how many records one read of the log brings.
const auditPage = 512

// walkAudit calls fn for each record with seq > after, in order, up to
// limit (all when limit <= 0), a page at a time. Records never change once
// written, so each page is read as of when it is read (no revision pinned
// for the walk, which compaction could remove under a long one); it
// returns the revision of the last page, at which the log ended where the
// walk did.
func (s *Store) walkAudit(ctx context.Context, after uint64, limit int, fn func(record.Audit) error) (rev int64, err error) {
	if limit <= 0 {
		limit = math.MaxInt
	}
	if after == math.MaxUint64 {
		return 0, nil
	}
	from, end := s.auditKey(after+1), rangeEnd(s.auditPrefix())
	n := 0
	for n < limit {
		resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(min(auditPage, limit-n))))
		if err != nil {
			return 0, err
		}
		rev = resp.Header.Revision
		for _, rkv := range resp.Kvs {
			var rec record.Audit
			if err := json.Unmarshal(rkv.Value, &rec); err != nil {
				return 0, refusal{&flows.BrokenChainError{Seq: rec.Seq, Reason: fmt.Sprintf("unreadable record %s: %v", rkv.Key, err)}}
			}
			if err := fn(rec); err != nil {
				return 0, err
			}
			n++
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return rev, nil
}

// Audit implements flows.AuditLog. fn's error stops the walk and comes
// back as it is; a walk that a passing etcd error interrupts resumes after
// the last record fn was given, so fn never sees a record twice.
func (s *Store) Audit(ctx context.Context, since time.Time, fn func(flows.AuditRecord) error) error {
	if err := s.seal(ctx, 0); err != nil {
		return err
	}
	var last uint64
	return s.read(ctx, "read the audit log", func(ctx context.Context) error {
		_, err := s.walkAudit(ctx, last, 0, func(rec record.Audit) error {
			if rec.At.Before(since) {
				last = rec.Seq
				return nil
			}
			if err := fn(rec.AuditRecord()); err != nil {
				return refusal{err}
			}
			last = rec.Seq
			return nil
		})
		return err
	})
}

// VerifyAudit implements flows.AuditLog: records numbered without gaps,
// each naming its predecessor's hash, each hash matching its content, and
// the last one the head (so a truncated tail is caught too).
func (s *Store) VerifyAudit(ctx context.Context) (flows.AuditSummary, error) {
	var sum flows.AuditSummary
	if err := s.seal(ctx, 0); err != nil {
		return sum, err
	}
	err := s.read(ctx, "verify the audit log", func(ctx context.Context) error {
		prev := ""
		rev, err := s.walkAudit(ctx, 0, 0, func(rec record.Audit) error {
			want := sum.Records + 1
			switch {
			case rec.Seq != want:
				return refusal{&flows.BrokenChainError{Seq: want, Reason: fmt.Sprintf("expected record %d, found %d (a record is missing or was inserted)", want, rec.Seq)}}
			case rec.PrevHash != prev:
				return refusal{&flows.BrokenChainError{Seq: want, Reason: "it does not link to the record before it"}}
			case rec.Sum() != rec.Hash:
				return refusal{&flows.BrokenChainError{Seq: want, Reason: "its content does not match its hash (it was modified)"}}
			}
			prev = rec.Hash
			sum.Records = want
			return nil
		})
		if err != nil {
			return err
		}
		kvs, err := s.getAll(ctx, rev, s.headKey())
		if err != nil {
			return err
		}
		h, err := decodeHead(kvs[0])
		if err != nil {
			return err
		}
		if h.Hash != prev || h.Seq != sum.Records {
			return refusal{&flows.BrokenChainError{Seq: sum.Records + 1, Reason: "records after this point were removed (the log's recorded head does not match its last record)"}}
		}
		sum.Head = prev
		return nil
	})
	return sum, err
}

// AuditAfter implements flows.AuditReader: a range read from the record
// after seq, so it costs what it returns.
func (s *Store) AuditAfter(ctx context.Context, seq uint64, limit int) ([]flows.AuditRecord, error) {
	// The records it returns must be chained, not every one pending.
	var target uint64
	if limit > 0 && seq <= math.MaxUint64-uint64(limit) {
		target = seq + uint64(limit)
	}
	if err := s.seal(ctx, target); err != nil {
		return nil, err
	}
	var out []flows.AuditRecord
	err := s.read(ctx, fmt.Sprintf("audit after %d", seq), func(ctx context.Context) error {
		out = nil
		_, err := s.walkAudit(ctx, seq, limit, func(rec record.Audit) error {
			out = append(out, rec.AuditRecord())
			return nil
		})
		return err
	})
	return out, err
}

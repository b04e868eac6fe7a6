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
// record and audit/head the last one's seq and hash. A change that records
// events reads the head with what it changes, and its transaction writes
// the records after it and the new head on condition that the head is
// still the one read: two writers can never both append after the same
// record, whichever process they run in.

// auditHead is the value of audit/head.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func (s *Store) headKey() string            { return s.p + "audit/head" }
func (s *Store) auditKey(seq uint64) string { return s.p + "audit/r/" + hex16(seq) }
func (s *Store) auditPrefix() string        { return s.p + "audit/r/" }

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

// appendAudit adds evs after the head read as kv (nil: the log is empty)
// to c, with the compare that keeps the chain one.
func (s *Store) appendAudit(c *change, kv *mvccpb.KeyValue, evs ...flows.Event) error {
	if len(evs) == 0 {
		return nil
	}
	h, err := decodeHead(kv)
	if err != nil {
		return err
	}
	c.unchanged(s.headKey(), kv)
	if h, err = s.chain(c, h, evs...); err != nil {
		return err
	}
	s.putHead(c, h)
	return nil
}

// chain adds the records of evs after h to c and returns the new head.
func (s *Store) chain(c *change, h auditHead, evs ...flows.Event) (auditHead, error) {
	for _, ev := range evs {
		rec := record.NewAudit(ev, h.Seq+1, h.Hash)
		raw, err := json.Marshal(rec)
		if err != nil {
			return h, fmt.Errorf("encode audit record: %w", err)
		}
		c.put(s.auditKey(rec.Seq), string(raw))
		h = auditHead{Seq: rec.Seq, Hash: rec.Hash}
	}
	return h, nil
}

func (s *Store) putHead(c *change, h auditHead) {
	raw, _ := json.Marshal(h) // a struct of plain fields always encodes
	c.put(s.headKey(), string(raw))
}

// AppendEvents implements flows.Store (through the combiner, with the
// transitions of this process: combine.go).
func (s *Store) AppendEvents(ctx context.Context, evs ...flows.Event) error {
	if len(evs) == 0 {
		return ctx.Err()
	}
	j := &job{ctx: ctx, kind: jobAppend, evs: evs}
	s.submit(j)
	return j.err
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

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// VerifyAudit walks the whole audit log, checking that records are numbered
// without gaps, that each names its predecessor's hash, that each hash matches
// its content, and that the last one is the head the store recorded (so a
// truncated tail is caught too). It returns the first broken link.
func (d *DB) VerifyAudit(ctx context.Context) (flows.AuditSummary, error) {
	var sum flows.AuditSummary
	err := d.bolt.View(func(tx *bolt.Tx) error {
		prev := ""
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if sum.Records%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			want := sum.Records + 1
			var rec record.Audit
			if err := json.Unmarshal(v, &rec); err != nil {
				return &flows.BrokenChainError{Seq: want, Reason: "unreadable record: " + err.Error()}
			}
			switch {
			case string(k) != string(be64(want)) || rec.Seq != want:
				return &flows.BrokenChainError{Seq: want, Reason: fmt.Sprintf("expected record %d, found %d (a record is missing or was inserted)", want, rec.Seq)}
			case rec.PrevHash != prev:
				return &flows.BrokenChainError{Seq: want, Reason: "it does not link to the record before it"}
			case rec.Sum() != rec.Hash:
				return &flows.BrokenChainError{Seq: want, Reason: "its content does not match its hash (it was modified)"}
			}
			prev = rec.Hash
			sum.Records = want
		}
		if head := string(tx.Bucket(bucketMeta).Get(keyAuditHead)); head != prev {
			return &flows.BrokenChainError{Seq: sum.Records + 1, Reason: "records after this point were removed (the log's recorded head does not match its last record)"}
		}
		sum.Head = prev
		return nil
	})
	return sum, err
}

// Audit calls fn for each audit record at or after since, in order.
func (d *DB) Audit(ctx context.Context, since time.Time, fn func(flows.AuditRecord) error) error {
	return d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var rec record.Audit
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: audit record %x: %w", k, err)
			}
			if rec.At.Before(since) {
				continue
			}
			if err := fn(rec.AuditRecord()); err != nil {
				return err
			}
		}
		return nil
	})
}

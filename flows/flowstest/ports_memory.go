package flowstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// appendAudit chains events onto the log; the caller holds s.mu.
func (s *Store) appendAudit(evs ...flows.Event) {
	for _, ev := range evs {
		rec := flows.AuditRecord{Seq: uint64(len(s.audit)) + 1, Event: ev}
		if n := len(s.audit); n > 0 {
			rec.PrevHash = s.audit[n-1].Hash
		}
		rec.Hash = chainHash(rec)
		s.audit = append(s.audit, rec)
	}
}

// chainHash is the SHA-256 of a record's number, link and event.
func chainHash(rec flows.AuditRecord) string {
	raw, _ := json.Marshal(struct {
		Seq   uint64
		Prev  string
		Event flows.Event
	}{rec.Seq, rec.PrevHash, rec.Event}) // plain fields always encode
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Audit implements flows.AuditLog.
func (s *Store) Audit(ctx context.Context, since time.Time, fn func(flows.AuditRecord) error) error {
	s.mu.Lock()
	recs := slices.Clone(s.audit)
	s.mu.Unlock()
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec.Event.At.Before(since) {
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// VerifyAudit implements flows.AuditLog.
func (s *Store) VerifyAudit(ctx context.Context) (flows.AuditSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum flows.AuditSummary
	prev := ""
	for i, rec := range s.audit {
		want := uint64(i) + 1
		switch {
		case rec.Seq != want:
			return sum, &flows.BrokenChainError{Seq: want, Reason: fmt.Sprintf("expected record %d, found %d (a record is missing or was inserted)", want, rec.Seq)}
		case rec.PrevHash != prev:
			return sum, &flows.BrokenChainError{Seq: want, Reason: "it does not link to the record before it"}
		case chainHash(rec) != rec.Hash:
			return sum, &flows.BrokenChainError{Seq: want, Reason: "its content does not match its hash (it was modified)"}
		}
		prev, sum.Records = rec.Hash, want
	}
	sum.Head = prev
	return sum, ctx.Err()
}

// TamperAudit changes the message of record seq without fixing its hash, as
// someone editing the log would (for the audit suite).
func (s *Store) TamperAudit(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit[seq-1].Event.Message = "tampered"
}

// AddMessageRef implements flows.ChatState.
func (s *Store) AddMessageRef(ctx context.Context, requestID flows.RequestID, ref flows.MessageRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[requestID] = append(s.refs[requestID], ref)
	return ctx.Err()
}

// MessageRefs implements flows.ChatState.
func (s *Store) MessageRefs(ctx context.Context, requestID flows.RequestID) ([]flows.MessageRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refs[requestID]), ctx.Err()
}

// ManyMessageRefs reads the message refs of several requests at once
// (bot.ManyMessageRefs): those with none are left out.
func (s *Store) ManyMessageRefs(ctx context.Context, ids []flows.RequestID) (map[flows.RequestID][]flows.MessageRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[flows.RequestID][]flows.MessageRef{}
	for _, id := range ids {
		if refs := s.refs[id]; len(refs) > 0 {
			out[id] = slices.Clone(refs)
		}
	}
	return out, ctx.Err()
}

func contactKey(platform, key string) string { return platform + "\x00" + key }

// PutContact implements flows.ChatState.
func (s *Store) PutContact(ctx context.Context, platform, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contacts[contactKey(platform, key)] = slices.Clone(data)
	return ctx.Err()
}

// Contact implements flows.ChatState.
func (s *Store) Contact(ctx context.Context, platform, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.contacts[contactKey(platform, key)]
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)
	}
	return slices.Clone(data), ctx.Err()
}

// DeleteContact implements flows.ChatState.
func (s *Store) DeleteContact(ctx context.Context, platform, key string, evs ...flows.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := contactKey(platform, key)
	if _, ok := s.contacts[k]; !ok {
		return flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)
	}
	delete(s.contacts, k)
	s.appendAudit(evs...)
	return ctx.Err()
}

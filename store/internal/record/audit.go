package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Audit is one audit log entry as stored. Hash is the SHA-256 of the
// record's JSON with Hash empty (Sum); PrevHash links it to the entry
// before. The hash covers the encoding, so a field's name or type is
// fixed for good: changing either breaks every chain written before.
type Audit struct {
	Seq       uint64        `json:"seq"`
	At        time.Time     `json:"at"`
	Type      string        `json:"type"`
	RequestID string        `json:"request_id,omitempty"`
	Actor     string        `json:"actor"`
	From      string        `json:"from,omitempty"`
	To        string        `json:"to,omitempty"`
	Message   string        `json:"message,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Ends      time.Time     `json:"ends,omitzero"` // absent (as in records before it) unless an extension
	Extension int           `json:"extension,omitempty"`
	Attempt   int           `json:"attempt,omitempty"`
	Tier      int           `json:"tier,omitempty"`     // absent (as in records before tiers) unless an escalation
	Principal string        `json:"username,omitempty"` // named before principals other than database users existed; the chain's hashes cover the name
	Keeper    string        `json:"keeper,omitempty"`   // absent (as in records before replicas kept secrets) unless a replica among several keeps the credentials
	PrevHash  string        `json:"prev_hash"`
	Hash      string        `json:"hash"`
}

// NewAudit is ev as record seq of the chain, after the record whose hash
// is prev, sealed with its own hash.
func NewAudit(ev flows.Event, seq uint64, prev string) Audit {
	return Unchained(ev).Link(seq, prev)
}

// Unchained is ev as a record not yet in a chain: no seq, no hashes (the
// etcd store's pending records, which the chain takes in later).
func Unchained(ev flows.Event) Audit {
	return Audit{
		At: ev.At, Type: string(ev.Type), RequestID: string(ev.RequestID), Actor: ev.Actor, From: string(ev.From), To: string(ev.To),
		Message: ev.Message, Duration: ev.Duration, Ends: ev.Ends, Extension: ev.Extension, Attempt: ev.Attempt, Tier: ev.Tier, Principal: ev.Principal, Keeper: ev.Keeper,
	}
}

// Link is a as record seq of the chain, after the record whose hash is
// prev, sealed with its own hash.
func (a Audit) Link(seq uint64, prev string) Audit {
	a.Seq, a.PrevHash = seq, prev
	a.Hash = a.Sum()
	return a
}

// Sum is the hash a's Hash must be: that of its encoding with Hash empty.
func (a Audit) Sum() string {
	a.Hash = ""
	raw, _ := json.Marshal(a) // a struct of plain fields always encodes
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// AuditRecord is a as the domain reads it.
func (a Audit) AuditRecord() flows.AuditRecord {
	return flows.AuditRecord{
		Seq: a.Seq, PrevHash: a.PrevHash, Hash: a.Hash,
		Event: flows.Event{
			Type: flows.EventType(a.Type), RequestID: flows.RequestID(a.RequestID), Actor: a.Actor, At: a.At, From: flows.State(a.From),
			To: flows.State(a.To), Message: a.Message, Duration: a.Duration, Ends: a.Ends, Extension: a.Extension, Attempt: a.Attempt, Tier: a.Tier, Principal: a.Principal, Keeper: a.Keeper,
		},
	}
}

package auditsink

import (
	"fmt"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Event is one audit record as it leaves jitbot: what a webhook receives
// (in a batch) and what a sink's copy keeps, one JSON object a line, for
// VerifyAgainst.
type Event struct {
	// ID names the event for deduplication: the chain's first 16 hex
	// digits, a dash, and the record's sequence number. A repeat (a crash
	// between the sink's acknowledgement and jitbot's record of it) carries
	// the same id.
	ID string `json:"id"`
	// Chain is the hash of the log's first record: it tells one jitbot
	// store's log from another's.
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	// Hash is the chain's head at this event: the hash of this record,
	// which covers its content and, through PrevHash, every record before
	// it. A store rewritten after this was sent no longer has it.
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`

	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	RequestID string    `json:"request_id,omitempty"`
	Actor     string    `json:"actor"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Message   string    `json:"message,omitempty"`
	Duration  string    `json:"duration,omitempty"`
	Extension int       `json:"extension,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	Principal string    `json:"principal,omitempty"`
	Tier      int       `json:"tier,omitempty"`   // the escalation tier an escalated event reached
	Keeper    string    `json:"keeper,omitempty"` // the replica that kept the credentials announced, with several
	Ends      time.Time `json:"ends,omitzero"`    // the grant's end an extension set
}

// EventID is the id of record seq of the chain whose first record's hash
// is chain.
func EventID(chain string, seq uint64) string {
	return fmt.Sprintf("%s-%d", chain[:min(16, len(chain))], seq)
}

// EventOf is rec as it is streamed, in the chain whose first record's hash
// is chain.
func EventOf(chain string, rec flows.AuditRecord) Event {
	ev := rec.Event
	out := Event{
		ID: EventID(chain, rec.Seq), Chain: chain, Seq: rec.Seq, Hash: rec.Hash, PrevHash: rec.PrevHash,
		At: ev.At.UTC(), Type: string(ev.Type), RequestID: string(ev.RequestID), Actor: ev.Actor,
		From: string(ev.From), To: string(ev.To), Message: ev.Message,
		Extension: ev.Extension, Attempt: ev.Attempt, Principal: ev.Principal, Tier: ev.Tier, Keeper: ev.Keeper,
	}
	if !ev.Ends.IsZero() {
		out.Ends = ev.Ends.UTC()
	}
	if ev.Duration > 0 {
		out.Duration = ev.Duration.String()
	}
	return out
}

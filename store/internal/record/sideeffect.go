package record

import (
	"time"

	"github.com/jitbot/jitbot/flows"
)

// MessageRef is a sent message's reference as stored (flows.MessageRef).
type MessageRef struct {
	Platform     string `json:"platform"`
	Conversation string `json:"conversation"`
	ID           string `json:"id"`
	Recipient    string `json:"recipient,omitempty"`
	Kind         string `json:"kind,omitempty"`
	ServiceURL   string `json:"service_url,omitempty"`
}

// Inbox is an inbox item as stored (schema version 3). Seq is the order it
// was received in: it breaks ties between items due at the same time and
// names the item in the time indexes.
type Inbox struct {
	Key        string    `json:"key"`
	Seq        uint64    `json:"seq"`
	Platform   string    `json:"platform,omitempty"`
	Payload    []byte    `json:"payload,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Attempts   int       `json:"attempts,omitempty"`
	NextAt     time.Time `json:"next_at"`
	// FinishedAt is set once the item is done: the record is then a
	// tombstone (its payload dropped) kept until PurgeInbox.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Redelivered: received again while not finished, and acknowledged
	// (flows.Inbox.DropInbox keeps it). Dropped: finished unacted by
	// DropInbox (a redelivery takes the key as new).
	Redelivered bool `json:"redelivered,omitempty"`
	Dropped     bool `json:"dropped,omitempty"`
	// Nonce tells one receive's write of the item from another's: the
	// etcd store's Receive recognises its own write by it after an
	// ambiguous failure (two webhooks of one delivery may stamp the same
	// receipt time).
	Nonce uint64 `json:"nonce,omitempty"`
}

// NewInbox is it as stored, received seq-th.
func NewInbox(it flows.InboxItem, seq uint64) Inbox {
	return Inbox{
		Key: it.Key, Seq: seq, Platform: it.Platform, Payload: it.Payload,
		ReceivedAt: it.ReceivedAt, Attempts: it.Attempts, NextAt: it.NextAt,
	}
}

// Item is rec as the domain reads it.
func (rec Inbox) Item() flows.InboxItem {
	return flows.InboxItem{
		Key: rec.Key, Platform: rec.Platform, Payload: rec.Payload,
		ReceivedAt: rec.ReceivedAt, Attempts: rec.Attempts, NextAt: rec.NextAt,
	}
}

// Delivery is an outbox delivery as stored (schema version 3).
type Delivery struct {
	ID           uint64      `json:"id"`
	Conversation string      `json:"conversation"`
	Platform     string      `json:"platform,omitempty"`
	Priority     int         `json:"priority"`
	What         string      `json:"what,omitempty"`
	Recipient    string      `json:"recipient,omitempty"`
	RequestID    string      `json:"request_id,omitempty"`
	EventSeq     uint64      `json:"event_seq,omitempty"`
	Ref          *MessageRef `json:"ref,omitempty"`
	Coalesce     string      `json:"coalesce,omitempty"`
	Payload      []byte      `json:"payload,omitempty"`
	CreatedAt    time.Time   `json:"created_at"`
	NotBefore    time.Time   `json:"not_before,omitzero"`
	Attempts     int         `json:"attempts,omitempty"`
	Holder       string      `json:"holder,omitempty"`
	// Mark is flows.Outbox.Sending's (bbolt; etcd keeps it beside).
	Mark *flows.SendMark `json:"mark,omitempty"`
}

// NewDelivery is d as stored.
func NewDelivery(d flows.Delivery) Delivery {
	rec := Delivery{
		ID: d.ID, Conversation: d.Conversation, Platform: d.Platform, Priority: int(d.Priority), What: d.What,
		Recipient: d.Recipient, RequestID: string(d.RequestID), EventSeq: d.EventSeq, Coalesce: d.Coalesce,
		Payload: d.Payload, CreatedAt: d.CreatedAt, NotBefore: d.NotBefore, Attempts: d.Attempts, Holder: d.Holder,
	}
	if d.Ref != nil {
		ref := MessageRef(*d.Ref)
		rec.Ref = &ref
	}
	return rec
}

// Delivery is rec as the domain reads it.
func (rec Delivery) Delivery() flows.Delivery {
	d := flows.Delivery{
		ID: rec.ID, Conversation: rec.Conversation, Platform: rec.Platform, Priority: flows.Priority(rec.Priority),
		What: rec.What, Recipient: rec.Recipient, RequestID: flows.RequestID(rec.RequestID), EventSeq: rec.EventSeq,
		Coalesce: rec.Coalesce, Payload: rec.Payload, CreatedAt: rec.CreatedAt, NotBefore: rec.NotBefore,
		Attempts: rec.Attempts, Holder: rec.Holder,
	}
	if rec.Ref != nil {
		ref := flows.MessageRef(*rec.Ref)
		d.Ref = &ref
	}
	return d
}

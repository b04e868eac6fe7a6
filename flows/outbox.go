package flows

import (
	"context"
	"time"
)

// The side-effect path (DESIGN §4), as storage ports. Nothing a person must
// be told, and nothing a person asked, lives only in memory:
//
//   - Inbox: a slash command, a submitted form, a click or a Teams message is
//     received (written with its idempotency key) before its HTTP 200 leaves,
//     then taken by a fixed pool of workers, so a crash right after the ack
//     loses nothing and a redelivery is recognised.
//   - The audit log is the first stage of the outbox: every transition's
//     event is committed with the transition, and a dispatcher reads the log
//     from a durable cursor, deciding who must be told what.
//   - Outbox: what the dispatcher decided, one Delivery per conversation,
//     written in the transaction that moves the cursor past the event; a
//     fixed pool of workers sends them in order within a conversation.
//
// A secret is never part of any of these records: the credentials message
// is rendered from a secret held in memory until it is sent (and reissued
// after a restart that lost it).

// InboxItem is one delivery from a chat platform, kept until it is acted on.
type InboxItem struct {
	// Key is the delivery's idempotency key: the same delivery, retried or
	// replayed, has the same key ("slack:trigger:<id>", "teams:<conv>:<id>").
	Key      string
	Platform string
	// Payload is what the platform needs to act on it later (the parsed
	// command and who sent it, where to answer). Never a secret.
	Payload    []byte
	ReceivedAt time.Time
	// Attempts counts the takes so far; NextAt is when the item may be taken
	// (again): a taken item's lease, or a retry's backoff.
	Attempts int
	NextAt   time.Time
}

// Inbox keeps deliveries from their acknowledgement until they are acted on.
type Inbox interface {
	// Receive records item, sharing its commit (fsync) with concurrent
	// callers. It returns first=false when an item with the same key was
	// received before (and not purged since): the delivery again, which is
	// acknowledged and not acted on twice. Such a redelivery of an item not
	// finished marks it, so that DropInbox keeps it; one of an item
	// dropped (DropInbox) takes it as new: first=true, the item item.
	Receive(ctx context.Context, item InboxItem) (first bool, err error)
	// DropInbox finishes, without acting on it and without answers, an
	// item its receiver refused (it told the sender that nothing was
	// recorded, although the store committed the write later), unless a
	// redelivery of it was received since (Receive): that one was
	// acknowledged, so the item is to be acted on, and dropped is false.
	// So is it for an item finished already. The tombstone it leaves takes
	// a later redelivery as new. An unknown key is ENOTFOUND.
	DropInbox(ctx context.Context, key string, at time.Time) (dropped bool, err error)
	// TakeInbox leases up to limit items (every one when limit <= 0) whose
	// NextAt is at or before now, oldest first (by NextAt, then in the
	// order received; Receive takes a zero NextAt as ReceivedAt): each
	// taken item's Attempts grows by one and its NextAt moves to now+lease,
	// so another worker (or replica) does not take it meanwhile, and a
	// worker that dies leaves it to be taken again.
	TakeInbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]InboxItem, error)
	// TakeInboxKeys leases, as TakeInbox, the items of keys that are due
	// at now, in the order of keys; the others (unknown, finished, leased
	// by another taker) are skipped. A receiver takes what it knows must
	// not wait behind the inbox's order (bot.Inbox.ReceiveAction).
	TakeInboxKeys(ctx context.Context, now time.Time, lease time.Duration, keys ...string) ([]InboxItem, error)
	// FinishInbox marks an item done and, in the same transaction, adds
	// the answers to the person to the outbox (as Enqueue, the cursor
	// unchanged), so that an item acted on is answered even if the process
	// dies right after; it returns them as stored: numbered, or, in a
	// store several replicas share, unnumbered (ID 0) until the
	// dispatcher numbers them (bot.AnswerNumberer). The item stays (as a
	// tombstone that keeps Receive answering first=false, its payload
	// dropped) until PurgeInbox removes it. An unknown key is ENOTFOUND;
	// finishing twice keeps the first time and enqueues nothing.
	FinishInbox(ctx context.Context, key string, at time.Time, answers ...Delivery) ([]Delivery, error)
	// RetryInbox makes a taken item available again at next: ENOTFOUND for
	// an unknown key, ECONFLICT for a finished item.
	RetryInbox(ctx context.Context, key string, next time.Time) error
	// ExtendInbox moves the lease of each item of keys that is not
	// finished to until (its NextAt, when that is later): a worker still
	// acting on an item keeps it with a short lease renewed, so that the
	// items of a worker that died wait one short lease, not the longest a
	// handler may take. Unknown and finished keys are skipped.
	ExtendInbox(ctx context.Context, until time.Time, keys ...string) error
	// PurgeInbox removes items finished at or before t; it returns how many.
	PurgeInbox(ctx context.Context, t time.Time) (int, error)
	// InboxDepth counts the items not finished and the oldest one's
	// ReceivedAt (zero when none), for metrics.
	InboxDepth(ctx context.Context) (n int, oldest time.Time, err error)
}

// Priority orders deliveries between conversations: the lower goes first.
// Within one conversation deliveries keep their order whatever their
// priority.
type Priority int

// Priorities.
const (
	// PriorityActor: the answer to the person who just acted.
	PriorityActor Priority = iota
	// PriorityCredentials: a requester's new credentials.
	PriorityCredentials
	// PriorityApproval: a new approval card, and other direct messages.
	PriorityApproval
	// PriorityRefresh: bringing an existing card up to date; it may wait
	// (at most a minute) and is coalesced with later refreshes of the same
	// card.
	PriorityRefresh
)

// Delivery is one message for one conversation.
type Delivery struct {
	// ID is assigned by Enqueue, increasing in enqueue order.
	ID uint64
	// Conversation orders deliveries: those of one conversation go out one
	// at a time, in ID order ("slack:dm:alice@example.com",
	// "slack:channel:C123", "teams:dm:alice@example.com").
	Conversation string
	Platform     string
	Priority     Priority
	// What the message is, for the engine that renders it (e.g. "notice",
	// "card", "refresh", "reply"), and who it is for.
	What      string
	Recipient string
	RequestID RequestID
	// EventSeq is the audit record the message tells of (0: none).
	EventSeq uint64
	// Ref is the message a refresh updates.
	Ref *MessageRef
	// Coalesce, when set, names what the delivery supersedes: enqueuing a
	// delivery whose Coalesce equals that of one still waiting in the same
	// conversation updates that one (its EventSeq, Payload and What) in
	// place instead of adding another. A delivery being sent is still
	// waiting: the dispatcher enqueues without Coalesce while the one it
	// would update is in flight, or Delivered would remove the update
	// unsent.
	Coalesce string
	// Payload is what the engine needs beyond the above (where to answer,
	// a reply's content). Never a secret.
	Payload   []byte
	CreatedAt time.Time
	// NotBefore holds a delivery back (Retry-After, backoff); Attempts
	// counts failed sends.
	NotBefore time.Time
	Attempts  int
	// Holder names the replica that alone can send it while it lives: the
	// keeper of the credentials it carries (Event.Keeper); "" for anyone.
	Holder string
}

// SendMark says a delivery's message was about to go: which dispatcher
// was sending it, when, and the event it told of (a delivery coalesced
// since tells of a later one: the mark is not about what it says now).
type SendMark struct {
	Holder   string    `json:"holder"`
	At       time.Time `json:"at"`
	EventSeq uint64    `json:"event_seq,omitempty"`
}

// Outbox keeps what must be sent until it is sent.
type Outbox interface {
	// Enqueue adds deliveries and, in the same transaction, moves the
	// dispatcher's audit cursor to cursor (unchanged when cursor is 0), so
	// an event is either fully expanded into deliveries or not at all. A
	// cursor at or before the current one is refused (ECONFLICT, nothing
	// written): those events were expanded already, by this dispatcher or
	// by one that has lost its leadership since, and expanding them again
	// would send their messages twice.
	Enqueue(ctx context.Context, cursor uint64, ds ...Delivery) ([]Delivery, error)
	// Cursor is the audit sequence number the dispatcher expanded last.
	Cursor(ctx context.Context) (uint64, error)
	// Pending returns every waiting delivery, conversations in the order of
	// their first delivery, each conversation's in ID order, up to limit
	// (every one when limit <= 0).
	Pending(ctx context.Context, limit int) ([]Delivery, error)
	// Waiting returns one waiting delivery as stored (ENOTFOUND once it is
	// delivered or dropped): the dispatcher keeps only each conversation's
	// head in memory and reads the next one when its turn comes.
	Waiting(ctx context.Context, id uint64) (Delivery, error)
	// Held returns up to limit waiting deliveries whose Holder is holder,
	// in ID order: what only that replica can send, read by that replica
	// while another leads.
	Held(ctx context.Context, holder string, limit int) ([]Delivery, error)
	// Delivered removes a sent delivery and, in the same transaction,
	// remembers the message it created (ref, for later updates; nil when
	// there is nothing to remember) under its request (a delivery about no
	// request remembers nothing); ENOTFOUND for an unknown id. This is the
	// send-to-commit window: only a crash between the platform accepting
	// the message and this commit can make it go out twice.
	Delivered(ctx context.Context, id uint64, ref *MessageRef) error
	// Postpone records a failed attempt: Attempts+1 and NotBefore
	// (ENOTFOUND for an unknown id).
	Postpone(ctx context.Context, id uint64, notBefore time.Time) error
	// Sending marks delivery id as about to be sent (mark), before the
	// message goes, and returns the mark it had (nil: none; ENOTFOUND for
	// an unknown id). A mark outlives a send that never reached Delivered
	// (the process died, the call's outcome is unknown): whoever sends the
	// delivery next first looks for the message the platform may have
	// taken. Delivered and Drop remove the mark with the delivery.
	Sending(ctx context.Context, id uint64, mark SendMark) (*SendMark, error)
	// Drop removes a delivery that will never be sent (a permanent failure,
	// a superseded reply) and appends evs to the audit log with it; an
	// unknown id is ENOTFOUND and appends nothing.
	Drop(ctx context.Context, id uint64, evs ...Event) error
	// OutboxDepth counts waiting deliveries and the oldest one's CreatedAt.
	OutboxDepth(ctx context.Context) (n int, oldest time.Time, err error)
}

// AuditReader is the dispatcher's read of the audit log: AuditAfter returns
// up to limit records (every one when limit <= 0) with Seq greater than
// seq, in order.
type AuditReader interface {
	AuditAfter(ctx context.Context, seq uint64, limit int) ([]AuditRecord, error)
}

package record

// Piece is one piece of a store's state as `jitbot store copy` carries it
// from one store to another (bbolt to etcd and back): the records
// themselves, in this package's encoding, which both stores write alike,
// and the counters that are not derived from them. Indexes, counts and
// anything else a store derives from its records are not carried: the
// destination builds its own.
type Piece struct {
	Kind  Kind
	Key   string
	Seq   uint64
	Value []byte
}

// Kind is what a Piece holds; each says which of Key, Seq and Value it
// uses.
type Kind string

// The kinds, in the order a store exports them.
const (
	KindRequest     Kind = "request"     // Key: the request id; Value: EncodeRequest
	KindIdempotency Kind = "idempotency" // Key: the idempotency key; Value: the request id
	KindAudit       Kind = "audit"       // Seq: its seq; Value: an Audit, JSON
	// KindMessageRef: Key: the request id; Value: a MessageRef, JSON. A
	// request's refs come oldest first.
	KindMessageRef Kind = "message_ref"
	KindContact    Kind = "contact"  // Key: platform 0 key; Value: the contact data
	KindInbox      Kind = "inbox"    // Key: the item's key (its dedupe key); Value: an Inbox, JSON
	KindDelivery   Kind = "delivery" // Seq: its id; Value: a Delivery, JSON
	// KindCoalesce: Key: conversation 0 coalesce; Seq: the waiting
	// delivery a newer one with that Coalesce updates.
	KindCoalesce     Kind = "outbox_coalesce"
	KindOutboxSeq    Kind = "outbox_seq"    // Seq: the last delivery id handed out
	KindOutboxCursor Kind = "outbox_cursor" // Seq: the audit seq the dispatcher expanded last
	// KindSignIn: Key: kind 0 key; Value: its expiry (8 bytes, big-endian
	// Unix nanoseconds, 0 for never) and its value.
	KindSignIn     Kind = "signin"
	KindSinkCursor Kind = "sink_cursor" // Key: the sink's name; Seq: the last seq it acknowledged
)

// Kinds are every kind, in export order.
func Kinds() []Kind {
	return []Kind{KindRequest, KindIdempotency, KindAudit, KindMessageRef, KindContact, KindInbox,
		KindDelivery, KindCoalesce, KindOutboxSeq, KindOutboxCursor, KindSignIn, KindSinkCursor}
}

package flows

import (
	"context"
	"fmt"
	"time"
)

// The storage ports beside Store. Each is small so that a consumer names
// only what it uses (the Teams adapter needs ChatState, `jitbot audit`
// needs AuditLog), and each has a conformance suite in flowstest that every
// backend passes (bbolt in store, memory in flowstest; a replicated backend
// next).

// AuditLog is the hash-chained record of everything jitbot did. Events are
// appended by Store.Create and Store.Update in the transaction of the change
// they record, and by AppendEvents for findings that change no request.
type AuditLog interface {
	AppendEvents(ctx context.Context, evs ...Event) error
	// Audit calls fn for each record at or after since, oldest first; an
	// error from fn stops the walk and is returned.
	Audit(ctx context.Context, since time.Time, fn func(AuditRecord) error) error
	// VerifyAudit walks the whole chain and returns the first broken link as
	// a *BrokenChainError.
	VerifyAudit(ctx context.Context) (AuditSummary, error)
}

// AuditSummary describes a verified audit log.
type AuditSummary struct {
	Records uint64
	Head    string // hash of the last record
}

// BrokenChainError reports the first audit record that does not verify.
type BrokenChainError struct {
	Seq    uint64
	Reason string
}

func (e *BrokenChainError) Error() string {
	return fmt.Sprintf("audit log broken at record %d: %s", e.Seq, e.Reason)
}

// ChatState is what chat platforms must remember across restarts: the
// messages sent about a request (to update them later) and the contacts
// that let a platform write to a person first (a Teams conversation
// reference and the account an email is bound to). Contact data is opaque
// to everyone but the platform that wrote it.
type ChatState interface {
	AddMessageRef(ctx context.Context, requestID RequestID, ref MessageRef) error
	// MessageRefs returns the messages sent about a request, oldest first.
	MessageRefs(ctx context.Context, requestID RequestID) ([]MessageRef, error)
	PutContact(ctx context.Context, platform, key string, data []byte) error
	// Contact returns what PutContact stored, or ENOTFOUND.
	Contact(ctx context.Context, platform, key string) ([]byte, error)
	// DeleteContact removes a contact and appends evs to the audit log in the
	// same transaction; ENOTFOUND, and nothing recorded, when there is none.
	DeleteContact(ctx context.Context, platform, key string, evs ...Event) error
}

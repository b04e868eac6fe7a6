package flows

import "time"

// EventType names something that happened to a request (a few, to no request).
// Events are what the audit log records and what the chat adapters turn into
// messages.
type EventType string

// Event types.
const (
	EventSubmitted              EventType = "submitted"
	EventApprovalRecorded       EventType = "approval_recorded" // one approval, quorum not reached yet
	EventApproved               EventType = "approved"
	EventAutoApproved           EventType = "auto_approved"
	EventDenied                 EventType = "denied"
	EventCancelled              EventType = "cancelled"
	EventTimedOut               EventType = "timed_out"
	EventProvisioning           EventType = "provisioning"
	EventProvisionRetry         EventType = "provision_retry"
	EventProvisionFailed        EventType = "provision_failed"
	EventApplyDelayed           EventType = "apply_delayed" // Atlas is slow to apply; credentials follow
	EventActivated              EventType = "activated"
	EventReminder               EventType = "reminder"
	EventExtensionRequested     EventType = "extension_requested"
	EventExtensionDenied        EventType = "extension_denied"
	EventExtended               EventType = "extended"
	EventBackstopMoved          EventType = "backstop_moved"
	EventCredentialsRotated     EventType = "credentials_rotated"
	EventCredentialsUndelivered EventType = "credentials_undelivered"
	EventRevoking               EventType = "revoking"
	EventRevokeRetry            EventType = "revoke_retry"
	EventRevokeFailed           EventType = "revoke_failed"
	EventExpired                EventType = "expired"
	EventRevoked                EventType = "revoked"
	EventOrphanDeleted          EventType = "orphan_deleted"
	EventGrantMissing           EventType = "grant_missing"
	// EventGrantFinding: a provisioner tells the admins what it found of a
	// grant (a role someone else gave during it, kept; what a person made
	// with a role that lets them create standing access).
	EventGrantFinding EventType = "grant_finding"
	// EventContactForgotten: an admin had a person's chat contact (and the account it was
	// bound to) forgotten. It is about no request and tells nobody: the audit log records it.
	EventContactForgotten EventType = "contact_forgotten"
	// EventIdentityFinding: what the identity provider's binding of chat
	// accounts tells the admins (a binding to approve, one removed and the
	// access it revoked). About no request: it tells the admins.
	EventIdentityFinding EventType = "identity_finding"
	// EventAccessReview: the monthly summary of who held which grant
	// (jitbot report), for the admins. About no request.
	EventAccessReview EventType = "access_review"
	// EventStoreAlarm: the store cannot take writes (etcd's NOSPACE
	// alarm), or could not for a while. About no request: it tells the
	// admins.
	EventStoreAlarm EventType = "store_alarm"
)

// SystemActor is the actor of events that jitbot causes by itself.
const SystemActor = "jitbot"

// Event records one thing that happened. It never holds a secret.
type Event struct {
	Type      EventType
	RequestID RequestID
	Actor     string // an email, or SystemActor
	At        time.Time
	From, To  State
	Message   string        // a reason, or what went wrong; safe to show
	Duration  time.Duration // the extension asked for or granted
	Extension int           // the extension number the event is about; 0 for the request itself
	Attempt   int
	Tier      int    // the escalation tier reached (EventEscalated); 0 otherwise
	Principal string // what the grant created in Atlas (a database user's name), for grant events
	// Keeper names the replica whose memory holds the credentials the
	// event announces (Config.Replica), "" with one replica: only it can
	// send them while it lives.
	Keeper string
	// Ends is the end the event gave the grant (EventExtended), zero
	// otherwise: its notice says when access ends as of that extension, not
	// as of a later one it may be sent after.
	Ends time.Time
}

// AuditRecord is an event as kept in the audit log: numbered and chained to
// the previous record by hash, so that a change to any record is detectable.
type AuditRecord struct {
	Seq      uint64
	Event    Event
	PrevHash string
	Hash     string
}

package flows

import (
	"context"
	"time"
)

// Store keeps requests, their indexes and the audit log. Every change to a
// request goes through Update, which runs fn on the current request inside one
// transaction and appends the events fn returns to the audit log in that same
// transaction; if fn fails nothing is written. That makes each transition a
// compare-and-set: fn sees the state as it is, not as it was when a click was
// rendered.
type Store interface {
	// Create inserts a new request with its first event. When idempotencyKey is
	// not empty and a request was already created with it, Create returns that
	// request and created=false, writing nothing.
	Create(ctx context.Context, r *Request, ev Event, idempotencyKey string) (stored *Request, created bool, err error)
	// Update applies fn to the request with the given id; ENOTFOUND if none.
	Update(ctx context.Context, id string, fn func(r *Request) ([]Event, error)) (*Request, error)
	Get(ctx context.Context, id string) (*Request, error)
	Find(ctx context.Context, q Query) ([]*Request, error)
	// Due returns the ids of requests whose DueAt is at or before t, earliest first.
	Due(ctx context.Context, t time.Time, limit int) ([]string, error)
	// Expiring returns active requests whose ExpiresAt is at or before t, earliest first.
	Expiring(ctx context.Context, t time.Time, limit int) ([]*Request, error)
	// AppendEvents records events that change no request (reconcile findings).
	AppendEvents(ctx context.Context, evs ...Event) error
}

// Query selects requests. Requester, Approver and IdempotencyKey pick an index;
// States filters. Results are newest first.
type Query struct {
	Requester      string  // requests made by this person
	Approver       string  // requests (or extensions) waiting on this person's approval
	IdempotencyKey string  // the request created with this key
	States         []State // any of these states; empty means all
	Limit          int     // 0 means no limit
}

// Grant is what the Provisioner needs to know about a temporary Atlas user.
type Grant struct {
	RequestID   string
	Integration string
	Requester   string
	Username    string
	Resource    Resource
	Role        string
	ExpiresAt   time.Time // when jitbot will revoke it
	BackstopAt  time.Time // when Atlas deletes it by itself (deleteAfterDate)
}

// Credentials are handed to the requester once, privately, and never stored.
type Credentials struct {
	Username         string
	Password         Secret
	ConnectionString string
	AccessDetails    string // the integration's instructions, placeholders filled in
}

// Provisioner creates and removes temporary database identities. Every method
// is idempotent: Create on a user that already exists and is ours resets its
// password and settings and returns new credentials; Delete of a user that is
// gone succeeds. Errors are *Error: EUNAVAILABLE means retrying may help.
type Provisioner interface {
	Create(ctx context.Context, g Grant) (Credentials, error)
	// WaitApplied returns once the change is live (Atlas says APPLIED), or
	// ErrNotApplied after a bounded wait.
	WaitApplied(ctx context.Context, g Grant) error
	// SetBackstop moves the server-side deletion date to g.BackstopAt.
	SetBackstop(ctx context.Context, g Grant) error
	// Rotate gives the user a new password.
	Rotate(ctx context.Context, g Grant) (Credentials, error)
	Delete(ctx context.Context, g Grant) error
}

// ErrNotApplied says Atlas has not applied a user change yet.
var ErrNotApplied = &Error{Code: EUNAVAILABLE, Message: "Atlas has not applied the change yet"}

// Inventory lists the users jitbot manages in an integration, for reconcile.
type Inventory interface {
	ManagedUsers(ctx context.Context, integration string) ([]ManagedUser, error)
}

// ManagedUser is a database user labelled as jitbot's.
type ManagedUser struct {
	Username  string
	RequestID string
}

// Catalog tells which clusters an integration has and who owns them.
type Catalog interface {
	Clusters(ctx context.Context, integration string) ([]Cluster, error)
}

// Cluster is one cluster as the catalog sees it.
type Cluster struct {
	Name string
	// Owners are the tokens of the cluster's owner tag: emails or group:<name>.
	Owners []string
	// Databases offered for requests, with their collections (hints from
	// configuration: the Atlas Admin API cannot list collections).
	Databases map[string][]string
}

// Notifier tells people what happened. It receives every event; To lists the
// people the domain wants told directly, and Credentials are set only on the
// notice that hands them to the requester. Adapters also use notices to
// update the approval cards they sent earlier.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Notice is one event and its consequences for people.
type Notice struct {
	Event       Event
	Request     *Request // the request after the event; nil for events about no request
	To          []string
	Credentials *Credentials
}

// MessageRef points at a message a chat adapter sent about a request (an
// approval card, say), so that it can be updated after a decision, an expiry
// or a restart. The fields are opaque to everyone but the adapter that wrote
// them.
type MessageRef struct {
	Platform     string // "slack", "teams"
	Conversation string // Slack channel id; Teams conversation id
	ID           string // Slack message ts; Teams activity id
	Recipient    string // the person or channel it was sent to
	Kind         string // what the message is, e.g. "approval"
	ServiceURL   string // Teams only: where the conversation lives
}

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
	// CreateChecked is Create on condition that check accepts the
	// requester's live requests (every request of r.Requester in a state
	// that is not terminal, newest first) as they are when r is written,
	// so that a rule on a person's requests (one at a time per target, a
	// cap) holds however many processes create requests at once. When
	// check fails nothing is written and its error is returned. check may
	// run more than once (a store that shares commits, or loses a race to
	// another process, reads again); a request already created with the
	// idempotency key is answered as Create answers it, without check.
	CreateChecked(ctx context.Context, r *Request, ev Event, idempotencyKey string, check func(live []*Request) error) (stored *Request, created bool, err error)
	// Update applies fn to the request with the given id; ENOTFOUND if none.
	// fn may be called more than once (a store that shares commits runs it
	// again when another writer's failure rolls their transaction back):
	// only the last call counts, so fn must derive all it reports from r.
	Update(ctx context.Context, id RequestID, fn func(r *Request) ([]Event, error)) (*Request, error)
	// UpdateMany is Update for each of ids, in order, in one transaction:
	// many transitions for the cost of one commit (a sweep of 100 due
	// grants must not cost 100 fsyncs). Each request stands alone: when one
	// is missing (ENOTFOUND) or fn refuses it, its error is errs[i], its
	// request nil and nothing of it is written, and the others are written
	// all the same. err is for the whole (nothing written); otherwise
	// updated and errs have one entry per id. fn may be called more than
	// once per request, as for Update.
	UpdateMany(ctx context.Context, ids []RequestID, fn func(r *Request) ([]Event, error)) (updated []*Request, errs []error, err error)
	Get(ctx context.Context, id RequestID) (*Request, error)
	Find(ctx context.Context, q Query) ([]*Request, error)
	// Due returns the ids of requests whose DueAt is at or before t, earliest first.
	Due(ctx context.Context, t time.Time, limit int) ([]RequestID, error)
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

// Grant is what a provisioner needs to know about one grant.
type Grant struct {
	RequestID   RequestID
	Kind        Kind
	Integration string
	Requester   string
	// Principal is the identity the grant creates or changes in Atlas (a
	// database user's name), fixed before the first create (KindSpec.Principal).
	Principal string
	Resource  Resource // the target, as the kind names it
	Roles     []string
	ExpiresAt time.Time // when jitbot will revoke it
	// BackstopAt is when Atlas removes it by itself (a database user's
	// deleteAfterDate); zero for a kind without a Backstopper.
	BackstopAt time.Time
	// Auth is how a database user signs in (password, OIDC, AWS IAM).
	Auth DatabaseAuth
	// Attempt is the request's provisioning attempt as read
	// (Request.Attempts): a provisioner that finds what an attempt made
	// tells a later one's from an earlier one's by it, and an attempt that
	// lost the request to a later one (its replica cut off from the store)
	// must not overwrite what the later one made.
	Attempt int
	// Holders are the other live grants of the same target, for a kind whose
	// grants share what they create (KindSpec.SharedTarget): Delete keeps it
	// while any holds it, and its backstop is the latest of theirs. Set for
	// Create, Delete and SetBackstop, read under a lock on the target so
	// that no holder comes or goes meanwhile.
	Holders []Grant
	// State is what the provisioner last recorded of the grant through
	// Journal (Request.GrantState), as read when the service called it.
	State string
	// Journal keeps State on the request and tells the admins what the
	// provisioner found; nil when the grant belongs to no request.
	Journal Journal
}

// Provisioner creates and removes the grants of one kind. Every method is
// idempotent: Create of a grant that already exists and is ours brings it in
// line with g (and hands out a new secret, if the kind has one); Delete of a
// grant that is gone succeeds. Errors are *Error: EUNAVAILABLE means
// retrying may help.
//
// What only some kinds can do is an optional interface beside it
// (ApplyWaiter, Backstopper, Reissuer, Extender, Inventory): the service
// finds it by type assertion and does without it when it is missing.
type Provisioner interface {
	Create(ctx context.Context, g Grant) (Credentials, error)
	Delete(ctx context.Context, g Grant) error
}

// ApplyWaiter is a provisioner whose changes take effect some time after
// Create returns (Atlas applies a database user to its clusters, and until
// it says APPLIED the user cannot log in). The credentials go out, and the
// grant's clock starts, only once WaitApplied returns.
type ApplyWaiter interface {
	// WaitApplied returns once the change is live, or ErrNotApplied after a
	// bounded wait (the service tries again later).
	WaitApplied(ctx context.Context, g Grant) error
}

// Backstopper is a provisioner whose grants Atlas removes by itself at a
// date given on creation (a database user's deleteAfterDate), should jitbot
// fail to. Create honours g.BackstopAt; SetBackstop moves it. The service
// sets backstops, and moves them on extension, only for such kinds.
type Backstopper interface {
	SetBackstop(ctx context.Context, g Grant) error
}

// Reissuer is a provisioner whose grants carry a secret that can be replaced
// (a new password, a new key): how a requester who lost the credentials
// message gets working ones, and how secrets are rotated. Every kind that
// hands out a secret should have one. Reissue returns once the old secret
// no longer works.
type Reissuer interface {
	Reissue(ctx context.Context, g Grant) (Credentials, error)
}

// Extender is a provisioner that must act when a grant is extended (a
// server-side expiry of its own to push back). Extend runs after the new
// expiry is recorded, with g.ExpiresAt set to it; jitbot revokes at that
// expiry whatever Extend does, so a failure is logged, not undone.
type Extender interface {
	Extend(ctx context.Context, g Grant) error
}

// ErrNotApplied says Atlas has not applied a change yet.
var ErrNotApplied = &Error{Code: EUNAVAILABLE, Message: "Atlas has not applied the change yet"}

// Inventory is a provisioner that can list what jitbot made of its kind in
// an integration, for reconcile: anything no live grant explains is removed.
type Inventory interface {
	ManagedGrants(ctx context.Context, integration string) ([]ManagedGrant, error)
}

// ManagedGrant is one thing in Atlas labelled as jitbot's (a database user).
type ManagedGrant struct {
	Principal string
	RequestID RequestID
	// Where is where Atlas holds it, as far as the integration needs it said:
	// in an organization-wide integration the project (Project, ProjectID).
	Where Resource
	// Auth is how a database user signs in (password, OIDC, AWS IAM).
	Auth DatabaseAuth
	// Attempt is the request's provisioning attempt as read
	// (Request.Attempts): a provisioner that finds what an attempt made
	// tells a later one's from an earlier one's by it, and an attempt that
	// lost the request to a later one (its replica cut off from the store)
	// must not overwrite what the later one made.
	Attempt int
	// Foreign marks what exists in Atlas but jitbot did not make (an
	// access-list entry someone added by hand, which grants of its address
	// use as it is): it explains those grants, and is never deleted.
	Foreign bool
	// Person and Roles describe roles jitbot gave a person's own Atlas
	// account, which Atlas cannot label: RequestID is then empty, and any
	// live grant of Person's own of the kind, at Where, with the roles
	// explains them (reconcile_person.go).
	Person string
	Roles  []string
}

// Provisioners maps each kind of grant to its provisioner: the registry a
// service is built with (Deps). It refuses a policy whose flows name a kind
// missing here.
type Provisioners map[Kind]Provisioner

// Catalog tells which clusters an integration has and who owns them. An
// organization-wide integration has the clusters of every project of its
// organization (each naming its project), an integration of one project
// those of its project.
type Catalog interface {
	Clusters(ctx context.Context, integration string) ([]Cluster, error)
}

// Cluster is one cluster as the catalog sees it.
type Cluster struct {
	Name string
	// ID is the cluster's Atlas id (empty when the catalog does not know it).
	ID string
	// Project is the name of the cluster's project in an organization-wide
	// integration (empty otherwise); ProjectID its id, whenever known. Names
	// may change in Atlas (a project renamed), ids do not.
	Project   string
	ProjectID string
	// Tags are the cluster's Atlas tags and ProjectTags its project's: what
	// flows select by with tag: patterns.
	Tags        []Tag
	ProjectTags []Tag
	// Owners are the tokens of the cluster's owner tag: emails or group:<name>.
	Owners []string
	// Databases offered for requests, with their collections (hints from
	// configuration: the Atlas Admin API cannot list collections).
	Databases map[string][]string
}

// Locks serialise work on one key among every process that shares the
// store (replicas on etcd), for what one store transaction cannot cover:
// a provisioner's calls on a target several grants share, made from the
// holders read under the same lock (shared.go). A store one process
// serves needs none: Deps.Locks nil locks in that process.
type Locks interface {
	// Lock waits until key is the caller's, or ctx ends (the error);
	// unlock gives it back. A process that dies holding a lock loses it
	// within the store's lease.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Notifier is told of every event after it is committed, with the people
// the domain wants told directly (To). It tells nobody anything: the outbox
// reads the committed events from the audit log and delivers them (DESIGN
// §4), so a Notifier only observes (metrics, waking the dispatcher) and its
// error is only logged. A notice never carries a secret.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Notice is one event and its consequences for people. Credentials are set
// only when the chat engine renders the message that hands them over, from
// the SecretKeeper; flows never sets them.
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

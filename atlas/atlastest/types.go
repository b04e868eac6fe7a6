package atlastest

import (
	"log/slog"
	"time"
)

// Clock tells the simulator what time it is. It drives deleteAfterDate checks, the automatic
// deletion of expired users, the rate limiter's refills and ApplyDelay, so tests can move time
// with a fake.
type Clock interface{ Now() time.Time }

// Reporter receives the simulator's complaints about the requests it is sent; *testing.T
// satisfies it, so a request that breaks the spec fails the test that sent it.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Atlas project roles, as the API names them. Every project role includes Project Read Only.
const (
	RoleProjectOwner        = "GROUP_OWNER"
	RoleDatabaseAccessAdmin = "GROUP_DATABASE_ACCESS_ADMIN"
	RoleReadOnly            = "GROUP_READ_ONLY"
	RoleClusterManager      = "GROUP_CLUSTER_MANAGER"
	RoleDataAccessAdmin     = "GROUP_DATA_ACCESS_ADMIN"
)

// Default credentials, used when Options names none. They are not secrets: the simulator
// only ever listens on loopback.
const (
	DefaultPublicKey    = "jitbotpub"
	DefaultPrivateKey   = "00000000-0000-4000-8000-000000000000"
	DefaultClientID     = "mdb_sa_id_000000000000000000000000"
	DefaultClientSecret = "mdb_sa_sk_000000000000000000000000"
	// DefaultOrgID is the organization every simulated project belongs to.
	DefaultOrgID = "5f0000000000000000000000"
)

// defaultRoles are the roles of the credentials given by Options.PublicKey and
// Options.ClientID: what jitbot needs, nothing more (least privilege).
func defaultRoles() []string { return []string{RoleDatabaseAccessAdmin, RoleReadOnly} }

// Credential is an API key pair (ID = public key, Secret = private key) or a service account
// (ID = client ID, Secret = client secret) with the Atlas project roles it holds in every
// simulated project.
type Credential struct {
	ID     string
	Secret string
	Roles  []string
}

// Options configures a Server. Every field is optional.
type Options struct {
	// Clock defaults to the real time.
	Clock Clock

	// PublicKey and PrivateKey form an API key with Roles (default: Project Database Access
	// Admin and Project Read Only). When neither they nor APIKeys are set, DefaultPublicKey and
	// DefaultPrivateKey are used.
	PublicKey, PrivateKey string
	// ClientID and ClientSecret form a service account with Roles. When neither they nor
	// ServiceAccounts are set, DefaultClientID and DefaultClientSecret are used.
	ClientID, ClientSecret string
	// Roles of the PublicKey and ClientID credentials.
	Roles []string
	// APIKeys and ServiceAccounts add further credentials, each with its own roles.
	APIKeys         []Credential
	ServiceAccounts []Credential
	// TokenTTL is the lifetime of issued access tokens (Atlas: one hour). Token expiry uses
	// the real time, like the OAuth client that caches them: a fake clock jumping hours ahead
	// would otherwise expire tokens the client still believes valid, which cannot happen
	// against the real Atlas.
	TokenTTL time.Duration

	// ApplyDelay keeps a project's change status PENDING for this long (by Clock) after each
	// database user change; ApplyAfterPolls keeps it PENDING for that many GetClusterStatus
	// calls. With both, the status turns APPLIED when both have passed.
	ApplyDelay      time.Duration
	ApplyAfterPolls int

	// UserCap is the number of database users a project may hold (Atlas: 100).
	UserCap int

	// OrgID is the organization reported for projects (default DefaultOrgID).
	OrgID string

	// T, when set, receives an Errorf for every request that breaks the spec, every response
	// of the simulator that breaks it, and every call to an operation it does not implement.
	T Reporter
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Spec defaults to SharedSpec().
	Spec *Spec
}

// Tag is a cluster's resource tag.
type Tag struct{ Key, Value string }

// Label is a database user's label (Atlas ComponentLabel).
type Label struct{ Key, Value string }

// Cluster is a simulated cluster. Only Name is required.
type Cluster struct {
	Name string
	Tags []Tag
	// StandardSrv is the mongodb+srv:// connection string; Standard the mongodb:// one.
	// Both default to addresses derived from the name.
	StandardSrv string
	Standard    string
	// StateName defaults to IDLE.
	StateName string
	Paused    bool
	// MongoDBVersion defaults to 8.0.4.
	MongoDBVersion string
}

// Role is one role of a database user.
type Role struct {
	RoleName       string
	DatabaseName   string
	CollectionName string
}

// Scope limits a database user to a cluster (Type CLUSTER), data lake or stream instance.
type Scope struct{ Name, Type string }

// User is a snapshot of a database user. The password itself is never kept: see
// Server.CheckPassword.
type User struct {
	Username        string
	DatabaseName    string
	Roles           []Role
	Scopes          []Scope
	Labels          []Label
	Description     string
	DeleteAfterDate time.Time // zero when unset
	AWSIAMType      string
	LDAPAuthType    string
	OIDCAuthType    string
	X509Type        string
	HasPassword     bool
	// PasswordChanges counts how many times an update set a new password.
	PasswordChanges int
	// Created and Updated are simulator clock times.
	Created time.Time
	Updated time.Time
}

// Label returns the value of the user's label key and whether it is set.
func (u User) Label(key string) (string, bool) {
	for _, l := range u.Labels {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

func (u User) clone() User {
	u.Roles = append([]Role(nil), u.Roles...)
	u.Scopes = append([]Scope(nil), u.Scopes...)
	u.Labels = append([]Label(nil), u.Labels...)
	return u
}

// Call is one HTTP request the simulator received.
type Call struct {
	Time        time.Time // simulator clock
	Method      string
	Path        string
	Query       string
	OperationID string // spec operationId, or "oauthToken" / "oauthRevoke"; "" for unknown paths
	Status      int    // 0 when the connection was dropped
	// Principal is the API public key or service account client ID that authenticated the
	// request; empty when authentication was missing or failed.
	Principal string
	// Challenge marks an unauthenticated request answered with a Digest challenge: the SDK's
	// digest transport sends one before every real call.
	Challenge bool
	// Fault names the injected fault or rate limit that answered the call, if any.
	Fault string
	// ErrorCode is the Atlas errorCode of an error response.
	ErrorCode string
	Duration  time.Duration
}

// FaultKind says what an injected Fault does.
type FaultKind int

// Fault kinds.
const (
	// FaultLatency delays the call by Fault.Latency, then serves it normally.
	FaultLatency FaultKind = iota + 1
	// FaultRateLimited answers 429 RATE_LIMITED with Retry-After.
	FaultRateLimited
	// FaultServerError answers 500 UNEXPECTED_ERROR.
	FaultServerError
	// FaultUnavailable answers 503 SERVICE_UNAVAILABLE, with Retry-After when set.
	FaultUnavailable
	// FaultDrop closes the connection without answering. Go's http.Transport silently
	// retries an idempotent request (GET, DELETE without body...) once when a reused
	// connection is dropped, so use Times >= 2, or 0, to make a GET fail.
	FaultDrop
)

func (k FaultKind) String() string {
	switch k {
	case FaultLatency:
		return "latency"
	case FaultRateLimited:
		return "rate_limited"
	case FaultServerError:
		return "server_error"
	case FaultUnavailable:
		return "unavailable"
	case FaultDrop:
		return "drop"
	}
	return "unknown"
}

// Fault is an injected failure. Empty match fields match any API call. A fault applies to
// authenticated calls only (never to the Digest challenge leg), so that it hits each API call
// once whichever way the client authenticates. The OAuth token and revoke endpoints are hit
// only by faults naming them (OperationID "oauthToken" / "oauthRevoke", or their exact path).
type Fault struct {
	// Method matches the HTTP method (e.g. "DELETE").
	Method string
	// Path matches the request path exactly, the spec's path template
	// ("/api/atlas/v2/groups/{groupId}/databaseUsers"), or a path.Match glob of either.
	Path string
	// OperationID matches the spec operationId ("deleteDatabaseUser").
	OperationID string

	Kind FaultKind
	// Latency delays the call; for kinds other than FaultLatency the delay comes before the
	// failure.
	Latency time.Duration
	// RetryAfter is the Retry-After value in seconds (FaultRateLimited: default 1).
	RetryAfter int
	// Times is how many calls the fault hits; 0 means until ClearFaults.
	Times int
}

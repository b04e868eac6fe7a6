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
// (ID = client ID, Secret = client secret) with the Atlas roles it holds. Roles hold in every
// simulated project and organization: project roles (GROUP_...) in every project,
// organization roles (ORG_...) in every organization. ProjectRoles adds roles in one project
// each.
//
// As in Atlas, an organization role reaches into the organization's projects: Organization
// Owner may do anything there, Organization Read Only reads every project (Project Read
// Only), and Organization Member sees through getOrgGroups only the projects it holds a role
// in.
type Credential struct {
	ID           string
	Secret       string
	Roles        []string
	ProjectRoles map[string][]string // project id → roles
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

// Tag is a project's or a cluster's resource tag.
type Tag struct{ Key, Value string }

// Organization is a simulated Atlas organization. Projects belong to one; the organization
// of Options.OrgID (DefaultOrgID) always exists.
type Organization struct {
	ID   string // 24 hex digits
	Name string // defaults to "org-<id>"
}

// Project is a simulated project, for SetProject.
type Project struct {
	ID   string // 24 hex digits
	Name string // defaults to "project-<id>"
	// OrgID is the organization holding the project (default: Options.OrgID). The
	// organization is created if needed.
	OrgID string
	Tags  []Tag
}

// Cluster tiers beyond the dedicated default (M10).
const (
	// TierFree is a shared-tier (M0) cluster: listClusters shows it with providerName TENANT
	// and the monitoring API has no process of it. M2 and M5 behave alike.
	TierFree = "M0"
	// TierFlex is a Flex cluster: only listFlexClusters shows it, and the monitoring API has
	// no process of it.
	TierFlex = "FLEX"
)

// Atlas organization roles.
const (
	RoleOrgOwner      = "ORG_OWNER"
	RoleOrgMember     = "ORG_MEMBER"
	RoleOrgReadOnly   = "ORG_READ_ONLY"
	RoleOrgGroupMaker = "ORG_GROUP_CREATOR"
)

// OrgUser is an Atlas user of an organization: a person who signs in to the Atlas UI (a
// "MongoDB Cloud user"), as opposed to a database user.
type OrgUser struct {
	// ID is the user's 24-hex-digit id; AddOrgUser assigns one when empty.
	ID       string
	Username string // an email address
	// FirstName and LastName default to parts of the username.
	FirstName, LastName string
	// Pending marks a user who was invited and has not accepted yet.
	Pending bool
	// OrgRoles default to ORG_MEMBER.
	OrgRoles []string
	// ProjectRoles are the user's roles per project id: its project memberships.
	ProjectRoles map[string][]string
}

func (u OrgUser) clone() OrgUser {
	u.OrgRoles = append([]string(nil), u.OrgRoles...)
	pr := make(map[string][]string, len(u.ProjectRoles))
	for g, roles := range u.ProjectRoles {
		pr[g] = append([]string(nil), roles...)
	}
	u.ProjectRoles = pr
	return u
}

// Event types the simulator records (Atlas's names).
const (
	EventJoinedGroup      = "JOINED_GROUP"
	EventInvitedToGroup   = "INVITED_TO_GROUP"
	EventRemovedFromGroup = "REMOVED_FROM_GROUP"
	EventUserRolesChanged = "USER_ROLES_CHANGED_AUDIT"
	EventJoinedOrg        = "JOINED_ORG"
	EventInvitedToOrg     = "INVITED_TO_ORG"
	EventRemovedFromOrg   = "REMOVED_FROM_ORG"
)

// Event is one entry of a project's or an organization's event log: what listGroupEvents and
// listOrgEvents answer. Role changes through the API record who made them (Actor).
type Event struct {
	ID        string
	Type      string
	Created   time.Time // simulator clock
	OrgID     string
	ProjectID string // empty for an organization's event
	// Actor made the change: the API key's public key or the service account's client id;
	// empty for changes made through the Go helpers.
	Actor string
	// Username is the person who made the change in the Atlas UI (AsUser, RecordUserEvent),
	// instead of an API credential: listed as the event's username and userId.
	Username string
	// DBUser, AccessListEntry and APIKey name what a person's change created (a database
	// user, an IP access-list entry, an API key): dbUserUsername, whitelistEntry and
	// targetPublicKey.
	DBUser, AccessListEntry, APIKey string
	// TargetUsername is the Atlas user the change was about.
	TargetUsername string
	// Added and Removed are the roles the change gave and took away. Atlas keeps these in
	// the event's raw document only; tests read them here.
	Added, Removed []string
}

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
	// PrivateSrv and Private are the network-peering connection strings, which Atlas lists
	// only once a peering connection exists (on AWS, only with custom DNS): empty, the
	// cluster has none. PrivateEndpoints are its private-endpoint connection strings, which
	// Atlas lists only once endpoints serve every region of the cluster.
	PrivateSrv, Private string
	PrivateEndpoints    []PrivateEndpoint
	// StateName defaults to IDLE.
	StateName string
	Paused    bool
	// MongoDBVersion defaults to 8.0.4.
	MongoDBVersion string
	// ID is the cluster's 24-hex-digit id; by default it is derived from the project id and
	// the name, so that it stays the same when the cluster is replaced.
	ID string
	// Tier is the instance size: "" is M10 (dedicated), TierFree (M0, M2, M5) a shared-tier
	// cluster, TierFlex a Flex cluster. Dedicated clusters are replica sets of three
	// processes, which the monitoring API lists (listGroupProcesses, listDatabases).
	Tier string
	// Provider and Region say where the cluster runs (AWS, US_EAST_1).
	Provider, Region string
	// Databases are the databases the cluster holds besides admin, local and config: what
	// listDatabases answers for each of its processes (dedicated clusters only). See also
	// AddProcessDatabases.
	Databases []string
}

// shared reports whether the cluster is a shared-tier or Flex one, without processes the
// monitoring API could show.
func (c Cluster) shared() bool { return c.flex() || isTenantSize(c.Tier) }

func isTenantSize(tier string) bool { return tier == "M0" || tier == "M2" || tier == "M5" }

func (c Cluster) flex() bool { return c.Tier == TierFlex }

// PrivateEndpoint is one private-endpoint connection string of a cluster
// (connectionStrings.privateEndpoint[]) and the endpoints it goes through.
type PrivateEndpoint struct {
	SrvConnectionString, ConnectionString string
	// EndpointIDs are the cloud provider's ids of its endpoints (vpce-... on AWS).
	EndpointIDs []string
	// Provider and Region default to the cluster's.
	Provider, Region string
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

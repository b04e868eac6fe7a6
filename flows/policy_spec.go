package flows

import (
	"fmt"
	"strings"
	"time"
)

// PolicySpec is the access policy as written by admins (DESIGN §6), before
// validation. Durations are text so that errors can quote what was written.
// Decoding a file into a PolicySpec is the config loader's job; everything that
// makes a policy right or wrong is checked here, by Compile.
type PolicySpec struct {
	Admins       []string
	Groups       map[string][]string
	Integrations []IntegrationSpec
	Flows        []FlowSpec
}

// IntegrationSpec describes one Atlas project, or (OrganizationID instead
// of ProjectID) every project of one Atlas organization.
type IntegrationSpec struct {
	Name           string
	ProjectID      string
	OrganizationID string   // an organization-wide integration: resources name the project
	Owners         []string // principals: user:<email>, group:<name> or a bare email
	OwnerTag       string   // the cluster tag whose value names the resource owners
	AccessDetails  string   // shown with the credentials of the kinds they suit (KindSpec.AccessDetails); $USERNAME, $CONNECTION_STRING and $DATABASE are replaced
	// OIDCIdentityProviderID is the Atlas id of the project's workforce
	// identity provider (Atlas federation settings), which names its OIDC
	// database users: <id>/<IdP user name>. Needed by flows with auth: oidc.
	OIDCIdentityProviderID string
	// APIKeyOwner says an Organization Owner credential is configured for
	// the integration beside its own (the atlas section's org_owner), as
	// flows of programmatic API keys need: deleting an API key takes one.
	APIKeyOwner bool
}

// FlowSpec describes one access flow.
type FlowSpec struct {
	Name        string
	Kind        string // what it grants (a Kind); empty: database_user
	Integration string
	Requesters  []string // "*", user:<email>, group:<name> or a bare email
	// Resources are globs relative to the integration, in the kind's
	// grammar: cluster[/database[/collection]], with the project first in an
	// organization-wide integration (project/cluster[/database[/collection]]).
	// A project or cluster part may select by Atlas tag instead of name:
	// tag:env=prod (see tags.go), so that a new project or cluster is
	// covered without a change to the policy. A project part also matches
	// the project's id.
	Resources              []string
	Roles                  []string // roles of the kind
	DefaultDuration        string
	MaxDuration            string
	Approvers              []string // owners, integration-owners, user:<email>, group:<name>
	Approvals              int
	AutoApprove            bool
	RequireReason          bool
	ExtendRequiresApproval bool
	PendingTTL             string
	ApprovalsChannel       string

	// Reminders and escalation of a pending request (escalate.go):
	// RemindAfter reminds the approvers who have not decided, every
	// RemindAfter while the request waits; each Escalation tier adds
	// approvers (and tells a channel) once the request has waited its After.
	RemindAfter string
	Escalation  []EscalationSpec

	// Conditions (conditions.go): a reason the request must match (a
	// regular expression, such as a ticket key) and what to tell a
	// requester whose reason does not.
	ReasonPattern string
	ReasonMessage string
	// ApprovalsFrom asks for approvals from each of several groups.
	ApprovalsFrom []GroupApprovalSpec
	// OnCall names on-call schedules or escalation policies whose people
	// on call approve (oncall.go); Ticket asks the reason for a ticket
	// (tickets.go).
	OnCall *OnCallSpec
	Ticket *TicketSpec
	// Hours is a working-hours window and what happens outside it (hours.go).
	Hours *HoursSpec
	// BreakGlass makes the flow a break-glass flow (breakglass.go).
	BreakGlass *BreakGlassSpec

	// Database users without a password (kind database_user;
	// passwordless.go): Auth is password (the default), oidc or aws_iam;
	// OIDCUsername the identity provider's name for the requester, a
	// template ({email} by default); AWSIAMARN the IAM role or user of the
	// requester, a template (arn:aws:iam::123456789012:role/dba-{local_part}).
	Auth         string
	OIDCUsername string
	AWSIAMARN    string

	// Network access (kind access_list_entry; network.go): the ranges an
	// address must fall inside, the widest range one request may open per
	// IP version (a prefix length: 24 allows /24 to /32; by default a single
	// address), and whether an address outside the ranges may be asked for
	// when it is public, with one more approval than the flow's usual count.
	AllowedCIDRs   []string
	WidestPrefixV4 int
	WidestPrefixV6 int
	AllowPublic    bool

	// Atlas UI access (kind atlas_ui; kind_ui.go): AllowStandingAccess opts
	// in, by name, to roles that let a person create access outliving the
	// grant (GROUP_DATABASE_ACCESS_ADMIN...); each must be among Roles.
	AllowStandingAccess []string

	// Programmatic API keys (kind api_key; kind_programmatic.go): Atlas
	// gives them no expiry, so a flow must accept that jitbot alone
	// removes them.
	AcceptNoBackstop bool

	// StepUp requires a fresh multi-factor sign-in to approve (stepup.go).
	StepUp *StepUpSpec

	// ThirdParty lets sponsors ask for access for a guest outside the
	// company (thirdparty.go).
	ThirdParty *ThirdPartySpec
}

// FieldError is one problem in a policy, with the path of the field at fault
// (for example flows[1].max_duration) so the loader can point at the file line.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// ValidationError lists every problem found in a policy.
type ValidationError []FieldError

// Add records a problem at path. Every config section's Validate collects
// its problems with it.
func (v *ValidationError) Add(path, format string, args ...any) {
	*v = append(*v, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v ValidationError) Error() string {
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Defaults applied by Compile.
const (
	DefaultMaxDuration = 8 * time.Hour
	DefaultPendingTTL  = time.Hour
	DefaultOwnerTag    = "owner"
	maxAccessDetails   = 400
)

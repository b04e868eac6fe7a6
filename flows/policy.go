package flows

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Policy is a validated access policy. It never changes after Compile, except
// for the members of groups that include Slack user groups, which the chat
// adapter refreshes from Slack (SetSyncedMembers). A reload compiles a new
// one and puts it in force (Service.SetPolicy).
type Policy struct {
	admins       map[string]bool
	groups       map[string][]string // configured emails
	userGroups   map[string][]string // group -> Slack user group handles it includes
	integrations []*Integration
	flows        []*Flow
	kinds        []KindSpec // the kinds its flows may name, built-in ones first
	hash         string     // of the spec it was compiled from (Hash)

	mu     sync.RWMutex
	synced map[string][]string // group -> emails last read from its Slack user groups
}

// Integration is a validated Atlas project, or a validated Atlas
// organization whose projects it spans (OrganizationID set, ProjectID
// empty).
type Integration struct {
	Name           string
	ProjectID      string
	OrganizationID string
	Owners         []Principal
	OwnerTag       string
	AccessDetails  string
	// OIDCIdentityProviderID names the integration's OIDC database users
	// (IntegrationSpec.OIDCIdentityProviderID); empty: none.
	OIDCIdentityProviderID string
	// APIKeyOwner says the integration has the Organization Owner
	// credential programmatic API keys need (IntegrationSpec.APIKeyOwner).
	APIKeyOwner bool
}

// OrgWide reports whether the integration spans an organization's
// projects: its resources then name the project after the integration.
func (in *Integration) OrgWide() bool { return in.OrganizationID != "" }

// Flow is a validated access flow.
type Flow struct {
	// StepUp is what approving needs of a fresh sign-in (stepup.go).
	StepUp                 StepUp
	Name                   string
	Kind                   Kind // what it grants
	Integration            string
	Requesters             []Principal
	Resources              []string
	Roles                  []string
	DefaultDuration        time.Duration
	MaxDuration            time.Duration
	Approvers              []Principal
	Approvals              int
	AutoApprove            bool
	RequireReason          bool
	ExtendRequiresApproval bool
	PendingTTL             time.Duration
	ApprovalsChannel       string
	// RemindAfter and Escalation: reminders of the approvers and further
	// tiers of approvers for a request nobody decides on (escalate.go).
	RemindAfter time.Duration
	Escalation  []EscalationTier
	// ReasonPattern, when set, is what every reason must match, and
	// ReasonMessage what a requester is told when theirs does not
	// (conditions.go).
	ReasonPattern *regexp.Regexp
	ReasonMessage string
	// ApprovalsFrom: approvals needed from each of several groups.
	ApprovalsFrom []GroupApproval
	// OnCall makes the people on call approvers (oncall.go); Ticket asks
	// the reason for a ticket, checked in Jira (tickets.go). nil: neither.
	OnCall *OnCallRule
	Ticket *TicketRule
	// Hours is the flow's working-hours window (hours.go); nil: always open.
	Hours *Hours
	// BreakGlass marks a break-glass flow (breakglass.go): nil for others.
	BreakGlass *BreakGlass
	// ThirdParty lets sponsors ask for access for guests (thirdparty.go):
	// nil for others.
	ThirdParty *ThirdParty
	// Auth is how the database users of the flow sign in, and the templates
	// that name them (passwordless.go); zero for a password.
	Auth         DatabaseAuth
	OIDCUsername string
	AWSIAMARN    string
	// Network bounds what a network access flow may open (network.go); nil
	// for every other kind.
	Network *NetworkRules
	order   int
}

// PrincipalKind says what a principal names.
type PrincipalKind string

// Principal kinds. Owners and IntegrationOwners appear only among approvers.
const (
	Anyone            PrincipalKind = "*"
	User              PrincipalKind = "user"
	Group             PrincipalKind = "group"
	Owners            PrincipalKind = "owners"
	IntegrationOwners PrincipalKind = "integration-owners"
)

// Principal is a person, a group, or (for approvers) the owners of a resource.
type Principal struct {
	Kind PrincipalKind
	Name string // email for User, group name for Group
}

func (p Principal) String() string {
	switch p.Kind {
	case User, Group:
		return string(p.Kind) + ":" + p.Name
	}
	return string(p.Kind)
}

// Hash identifies the policy: the same spec (and kinds) always compiles to
// the same hash, and any change to it gives another. Requests record the
// hash of the policy they were routed under; the admin status and
// /metrics show the one in force.
func (p *Policy) Hash() string { return p.hash }

// Admins lists the policy's admins.
func (p *Policy) Admins() []string {
	out := make([]string, 0, len(p.admins))
	for a := range p.admins {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// IsAdmin reports whether the person is an admin.
func (p *Policy) IsAdmin(email string) bool { return p.admins[email] }

// Integration returns the named integration.
func (p *Policy) Integration(name string) (*Integration, bool) {
	for _, in := range p.integrations {
		if in.Name == name {
			return in, true
		}
	}
	return nil, false
}

// Integrations lists the integrations in file order.
func (p *Policy) Integrations() []*Integration { return slices.Clone(p.integrations) }

// Flows lists the flows in file order.
func (p *Policy) Flows() []*Flow { return slices.Clone(p.flows) }

// Channels lists the chat channels the flows post to, each once, in file
// order: their approvals channels, their escalation tiers' channels and
// their break-glass channels (with its review's tiers').
func (p *Policy) Channels() []string {
	var out []string
	add := func(c string) {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, f := range p.flows {
		add(f.ApprovalsChannel)
		for _, t := range f.Escalation {
			add(t.Channel)
		}
		if bg := f.BreakGlass; bg != nil {
			add(bg.Channel)
			for _, t := range bg.Escalation {
				add(t.Channel)
			}
		}
	}
	return out
}

// Kind returns the spec of a kind the policy knows.
func (p *Policy) Kind(k Kind) (KindSpec, bool) {
	i := slices.IndexFunc(p.kinds, func(s KindSpec) bool { return s.Kind == k })
	if i < 0 {
		return KindSpec{}, false
	}
	return p.kinds[i], true
}

// Kinds lists the kinds the policy knows, built-in ones first.
func (p *Policy) Kinds() []KindSpec { return slices.Clone(p.kinds) }

// kindIDs lists the kinds the policy knows, for messages.
func (p *Policy) kindIDs() string {
	ids := make([]string, len(p.kinds))
	for i, k := range p.kinds {
		ids[i] = string(k.Kind)
	}
	return strings.Join(ids, ", ")
}

// Flow returns the named flow.
func (p *Policy) Flow(name string) (*Flow, bool) {
	for _, f := range p.flows {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// GroupMembers returns the emails of a group: those configured and those
// last synced from its Slack user groups.
func (p *Policy) GroupMembers(name string) []string {
	return slices.Clone(p.expand(Principal{Kind: Group, Name: name}))
}

// UserGroups lists, per group, the Slack user group handles it includes.
func (p *Policy) UserGroups() map[string][]string {
	out := make(map[string][]string, len(p.userGroups))
	for g, hs := range p.userGroups {
		out[g] = slices.Clone(hs)
	}
	return out
}

// SetSyncedMembers records the members of a group's Slack user groups, as
// read from Slack. Until the first call the group has only its configured
// members; a failed refresh leaves the last good set in place.
func (p *Policy) SetSyncedMembers(group string, emails []string) error {
	if _, ok := p.userGroups[group]; !ok {
		return fmt.Errorf("flows: group %q includes no Slack user group", group)
	}
	var clean []string
	for _, e := range emails {
		if email, err := NormalizeEmail(e); err == nil {
			clean = append(clean, email)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.synced[group] = dedupe(clean)
	return nil
}

// KeepSyncedMembers gives p the members last read from Slack by from (the
// policy p replaces) for each group that includes the same Slack user
// groups in both: a reloaded policy starts with the rota as it was, not
// with configured members only until the next sync.
func (p *Policy) KeepSyncedMembers(from *Policy) {
	from.mu.RLock()
	defer from.mu.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for group, handles := range p.userGroups {
		if members, ok := from.synced[group]; ok && slices.Equal(handles, from.userGroups[group]) {
			p.synced[group] = slices.Clone(members)
		}
	}
}

// expand turns a user or group principal into emails.
func (p *Policy) expand(pr Principal) []string {
	switch pr.Kind {
	case User:
		return []string{pr.Name}
	case Group:
		if _, ok := p.userGroups[pr.Name]; !ok {
			return p.groups[pr.Name]
		}
		p.mu.RLock()
		defer p.mu.RUnlock()
		return dedupe(append(slices.Clone(p.groups[pr.Name]), p.synced[pr.Name]...))
	}
	return nil
}

// admits reports whether the person is one of the principals.
func (p *Policy) admits(principals []Principal, email string) bool {
	for _, pr := range principals {
		if pr.Kind == Anyone || slices.Contains(p.expand(pr), email) {
			return true
		}
	}
	return false
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

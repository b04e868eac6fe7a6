package flows

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
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

// IntegrationSpec describes one Atlas project.
type IntegrationSpec struct {
	Name          string
	ProjectID     string
	Owners        []string // principals: user:<email>, group:<name> or a bare email
	OwnerTag      string   // the cluster tag whose value names the resource owners
	AccessDetails string   // shown with the credentials; $USERNAME and $CONNECTION_STRING are replaced
}

// FlowSpec describes one access flow.
type FlowSpec struct {
	Name                   string
	Integration            string
	Requesters             []string // "*", user:<email>, group:<name> or a bare email
	Resources              []string // globs relative to the integration: cluster[/database[/collection]]
	Roles                  []string
	DefaultDuration        string
	MaxDuration            string
	Approvers              []string // owners, integration-owners, user:<email>, group:<name>
	Approvals              int
	AutoApprove            bool
	RequireReason          bool
	ExtendRequiresApproval bool
	PendingTTL             string
	ApprovalsChannel       string
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

// Policy is a validated access policy. It never changes after Compile, except
// for the members of groups that include Slack user groups, which the chat
// adapter refreshes from Slack (SetSyncedMembers).
type Policy struct {
	admins       map[string]bool
	groups       map[string][]string // configured emails
	userGroups   map[string][]string // group -> Slack user group handles it includes
	integrations []*Integration
	flows        []*Flow

	mu     sync.RWMutex
	synced map[string][]string // group -> emails last read from its Slack user groups
}

// Integration is a validated Atlas project.
type Integration struct {
	Name          string
	ProjectID     string
	Owners        []Principal
	OwnerTag      string
	AccessDetails string
}

// Flow is a validated access flow.
type Flow struct {
	Name                   string
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
	order                  int
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

var groupName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// A group member written slack:<handle> stands for the members of that Slack
// user group.
const slackGroupPrefix = "slack:"

var userGroupHandle = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,79}$`)
var projectID = regexp.MustCompile(`^[a-f0-9]{24}$`)

type validator struct{ errs ValidationError }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Compile validates a policy spec, reporting every problem with its path, and
// returns the policy with defaults applied.
func Compile(spec PolicySpec) (*Policy, error) {
	v := &validator{}
	p := &Policy{admins: map[string]bool{}, groups: map[string][]string{}, userGroups: map[string][]string{}, synced: map[string][]string{}}

	for i, a := range spec.Admins {
		email, err := NormalizeEmail(a)
		if err != nil {
			v.add(fmt.Sprintf("admins[%d]", i), "%s", ErrorMessage(err))
			continue
		}
		p.admins[email] = true
	}

	groupNames := make([]string, 0, len(spec.Groups))
	for name := range spec.Groups {
		groupNames = append(groupNames, name)
	}
	sort.Strings(groupNames)
	for _, name := range groupNames {
		members := spec.Groups[name]
		at := "groups." + name
		if !groupName.MatchString(name) {
			v.add(at, "group names are lower-case letters, digits, '.', '-' and '_'")
		}
		if len(members) == 0 {
			v.add(at, "the group has no members")
		}
		var emails []string
		for j, m := range members {
			if handle, ok := strings.CutPrefix(m, slackGroupPrefix); ok {
				if !userGroupHandle.MatchString(handle) {
					v.add(fmt.Sprintf("%s[%d]", at, j), "%q is not a Slack user group handle (the name after @, e.g. slack:dba-team)", handle)
					continue
				}
				p.userGroups[name] = append(p.userGroups[name], handle)
				continue
			}
			email, err := NormalizeEmail(m)
			if err != nil {
				v.add(fmt.Sprintf("%s[%d]", at, j), "%s (or slack:<user group handle>)", ErrorMessage(err))
				continue
			}
			emails = append(emails, email)
		}
		p.groups[name] = dedupe(emails)
	}

	seenIntegration := map[string]bool{}
	for i, is := range spec.Integrations {
		at := fmt.Sprintf("integrations[%d]", i)
		in := &Integration{Name: is.Name, ProjectID: is.ProjectID, OwnerTag: is.OwnerTag, AccessDetails: is.AccessDetails}
		switch {
		case is.Name == "":
			v.add(at+".name", "required")
		case !integrationName.MatchString(is.Name):
			v.add(at+".name", "%q: use lower-case letters, digits, - and _ (it is the first part of every resource name)", is.Name)
		case seenIntegration[is.Name]:
			v.add(at+".name", "integration %q is defined twice", is.Name)
		}
		seenIntegration[is.Name] = true
		if !projectID.MatchString(is.ProjectID) {
			v.add(at+".project_id", "%q is not an Atlas project id (24 hexadecimal characters)", is.ProjectID)
		}
		if in.OwnerTag == "" {
			in.OwnerTag = DefaultOwnerTag
		}
		if len(is.AccessDetails) > maxAccessDetails {
			v.add(at+".access_details", "%d characters; at most %d", len(is.AccessDetails), maxAccessDetails)
		}
		for j, o := range is.Owners {
			pr, ok := p.parsePrincipal(v, fmt.Sprintf("%s.owners[%d]", at, j), o)
			if ok {
				in.Owners = append(in.Owners, pr)
			}
		}
		p.integrations = append(p.integrations, in)
	}

	seenFlow := map[string]bool{}
	for i, fs := range spec.Flows {
		if f := p.compileFlow(v, fmt.Sprintf("flows[%d]", i), fs, seenIntegration); f != nil {
			if seenFlow[f.Name] {
				v.add(fmt.Sprintf("flows[%d].name", i), "flow %q is defined twice", f.Name)
			}
			seenFlow[f.Name] = true
			f.order = i
			p.flows = append(p.flows, f)
		}
	}
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return p, nil
}

func (p *Policy) compileFlow(v *validator, at string, fs FlowSpec, integrations map[string]bool) *Flow {
	f := &Flow{
		Name: fs.Name, Integration: fs.Integration, Approvals: fs.Approvals,
		AutoApprove: fs.AutoApprove, RequireReason: fs.RequireReason,
		ExtendRequiresApproval: fs.ExtendRequiresApproval, ApprovalsChannel: fs.ApprovalsChannel,
	}
	if fs.Name == "" {
		v.add(at+".name", "required")
	}
	if fs.Integration == "" {
		v.add(at+".integration", "required")
	} else if !integrations[fs.Integration] {
		v.add(at+".integration", "unknown integration %q", fs.Integration)
	}

	if len(fs.Requesters) == 0 {
		v.add(at+".requesters", "required: list who may ask, for example [\"*\"] or [group:eng]")
	}
	for j, r := range fs.Requesters {
		path := fmt.Sprintf("%s.requesters[%d]", at, j)
		if r == "*" {
			f.Requesters = append(f.Requesters, Principal{Kind: Anyone})
			continue
		}
		if pr, ok := p.parsePrincipal(v, path, r); ok {
			f.Requesters = append(f.Requesters, pr)
		}
	}

	if len(fs.Resources) == 0 {
		v.add(at+".resources", "required: list resource patterns such as Cluster0/sales/*")
	}
	for j, g := range fs.Resources {
		if err := validateGlob(g); err != nil {
			v.add(fmt.Sprintf("%s.resources[%d]", at, j), "%s", err)
			continue
		}
		f.Resources = append(f.Resources, g)
	}

	if len(fs.Roles) == 0 {
		v.add(at+".roles", "required: list the roles that may be asked for, such as [read]")
	}
	for j, r := range fs.Roles {
		if err := ValidateRole(r); err != nil {
			v.add(fmt.Sprintf("%s.roles[%d]", at, j), "%s", ErrorMessage(err))
			continue
		}
		f.Roles = append(f.Roles, r)
	}

	f.MaxDuration = DefaultMaxDuration
	if fs.MaxDuration != "" {
		if d, err := ParseDuration(fs.MaxDuration); err != nil {
			v.add(at+".max_duration", "%s", ErrorMessage(err))
		} else {
			f.MaxDuration = d
		}
	}
	if f.MaxDuration >= Week {
		v.add(at+".max_duration", "%s is a week or more; Atlas deletes users at most a week ahead, so grants must be shorter", FormatDuration(f.MaxDuration))
	}
	f.DefaultDuration = min(time.Hour, f.MaxDuration)
	if fs.DefaultDuration != "" {
		if d, err := ParseDuration(fs.DefaultDuration); err != nil {
			v.add(at+".default_duration", "%s", ErrorMessage(err))
		} else {
			f.DefaultDuration = d
			if d > f.MaxDuration {
				v.add(at+".max_duration", "%s is shorter than default_duration %s", FormatDuration(f.MaxDuration), FormatDuration(d))
			}
		}
	}
	f.PendingTTL = DefaultPendingTTL
	if fs.PendingTTL != "" {
		if d, err := ParseDuration(fs.PendingTTL); err != nil {
			v.add(at+".pending_ttl", "%s", ErrorMessage(err))
		} else if d > Week {
			v.add(at+".pending_ttl", "%s is more than a week", FormatDuration(d))
		} else {
			f.PendingTTL = d
		}
	}

	if f.Approvals == 0 {
		f.Approvals = 1
	}
	if f.Approvals < 0 {
		v.add(at+".approvals", "must be at least 1")
	}
	if len(fs.Approvers) == 0 && !fs.AutoApprove {
		v.add(at+".approvers", "required unless auto_approve is true: use owners, integration-owners, user:<email> or group:<name>")
	}
	static := map[string]bool{}
	dynamic := false
	for j, a := range fs.Approvers {
		path := fmt.Sprintf("%s.approvers[%d]", at, j)
		switch a {
		case string(Owners):
			f.Approvers = append(f.Approvers, Principal{Kind: Owners})
			dynamic = true
			continue
		case string(IntegrationOwners):
			f.Approvers = append(f.Approvers, Principal{Kind: IntegrationOwners})
			dynamic = true
			continue
		}
		if pr, ok := p.parsePrincipal(v, path, a); ok {
			f.Approvers = append(f.Approvers, pr)
			for _, e := range p.expand(pr) {
				static[e] = true
			}
			if pr.Kind == Group && len(p.userGroups[pr.Name]) > 0 {
				dynamic = true // its size is known only once Slack is read
			}
		}
	}
	if !dynamic && len(fs.Approvers) > 0 && f.Approvals > len(static) {
		v.add(at+".approvals", "%d approvals needed but only %d people are approvers", f.Approvals, len(static))
	}
	return f
}

// parsePrincipal reads user:<email>, group:<name> or a bare email.
func (p *Policy) parsePrincipal(v *validator, path, s string) (Principal, bool) {
	kind, name, found := strings.Cut(s, ":")
	if !found {
		kind, name = string(User), s
	}
	switch PrincipalKind(kind) {
	case User:
		email, err := NormalizeEmail(name)
		if err != nil {
			v.add(path, "%s", ErrorMessage(err))
			return Principal{}, false
		}
		return Principal{Kind: User, Name: email}, true
	case Group:
		if _, ok := p.groups[name]; !ok {
			v.add(path, "unknown group %q; define it under groups", name)
			return Principal{}, false
		}
		return Principal{Kind: Group, Name: name}, true
	}
	v.add(path, "%q: want user:<email>, group:<name> or an email", s)
	return Principal{}, false
}

// validateGlob checks a resource pattern: one to three segments
// (cluster[/database[/collection]]), each a path.Match pattern.
func validateGlob(g string) error {
	segs := strings.Split(g, "/")
	if g == "" || len(segs) > 3 {
		return fmt.Errorf("%q: want cluster, cluster/database or cluster/database/collection, each part a name or a pattern with * ? [ ]", g)
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("%q: empty part", g)
		}
		if _, err := path.Match(s, ""); err != nil {
			return fmt.Errorf("%q: bad pattern %q: %v", g, s, err)
		}
	}
	return nil
}

// globSpecificity ranks how precisely a pattern names what it matches: more
// parts first, then more parts without wildcards, then more literal characters.
type specificity [3]int

func globSpecificity(g string) specificity {
	var s specificity
	for _, seg := range strings.Split(g, "/") {
		s[0]++
		if !strings.ContainsAny(seg, "*?[") {
			s[1]++
		}
		for _, c := range seg {
			if !strings.ContainsRune("*?[]", c) {
				s[2]++
			}
		}
	}
	return s
}

func (a specificity) less(b specificity) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// globMatches reports whether pattern g covers resource r. A pattern covers
// what it names and everything below it: Cluster0/sales covers the sales
// database and each of its collections, while Cluster0/sales/* covers single
// collections only, never the whole database.
func globMatches(g string, r Resource) bool {
	pat := strings.Split(g, "/")
	segs := r.segments()
	if len(pat) > len(segs) {
		return false
	}
	for i, p := range pat {
		if ok, _ := path.Match(p, segs[i]); !ok {
			return false
		}
	}
	return true
}

// bestGlob returns the most specific of f's patterns that covers r.
func (f *Flow) bestGlob(r Resource) (specificity, bool) {
	var best specificity
	found := false
	for _, g := range f.Resources {
		if globMatches(g, r) {
			if s := globSpecificity(g); !found || best.less(s) {
				best, found = s, true
			}
		}
	}
	return best, found
}

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

// Match returns the most specific flow that lets the requester ask for role on
// r. Without one it refuses, saying why: no flow covers the resource, the
// person is not among the requesters, or the role is not offered.
func (p *Policy) Match(requester string, r Resource, role string) (*Flow, error) {
	var covering, admitted, allowed []*Flow
	for _, f := range p.flows {
		if f.Integration != r.Integration {
			continue
		}
		if _, ok := f.bestGlob(r); !ok {
			continue
		}
		covering = append(covering, f)
		if !p.admits(f.Requesters, requester) {
			continue
		}
		admitted = append(admitted, f)
		if slices.Contains(f.Roles, role) {
			allowed = append(allowed, f)
		}
	}
	switch {
	case len(covering) == 0:
		if _, ok := p.Integration(r.Integration); !ok {
			return nil, Errorf(ENOTFOUND, "there is no integration %q", r.Integration)
		}
		return nil, Errorf(EFORBIDDEN, "no access flow covers %s", r)
	case len(admitted) == 0:
		return nil, Errorf(EFORBIDDEN, "you are not among the requesters of the access flows that cover %s (%s)", r, flowNames(covering))
	case len(allowed) == 0:
		var roles []string
		for _, f := range admitted {
			roles = append(roles, f.Roles...)
		}
		slices.Sort(roles)
		return nil, Errorf(EFORBIDDEN, "role %s is not offered on %s; you may ask for: %s", role, r, strings.Join(slices.Compact(roles), ", "))
	}
	sort.SliceStable(allowed, func(i, j int) bool {
		si, _ := allowed[i].bestGlob(r)
		sj, _ := allowed[j].bestGlob(r)
		if si != sj {
			return sj.less(si)
		}
		return allowed[i].order < allowed[j].order
	})
	return allowed[0], nil
}

func flowNames(fs []*Flow) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// RequesterFlows returns the flows the person may request through.
func (p *Policy) RequesterFlows(email string) []*Flow {
	var out []*Flow
	for _, f := range p.flows {
		if p.admits(f.Requesters, email) {
			out = append(out, f)
		}
	}
	return out
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

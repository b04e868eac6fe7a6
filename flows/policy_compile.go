package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

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
// returns the policy with defaults applied. Its flows may name the kinds
// jitbot grants and those in extra (a test's own kind); an extra kind that
// cannot work, or that is known already, is a programming error, returned
// as such.
func Compile(spec PolicySpec, extra ...KindSpec) (*Policy, error) {
	v := &validator{}
	p := &Policy{admins: map[string]bool{}, groups: map[string][]string{}, userGroups: map[string][]string{}, synced: map[string][]string{}}
	for _, k := range append(builtinKinds(), extra...) {
		if err := k.check(); err != nil {
			return nil, err
		}
		if _, dup := p.Kind(k.Kind); dup {
			return nil, fmt.Errorf("flows: kind %s is declared twice", k.Kind)
		}
		p.kinds = append(p.kinds, k)
	}

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

	seenIntegration := map[string]*Integration{}
	for i, is := range spec.Integrations {
		at := fmt.Sprintf("integrations[%d]", i)
		in := &Integration{Name: is.Name, ProjectID: is.ProjectID, OrganizationID: is.OrganizationID, OwnerTag: is.OwnerTag, AccessDetails: is.AccessDetails,
			OIDCIdentityProviderID: is.OIDCIdentityProviderID, APIKeyOwner: is.APIKeyOwner}
		checkIdentityProviderID(v, at+".oidc_identity_provider_id", is.OIDCIdentityProviderID)
		switch {
		case is.Name == "":
			v.add(at+".name", "required")
		case !integrationName.MatchString(is.Name):
			v.add(at+".name", "%q: use lower-case letters, digits, - and _ (it is the first part of every resource name)", is.Name)
		case seenIntegration[is.Name] != nil:
			v.add(at+".name", "integration %q is defined twice", is.Name)
		}
		if seenIntegration[is.Name] == nil {
			seenIntegration[is.Name] = in
		}
		switch {
		case is.ProjectID != "" && is.OrganizationID != "":
			v.add(at, "set project_id (one project) or organization_id (every project of an organization), not both")
		case is.OrganizationID != "":
			if !projectID.MatchString(is.OrganizationID) {
				v.add(at+".organization_id", "%q is not an Atlas organization id (24 hexadecimal characters)", is.OrganizationID)
			}
		case !projectID.MatchString(is.ProjectID):
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
	p.checkHoursFlows(v)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	p.hash = specHash(spec, p.kinds)
	return p, nil
}

// specHash is the hash of a policy: of its spec as JSON (maps in key order,
// so the same spec always hashes alike) and the kinds its flows may name.
func specHash(spec PolicySpec, kinds []KindSpec) string {
	h := sha256.New()
	raw, err := json.Marshal(spec)
	if err != nil {
		// A spec is strings, numbers and booleans: JSON takes any of them.
		panic(fmt.Sprintf("flows: policy spec as JSON: %v", err))
	}
	h.Write(raw)
	for _, k := range kinds {
		h.Write([]byte{0})
		h.Write([]byte(k.Kind))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (p *Policy) compileFlow(v *validator, at string, fs FlowSpec, integrations map[string]*Integration) *Flow {
	f := &Flow{
		Name: fs.Name, Kind: Kind(fs.Kind).orDefault(), Integration: fs.Integration, Approvals: fs.Approvals,
		AutoApprove: fs.AutoApprove, RequireReason: fs.RequireReason,
		ExtendRequiresApproval: fs.ExtendRequiresApproval, ApprovalsChannel: fs.ApprovalsChannel,
	}
	if fs.Name == "" {
		v.add(at+".name", "required")
	}
	kind, knownKind := p.Kind(f.Kind)
	if !knownKind {
		v.add(at+".kind", "unknown kind %q; jitbot grants: %s", excerpt(fs.Kind), p.kindIDs())
	}
	in := integrations[fs.Integration]
	if fs.Integration == "" {
		v.add(at+".integration", "required")
	} else if in == nil {
		v.add(at+".integration", "unknown integration %q", fs.Integration)
	}
	orgWide := in != nil && in.OrgWide()

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

	// Resources and roles are in the kind's grammar: with the kind unknown,
	// only their absence can be told. A kind whose targets are not resources
	// (network access) takes none, and a kind of one role needs it not said.
	noPatterns := knownKind && kind.TargetParts == 0
	switch {
	case noPatterns && len(fs.Resources) > 0:
		v.add(at+".resources", "a %s flow names no resources: %s", kind.Name, kind.PatternSyntax)
	case len(fs.Resources) == 0 && !noPatterns:
		v.add(at+".resources", "required: list resource patterns such as Cluster0/sales/*")
	}
	for j, g := range fs.Resources {
		if !knownKind || noPatterns {
			break
		}
		if err := kind.validatePattern(g, orgWide); err != nil {
			v.add(fmt.Sprintf("%s.resources[%d]", at, j), "%s", err)
			continue
		}
		f.Resources = append(f.Resources, g)
	}

	if len(fs.Roles) == 0 && knownKind && len(kind.Roles) == 1 {
		f.Roles = slices.Clone(kind.Roles)
	} else if len(fs.Roles) == 0 {
		example := "read"
		if knownKind {
			example = kind.Roles[0]
		}
		v.add(at+".roles", "required: list the roles that may be asked for, such as [%s]", example)
	}
	for j, r := range fs.Roles {
		if !knownKind {
			break
		}
		if err := kind.validateRole(r); err != nil {
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

	p.compileEscalation(v, at, fs, f)
	p.compileConditions(v, at, fs, f)
	p.compileStepUp(v, at, fs, f)
	p.compileApprovalsFrom(v, at, fs, f)
	p.compileOnCall(v, at, fs, f)
	p.compileTicket(v, at, fs, f)
	p.compileHours(v, at, fs, f)
	p.compileBreakGlass(v, at, fs, f)

	if knownKind && kind.CheckFlow != nil && in != nil {
		for _, fe := range kind.CheckFlow(fs, in) {
			v.add(at+"."+fe.Path, "%s", fe.Message)
		}
	} else if len(fs.AllowStandingAccess) > 0 {
		v.add(at+".allow_standing_access", "only flows of kind %s have roles that create standing access", KindAtlasUI)
	}
	if fs.AcceptNoBackstop && knownKind && kind.Kind != KindAPIKey {
		v.add(at+".accept_no_backstop", "a setting of flows of programmatic API keys (kind: %s), which Atlas never expires; %s have a backstop", KindAPIKey, kind.Name+"s")
	}

	if f.Approvals == 0 {
		f.Approvals = 1
	}
	if f.Approvals < 0 {
		v.add(at+".approvals", "must be at least 1")
	}
	if len(fs.Approvers) == 0 && !fs.AutoApprove && len(fs.ApprovalsFrom) == 0 && fs.OnCall == nil && fs.BreakGlass == nil {
		v.add(at+".approvers", "required unless auto_approve is true: use owners, integration-owners, user:<email> or group:<name>")
	}
	static := map[string]bool{}
	dynamic := fs.OnCall != nil // who is on call is known only when asked
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
	// The settings of one kind (passwordless.go, network.go).
	p.compileAuth(v, at, fs, f, kind, knownKind)
	p.compileThirdParty(v, at, fs, f) // after compileAuth: a guest gets a password
	p.compileNetwork(v, at, fs, f, kind, knownKind, len(static), dynamic)
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

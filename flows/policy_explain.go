package flows

import (
	"slices"
)

// Explanation is how the policy treats one person asking for access to one
// target (`jitbot explain`): the flows that cover the target and whether the
// person is among their requesters, the flow each request would go through
// and who would approve it, and every role the person may ask for there. It
// is read from the policy alone, with the routing Submit uses (Match); what
// only the running jitbot knows is described, not resolved: the owners a
// cluster's tag names, and the members Slack user groups add to groups.
type Explanation struct {
	Person string
	Kind   KindSpec
	Target Resource
	// Roles are the roles asked about; empty: every role of the kind.
	Roles []string
	// Admin: the person is one of the policy's admins (who may revoke any
	// grant, and ask for access like anyone else).
	Admin bool
	// Covering are the flows of the kind that cover the target, in policy
	// order.
	Covering []CoveringFlow
	// Routes are the requests the person may make on the target: one for
	// the roles asked about, or one per role of the kind that some flow
	// offers them. Refused says why a request for the roles asked about
	// would be refused (empty when it would not).
	Routes  []Route
	Refused string
}

// CoveringFlow is a flow that covers the target.
type CoveringFlow struct {
	Flow *Flow
	// Pattern is the most specific of its resources that covers the target.
	Pattern string
	// Admits is the requester rule that admits the person ("*",
	// group:eng, user:alice@example.com); empty when none does.
	Admits string
	// MayAdmit are groups among its requesters that include Slack user
	// groups, which the person is not a configured member of: whether they
	// are in is known once jitbot has read Slack.
	MayAdmit []string
}

// Route is the flow a request would go through, and who would approve it.
type Route struct {
	Roles []string
	Flow  *Flow
	// Approvers are the flow's approver rules, each resolved as far as the
	// policy allows (none for an auto-approved flow).
	Approvers []ApproverRule
	// SelfExcluded: the person is among the approvers the policy names, and
	// nobody approves their own request.
	SelfExcluded bool
	// Groups are the approvals needed from each of several groups
	// (approvals_from), with the members the policy names.
	Groups []GroupRule
}

// GroupRule is one group's approvals a route needs.
type GroupRule struct {
	Group       string
	Count       int
	People      []string // configured members, the requester left out
	SlackGroups []string // Slack user groups whose members count too
}

// ApproverRule is one approver rule of a flow and the people it names.
type ApproverRule struct {
	Rule Principal
	// People are those the policy names (configured group members, users,
	// the integration's owners), the requester left out.
	People []string
	// SlackGroups are the handles of the Slack user groups whose members
	// also approve, read from Slack while jitbot runs.
	SlackGroups []string
	// OwnerTag is, for the owners rule, the cluster tag that names the
	// owners; People are then the integration's owners, who stand in when
	// the tag names nobody but the requester.
	OwnerTag string
}

// Explain tells how the policy treats person asking for roles (none: any
// role) on target, written in the grammar of kind (empty: a database user).
// A person, kind, target or integration that cannot be asked about at all
// is an error (EINVALID, ENOTFOUND), as Submit would answer it.
func (p *Policy) Explain(person string, kind Kind, target string, roles []string) (*Explanation, error) {
	email, err := NormalizeEmail(person)
	if err != nil {
		return nil, err
	}
	k, ok := p.Kind(kind.orDefault())
	if !ok {
		return nil, Errorf(EINVALID, "jitbot does not grant %q; ask about one of: %s", excerpt(string(kind)), p.kindIDs())
	}
	t, err := k.ParseTarget(target)
	if err != nil {
		return nil, err
	}
	in, ok := p.Integration(t.Integration)
	if !ok {
		return nil, Errorf(ENOTFOUND, "there is no integration %q", t.Integration)
	}
	ex := &Explanation{Person: email, Kind: k, Target: t, Roles: dedupe(roles), Admin: p.IsAdmin(email)}
	for _, f := range p.flows {
		if f.Kind != k.Kind || f.Integration != t.Integration {
			continue
		}
		pattern := ""
		var best specificity
		if f.Network != nil && len(f.Resources) == 0 {
			pattern = f.Network.coverText(t) // network.go: address rules, not patterns
		}
		onTarget := t
		onTarget.Address = "" // the address a grant is used from is not a pattern's (kind_programmatic.go)
		for _, g := range f.Resources {
			if s := globSpecificity(g); globMatches(g, onTarget, TargetTags{}) && (pattern == "" || best.less(s)) {
				pattern, best = g, s
			}
		}
		if pattern == "" {
			continue
		}
		admits, may := p.admittedBy(f.Requesters, email)
		ex.Covering = append(ex.Covering, CoveringFlow{Flow: f, Pattern: pattern, Admits: admits, MayAdmit: may})
	}

	route := func(roles []string) error {
		if err := k.checkRoles(roles, t); err != nil {
			return err
		}
		f, err := p.Match(email, k.Kind, t, roles)
		if err != nil {
			return err
		}
		// What the flow says of this address or person: a public address's
		// extra approval, a range too wide, a passwordless user's name.
		if f, _, err = f.admit(in, email, t); err != nil {
			return err
		}
		if msg := p.groupsShortfall(f, email); msg != "" {
			return Errorf(EFORBIDDEN, "%s", msg)
		}
		ex.Routes = append(ex.Routes, p.route(f, in, email, roles))
		return nil
	}
	if len(ex.Roles) > 0 {
		if err := route(ex.Roles); err != nil {
			ex.Refused = ErrorMessage(err)
		}
		return ex, nil
	}
	for _, role := range k.Roles {
		_ = route([]string{role}) // a role not offered is simply not listed
	}
	if len(ex.Routes) == 0 {
		// Say why, as a request for the first role would be answered.
		if err := route(k.Roles[:1]); err != nil {
			ex.Refused = ErrorMessage(err)
		}
	}
	return ex, nil
}

// admittedBy returns the requester rule that admits email, and the groups
// that include Slack user groups which might.
func (p *Policy) admittedBy(requesters []Principal, email string) (string, []string) {
	var may []string
	for _, pr := range requesters {
		if pr.Kind == Anyone || slices.Contains(p.expand(pr), email) {
			return pr.String(), nil
		}
		if pr.Kind == Group && len(p.userGroups[pr.Name]) > 0 {
			may = append(may, pr.String())
		}
	}
	return "", may
}

// route resolves f's approver rules for a request by requester on an
// integration, as far as the policy can.
func (p *Policy) route(f *Flow, in *Integration, requester string, roles []string) Route {
	rt := Route{Roles: roles, Flow: f}
	if f.AutoApprove {
		return rt
	}
	others := func(emails []string) []string {
		var out []string
		for _, e := range emails {
			if e == requester {
				rt.SelfExcluded = true
				continue
			}
			out = append(out, e)
		}
		return dedupe(out)
	}
	integrationOwners := func() ([]string, []string) {
		var emails, slack []string
		for _, o := range in.Owners {
			emails = append(emails, p.expand(o)...)
			if o.Kind == Group {
				slack = append(slack, p.userGroups[o.Name]...)
			}
		}
		return others(emails), slack
	}
	for _, a := range f.Approvers {
		rule := ApproverRule{Rule: a}
		switch a.Kind {
		case Owners:
			rule.OwnerTag = in.OwnerTag
			rule.People, rule.SlackGroups = integrationOwners()
		case IntegrationOwners:
			rule.People, rule.SlackGroups = integrationOwners()
		default:
			rule.People = others(p.expand(a))
			if a.Kind == Group {
				rule.SlackGroups = slices.Clone(p.userGroups[a.Name])
			}
		}
		rt.Approvers = append(rt.Approvers, rule)
	}
	for _, g := range f.ApprovalsFrom {
		rt.Groups = append(rt.Groups, GroupRule{Group: g.Group, Count: g.Count,
			People: others(p.groups[g.Group]), SlackGroups: slices.Clone(p.userGroups[g.Group])})
	}
	return rt
}

package flows

import (
	"fmt"
	"slices"
	"strings"
)

// Warnings lists what in a valid policy can never take effect: a resource
// pattern that names only what jitbot never grants (the admin database, a
// system collection, a name Atlas refuses), a role that none of its flow's
// resources can take, a flow whose every requester is short of approvers.
// Each has the path of the field at fault, as Compile's errors do.
//
// They are warnings, not errors: nothing in them is unsafe, and the policy
// alone cannot tell everything a flow will meet at runtime (the clusters
// and databases Atlas lists, the members of Slack user groups, the owner
// tags), so what it warns about is only what no runtime can rescue.
func (p *Policy) Warnings() []FieldError {
	var ws ValidationError
	for _, f := range p.flows {
		at := fmt.Sprintf("flows[%d]", f.order)
		kind, ok := p.Kind(f.Kind)
		if !ok {
			continue // Compile refuses it
		}
		var targets []Resource // the shallowest target each live pattern covers
		for j, g := range f.Resources {
			t, err := kind.patternTarget(f.Integration, g)
			if err != nil {
				ws.Add(fmt.Sprintf("%s.resources[%d]", at, j), "%q can never match: %s", g, ErrorMessage(err))
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) == 0 {
			if len(f.Resources) > 1 {
				ws.Add(at+".resources", "none of the patterns can ever match: access flow %s grants nothing", f.Name)
			}
			continue
		}
		for j, role := range f.Roles {
			var why error
			for _, t := range targets {
				if why = kind.checkRoles([]string{role}, t); why == nil {
					break
				}
			}
			if why != nil {
				ws.Add(fmt.Sprintf("%s.roles[%d]", at, j), "%s can never be granted through access flow %s: %s", role, f.Name, ErrorMessage(why))
			}
		}
		if msg := p.approvalShortfall(f); msg != "" {
			ws.Add(at+".approvals", "%s", msg)
		}
		if msg := p.refusedGroupMembers(f); msg != "" {
			ws.Add(at+".approvals_from", "%s", msg)
		}
	}
	return ws
}

// patternTarget is the shallowest target a flow's resource pattern g covers
// on integration, its wildcards standing for any valid name: the target's
// refusal (by ValidateTarget) means no target the pattern covers is ever
// granted, since the refusal can only be about a part the pattern names
// literally. A pattern's parts run from the cluster down; a target needs as
// many as the kind's grammar asks for (a database user, a database), so a
// shorter pattern stands for the targets below it.
func (k KindSpec) patternTarget(integration, g string) (Resource, error) {
	if k.Kind == KindAtlasUI {
		return uiPatternTarget(integration, g)
	}
	segs := strings.Split(g, "/")
	var err error
	for depth := len(segs); depth <= k.TargetParts; depth++ {
		// Valid names that read, in a refusal, as what they stand for.
		parts := []string{"any-cluster", "any-database", "any-collection"}
		for i := range 3 {
			switch {
			case i >= depth:
				parts[i] = ""
			case i < len(segs) && !strings.ContainsAny(segs[i], `*?[\`) && !strings.HasPrefix(segs[i], tagPrefix):
				parts[i] = segs[i]
			}
		}
		t := Resource{Integration: integration, Cluster: parts[0], Database: parts[1], Collection: parts[2]}
		if err = k.ValidateTarget(t); err == nil {
			return t, nil
		}
	}
	return Resource{}, err
}

// approvalShortfall says why no requester of f could ever gather its
// approvals, or "" when one could or the policy cannot tell: the approvers
// are people the policy names (no owners, no Slack user group), and so are
// the requesters, and nobody approves their own request.
func (p *Policy) approvalShortfall(f *Flow) string {
	if f.AutoApprove || f.OnCall != nil || len(f.Approvers) == 0 {
		return "" // who is on call is known only when asked; approvals_from alone: refusedGroupMembers says who is short
	}
	people := func(ps []Principal) ([]string, bool) {
		var out []string
		for _, pr := range ps {
			switch {
			case pr.Kind == User:
				out = append(out, pr.Name)
			case pr.Kind == Group && len(p.userGroups[pr.Name]) == 0:
				out = append(out, p.groups[pr.Name]...)
			default: // anyone, owners, or a group Slack may enlarge
				return nil, false
			}
		}
		return dedupe(out), true
	}
	approvers, known := people(f.Approvers)
	if !known {
		return ""
	}
	requesters, known := people(f.Requesters)
	if !known || len(requesters) == 0 {
		return ""
	}
	best := 0
	for _, r := range requesters {
		n := len(approvers)
		if slices.Contains(approvers, r) {
			n--
		}
		best = max(best, n)
	}
	if best >= f.Approvals {
		return ""
	}
	return fmt.Sprintf("access flow %s needs %d approvals, but its requesters are among its %d approvers and nobody approves their own request: "+
		"at most %d can ever be given, so every request times out", f.Name, f.Approvals, len(approvers), best)
}

// refusedGroupMembers names the members of f's approvals_from groups who
// may ask through f but whose every request is refused: without them, the
// groups cannot give the approvals f needs. Only members can be short (a
// requester outside the groups takes nothing from them), so only members
// are judged; "" when none is, or the policy cannot tell.
func (p *Policy) refusedGroupMembers(f *Flow) string {
	var members []string
	for _, g := range f.ApprovalsFrom {
		members = append(members, p.groups[g.Group]...)
	}
	var short []string
	for _, m := range dedupe(members) {
		if admits, _ := p.admittedBy(f.Requesters, m); admits != "" && p.groupsShortfall(f, m) != "" {
			short = append(short, m)
		}
	}
	if len(short) == 0 {
		return ""
	}
	return fmt.Sprintf("access flow %s needs %s, and nobody approves their own request: requests by %s are always refused, since the others cannot give them",
		f.Name, describeNeeds(requirementsOf(f)), strings.Join(short, ", "))
}

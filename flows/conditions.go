package flows

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Conditions a flow sets on a request before it is routed. A reason
// pattern makes the reason name what the team tracks work by (a ticket
// key, an incident id): the request is refused, with the flow's message,
// when the reason does not match.

// maxReasonPattern bounds a reason pattern: Go's regexp runs in linear
// time, so the bound is on what a person can read, not on safety.
const maxReasonPattern = 200

// compileConditions validates a flow's conditions.
func (p *Policy) compileConditions(v *validator, at string, fs FlowSpec, f *Flow) {
	if fs.ReasonPattern == "" {
		if fs.ReasonMessage != "" {
			v.add(at+".reason_message", "a message without reason_pattern is never shown")
		}
		return
	}
	if len(fs.ReasonPattern) > maxReasonPattern {
		v.add(at+".reason_pattern", "%d characters; at most %d", len(fs.ReasonPattern), maxReasonPattern)
		return
	}
	re, err := regexp.Compile(fs.ReasonPattern)
	if err != nil {
		v.add(at+".reason_pattern", "%q is not a regular expression (Go RE2 syntax): %v", fs.ReasonPattern, unwrapRegexp(err))
		return
	}
	if re.MatchString("") {
		v.add(at+".reason_pattern", "%q matches an empty reason, so it requires nothing: anchor it (^) or ask for something, like ^[A-Z]+-[0-9]+", fs.ReasonPattern)
		return
	}
	f.ReasonPattern, f.ReasonMessage = re, fs.ReasonMessage
}

func unwrapRegexp(err error) string {
	if se := (*syntax.Error)(nil); errors.As(err, &se) {
		return fmt.Sprintf("%s: %q", se.Code, se.Expr)
	}
	return err.Error()
}

// checkReasonPattern refuses a reason the flow's pattern does not match.
func (f *Flow) checkReasonPattern(reason string) error {
	if f.ReasonPattern == nil || f.ReasonPattern.MatchString(reason) {
		return nil
	}
	msg := f.ReasonMessage
	if msg == "" {
		msg = "the reason must match " + f.ReasonPattern.String()
	}
	return Errorf(EINVALID, "access flow %s refuses this reason: %s", f.Name, msg)
}

// Approvals from several groups (approvals_from): the request needs Count
// approvals from the members of each group. One person's approval counts
// once, toward one group only, even if they are in several: the approvals
// are assigned to groups by a maximum matching (each approver to at most
// one group, each group up to its count), so whenever some assignment meets
// every requirement, this one does. A dba who is also in security approving
// first therefore never blocks the request: their approval moves to
// whichever group the next approver cannot fill.

// GroupApprovalSpec is one group's requirement as written.
type GroupApprovalSpec struct {
	Group string
	Count int
}

// GroupApproval is a validated requirement.
type GroupApproval struct {
	Group string
	Count int
}

// Requirement is a group's requirement on one request, its members
// resolved when the request is made (the requester never among them).
type Requirement struct {
	Group   string
	Count   int
	Members []string
}

// compileApprovalsFrom validates approvals_from.
func (p *Policy) compileApprovalsFrom(v *validator, at string, fs FlowSpec, f *Flow) {
	if len(fs.ApprovalsFrom) == 0 {
		return
	}
	if fs.AutoApprove {
		v.add(at+".approvals_from", "an auto-approved flow asks nobody: remove approvals_from or auto_approve")
		return
	}
	var reqs []Requirement
	dynamic := false
	for i, g := range fs.ApprovalsFrom {
		path := fmt.Sprintf("%s.approvals_from[%d]", at, i)
		if _, ok := p.groups[g.Group]; !ok {
			v.add(path+".group", "unknown group %q; define it under groups", g.Group)
			continue
		}
		if g.Count < 1 {
			v.add(path+".count", "must be at least 1")
			continue
		}
		if len(p.userGroups[g.Group]) > 0 {
			dynamic = true // its members are known only once Slack is read
		}
		members := p.expand(Principal{Kind: Group, Name: g.Group})
		if !dynamic && g.Count > len(members) {
			v.add(path+".count", "%d approvals from group %s, which has %d members: it can never be met", g.Count, g.Group, len(members))
		}
		f.ApprovalsFrom = append(f.ApprovalsFrom, GroupApproval(g))
		reqs = append(reqs, Requirement{Group: g.Group, Count: g.Count, Members: members})
	}
	if !dynamic && len(reqs) == len(fs.ApprovalsFrom) {
		var everyone []string
		for _, r := range reqs {
			everyone = append(everyone, r.Members...)
		}
		if got, need := matched(reqs, dedupe(everyone)), needed(reqs); got < need {
			v.add(at+".approvals_from", "the groups' members can give at most %d of the %d approvals needed: a person counts toward one group only", got, need)
		}
	}
}

func needed(reqs []Requirement) int {
	n := 0
	for _, r := range reqs {
		n += r.Count
	}
	return n
}

// matched is how many of the approvers can be assigned to requirements,
// each to one group of which they are a member, each group up to its count
// (a maximum bipartite matching, by augmenting paths: a few people and
// groups).
func matched(reqs []Requirement, approvers []string) int {
	slots := make([][]int, len(reqs)) // per group: the approver index filling each slot, or -1
	for i, r := range reqs {
		slots[i] = make([]int, r.Count)
		for j := range slots[i] {
			slots[i][j] = -1
		}
	}
	var try func(a int, seen []bool) bool
	try = func(a int, seen []bool) bool {
		for g, r := range reqs {
			if seen[g] || !slices.Contains(r.Members, approvers[a]) {
				continue
			}
			seen[g] = true
			for s, holder := range slots[g] {
				if holder == -1 || try(holder, seen) {
					slots[g][s] = a
					return true
				}
			}
		}
		return false
	}
	n := 0
	for a := range approvers {
		if try(a, make([]bool, len(reqs))) {
			n++
		}
	}
	return n
}

// requirementsMet reports whether the approvals given meet every group's
// requirement.
func (r *Request) requirementsMet() bool {
	return len(r.Requirements) == 0 || matched(r.Requirements, deciders(r.Approvals)) >= needed(r.Requirements)
}

func deciders(ds []Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.By
	}
	return out
}

// DescribeRequirements says why a request goes to whom and how far it is:
// "needs 1 of dba and 1 of security; 1 of 2 given". Empty without
// requirements.
func (r *Request) DescribeRequirements() string {
	if len(r.Requirements) == 0 {
		return ""
	}
	return fmt.Sprintf("needs %s; %d of %d given", describeNeeds(r.Requirements), matched(r.Requirements, deciders(r.Approvals)), needed(r.Requirements))
}

// groupApprovers are the approver rules approvals_from adds: its groups.
func (f *Flow) groupApprovers() []Principal {
	var out []Principal
	for _, g := range f.ApprovalsFrom {
		out = append(out, Principal{Kind: Group, Name: g.Group})
	}
	return out
}

// groupsShortfall says why requester's request through f would be refused
// for want of group approvals (Submit's rule: without the requester, the
// groups' members must still be able to give them), or "" when it would not
// or the policy cannot tell (a group Slack may enlarge).
func (p *Policy) groupsShortfall(f *Flow, requester string) string {
	if len(f.ApprovalsFrom) == 0 {
		return ""
	}
	var reqs []Requirement
	var everyone []string
	for _, g := range f.ApprovalsFrom {
		if len(p.userGroups[g.Group]) > 0 {
			return ""
		}
		members := slices.DeleteFunc(slices.Clone(p.groups[g.Group]), func(e string) bool { return e == requester })
		reqs = append(reqs, Requirement{Group: g.Group, Count: g.Count, Members: members})
		everyone = append(everyone, members...)
	}
	if got, need := matched(reqs, dedupe(everyone)), needed(reqs); got < need {
		return fmt.Sprintf("access flow %s needs %s, but without %s its groups can give at most %d", f.Name, describeNeeds(reqs), requester, got)
	}
	return ""
}

// describeNeeds is "1 of dba and 1 of security".
func describeNeeds(reqs []Requirement) string {
	var parts []string
	for _, q := range reqs {
		parts = append(parts, fmt.Sprintf("%d of %s", q.Count, q.Group))
	}
	return strings.Join(parts, " and ")
}

func requirementsOf(f *Flow) []Requirement {
	var out []Requirement
	for _, g := range f.ApprovalsFrom {
		out = append(out, Requirement{Group: g.Group, Count: g.Count})
	}
	return out
}

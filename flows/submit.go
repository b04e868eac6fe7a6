package flows

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// SubmitInput is a request for access as a person made it.
type SubmitInput struct {
	Requester string
	Kind      Kind          // what is asked for; empty: a database user
	Resource  Resource      // the target, in the kind's grammar
	Roles     []string      // one, or several where the kind allows
	Duration  time.Duration // zero: the flow's default
	Reason    string
	Origin    string // the chat platform, so private messages go back there
	// Identity is an Atlas identity the requester typed (an IAM ARN, an OIDC
	// group), which is always refused: jitbot names identities from the
	// flow (passwordless.go), never from what a request says.
	Identity string
	// BreakGlass asks for access at once through a break-glass flow
	// (breakglass.go); only break-glass flows are matched then.
	BreakGlass bool
	// IdempotencyKey identifies the delivery (a Slack trigger id, a Teams
	// activity id): a replay returns the request already made.
	IdempotencyKey string
	// StartAt is when a scheduled grant starts (scheduled.go); zero: as
	// soon as it is approved.
	StartAt time.Time
	// MFA is what a fresh sign-in proved, for a break-glass flow whose
	// step_up requires one (breakglass_stepup.go); ClickAt is when the
	// breakglass command was given.
	MFA *MFAProof
	// Guest is the email of someone outside the company the requester
	// sponsors (thirdparty.go); empty: access for the requester.
	Guest string
}

const maxReason = 500

// Submit checks a request against the policy, routes it to its approvers and
// records it; an auto-approved request is provisioned before Submit returns.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Request, error) {
	asked := in // as typed, for a submission made again after a fresh sign-in
	requester, err := NormalizeEmail(in.Requester)
	if err != nil {
		return nil, err
	}
	// The checks against the person's other requests (the same access
	// twice, the live-request limit, break-glass once per window) read
	// the store and Create writes after them: two submissions of one
	// person at once (two inbox workers) would both pass. So one person's
	// submissions run one at a time up to their commit; other people's go
	// on. Within one process, that is: another replica's submission of
	// theirs is caught by the store, which checks again as it writes
	// (CreateChecked).
	unlock := s.submitters.lock(requester)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if in.IdempotencyKey != "" {
		if prior, err := s.store.Find(ctx, Query{IdempotencyKey: in.IdempotencyKey}); err != nil {
			return nil, fmt.Errorf("flows: submit: %w", err)
		} else if len(prior) > 0 {
			return replayed(prior[0], requester)
		}
	}
	// One policy routes the whole request, whatever a reload does meanwhile;
	// the request records which (PolicyHash).
	policy := s.Policy()
	kind, ok := policy.Kind(in.Kind.orDefault())
	if !ok {
		return nil, Errorf(EINVALID, "jitbot does not grant %q; ask for one of: %s", excerpt(string(in.Kind)), policy.kindIDs())
	}
	if in.Resource, err = resolve(policy, kind, in.Resource); err != nil {
		return nil, err
	}
	roles := dedupe(in.Roles)
	if len(roles) == 0 && len(kind.Roles) == 1 {
		roles = slices.Clone(kind.Roles) // the one role of a kind (network access) need not be said
	}
	if err := kind.checkRoles(roles, in.Resource); err != nil {
		return nil, err
	}
	integration, ok := policy.Integration(in.Resource.Integration)
	if !ok {
		return nil, Errorf(ENOTFOUND, "there is no integration %q", in.Resource.Integration)
	}
	if kind.CheckTarget != nil {
		if err := kind.CheckTarget(integration, in.Resource, roles); err != nil {
			return nil, err
		}
	}
	// A target on a cluster is routed to that cluster's owners; one above
	// the clusters (a project-wide kind) to the integration's.
	var cluster Cluster
	if in.Resource.Cluster != "" {
		if cluster, err = s.cluster(ctx, in.Resource); err != nil {
			return nil, err
		}
		// The catalog's ids key the grant; its names are what people read
		// (a project typed by id is shown by name).
		if in.Resource.Project != "" {
			in.Resource.Project = cluster.Project
		}
		in.Resource.ProjectID, in.Resource.ClusterID = cluster.ProjectID, cluster.ID
	} else {
		// The address a grant is used from says nothing of where it is
		// (kind_programmatic.go): only network access's target is one.
		from := in.Resource.Address
		if kind.FromAddress {
			in.Resource.Address = ""
		}
		cluster, err = s.aboveClusters(ctx, integration, &in.Resource)
		in.Resource.Address = from
		if err != nil {
			return nil, err
		}
	}
	tags := TargetTags{Project: cluster.ProjectTags, Cluster: cluster.Tags}
	var flow *Flow
	if in.Guest != "" {
		if in.BreakGlass {
			return nil, Errorf(EINVALID, "break-glass access is for yourself: a guest's access goes through approvals")
		}
		flow, err = policy.matchGuest(requester, kind.Kind, in.Resource, tags, roles)
	} else {
		flow, err = policy.matchTagged(in.BreakGlass, requester, kind.Kind, in.Resource, tags, roles)
	}
	if err != nil {
		return nil, err
	}
	var guest *Guest
	if in.Guest != "" {
		if guest, err = flow.admitGuest(requester, in.Guest); err != nil {
			return nil, err
		}
	}
	// Its working hours, judged now (hours.go): outside them, another
	// route, said on the cards.
	flow, note, err := policy.applyHours(flow, s.clock.Now())
	if err != nil {
		return nil, err
	}
	// What the flow says of this address or this person (passwordless.go).
	flow, principal, err := flow.admit(integration, requester, in.Resource)
	if err != nil {
		return nil, err
	}
	if in.Identity != "" {
		return nil, refuseIdentity(in.Identity, flow, principal)
	}
	d := in.Duration
	if d == 0 {
		d = flow.DefaultDuration
	}
	switch {
	case d < time.Minute:
		return nil, Errorf(EINVALID, "ask for at least 1 minute")
	case d > flow.MaxDuration:
		return nil, Errorf(EINVALID, "%s is longer than the %s that access flow %s allows", FormatDuration(d), FormatDuration(flow.MaxDuration), flow.Name)
	}
	reason := strings.TrimSpace(in.Reason)
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if len(reason) > maxReason {
		return nil, Errorf(EINVALID, "the reason is %d characters long; keep it under %d", len(reason), maxReason)
	}
	if reason == "" && flow.RequireReason {
		return nil, Errorf(EINVALID, "access flow %s requires a reason: say why you need access (a ticket or incident id helps)", flow.Name)
	}
	if err := flow.checkReasonPattern(reason); err != nil {
		return nil, err
	}
	if err := checkStart(in.StartAt, s.clock.Now()); err != nil {
		return nil, err
	}
	// Break-glass (breakglass.go): at once, once per window, reviewed.
	flow, review, err := s.checkBreakGlass(ctx, flow, in.BreakGlass, requester, s.clock.Now(), func(ps []Principal) []string {
		return s.resolveApprovers(policy, ps, integration, cluster, requester)
	})
	if err != nil {
		return nil, err
	}
	if review != nil && !in.StartAt.IsZero() {
		return nil, Errorf(EINVALID, "break-glass access starts at once: ask without a start time, or make a scheduled request through flow %s's usual route", flow.Name)
	}
	// A ticket named in the reason, checked in Jira (tickets.go).
	ticket, ticketNote, err := s.checkTicket(ctx, flow, reason)
	if err != nil {
		return nil, err
	}
	approvers := s.approvers(policy, flow, integration, cluster, requester)
	// Approvals from several groups (conditions.go): their members approve too.
	var reqs []Requirement
	for _, g := range flow.ApprovalsFrom {
		members := slices.DeleteFunc(policy.GroupMembers(g.Group), func(e string) bool { return e == requester })
		reqs = append(reqs, Requirement{Group: g.Group, Count: g.Count, Members: members})
		approvers = dedupe(append(approvers, members...))
	}
	if len(reqs) > 0 && matched(reqs, approvers) < needed(reqs) {
		return nil, Errorf(EFORBIDDEN, "access flow %s needs %s, but without you its groups cannot give them", flow.Name, (&Request{Requirements: reqs}).DescribeRequirements())
	}
	// The people on call approve too (oncall.go); one on call may be
	// approved at once, but only when PagerDuty says so now.
	approvers, onCall, routing, requesterOnCall := s.routeOnCall(ctx, flow, approvers, requester)
	autoApprove := flow.AutoApprove || flow.OnCall != nil && flow.OnCall.AutoApproveOnCall && requesterOnCall
	if flow.OnCall != nil && !autoApprove && len(approvers) == 0 {
		if onCall == nil && !strings.HasPrefix(routing, "nobody") {
			return nil, Errorf(EUNAVAILABLE, "PagerDuty could not be reached to tell who is on call, and access flow %s has no other approvers: try again in a minute", flow.Name)
		}
		return nil, Errorf(EFORBIDDEN, "nobody but you is on call for access flow %s, and it has no other approvers", flow.Name)
	}
	if !autoApprove {
		if len(approvers) == 0 {
			return nil, Errorf(EFORBIDDEN, "nobody but you could approve access to %s: ask an admin to set the cluster's %q tag or the integration's owners", in.Resource, integration.OwnerTag)
		}
		if flow.Approvals > len(approvers) {
			return nil, Errorf(EFORBIDDEN, "access flow %s needs %d approvals but only %d people other than you can approve %s", flow.Name, flow.Approvals, len(approvers), in.Resource)
		}
	}
	if err := s.checkGrant(ctx, kind, requester, in.Resource, roles); err != nil {
		return nil, err
	}
	// The person's requests under way, checked by the store as the
	// request is written (CreateChecked): another replica may be creating
	// one of theirs at this moment.
	checkMine := func(mine []*Request) error {
		for _, r := range mine {
			if review != nil {
				if err := usedBreakGlass(flow, r, s.clock.Now()); err != nil {
					return err
				}
			}
			if !sameGuest(r.Guest, guest) {
				continue // access for someone else
			}
			if r.Kind.orDefault() == kind.Kind && r.Resource.Same(in.Resource) && (slices.Equal(r.Roles, roles) || kind.OneGrantPerTarget) {
				return Errorf(ECONFLICT, "you already have request %s for %s on %s (%s); extend it or cancel it instead", r.ID, FormatRoles(r.Roles), r.Resource, r.describeState())
			}
			if principal != "" && r.Principal == principal && r.Resource.Integration == in.Resource.Integration && r.Resource.ProjectID == in.Resource.ProjectID {
				return Errorf(ECONFLICT, "you already have request %s as the %s user %s in %s (%s): Atlas has one such user per person, so jitbot grants one at a time; extend or revoke that one first",
					r.ID, r.Auth, principal, r.Resource.Integration, r.describeState())
			}
		}
		if len(mine) >= s.cfg.MaxLiveRequests {
			return Errorf(EFORBIDDEN, "you have %d requests under way, the most one person may have: cancel or revoke one you no longer need (list shows them), then ask again", len(mine))
		}
		return nil
	}
	// Last, once everything else holds: a fresh sign-in to break glass,
	// asked only of a request that would be taken.
	if err := breakGlassStepUp(flow, asked, requester); err != nil {
		mine, ferr := s.store.Find(ctx, Query{Requester: requester, States: LiveStates()})
		if ferr != nil {
			return nil, fmt.Errorf("flows: submit: %w", ferr)
		}
		if cerr := checkMine(mine); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}

	now := s.clock.Now()
	r := &Request{
		ID: newID(), Requester: requester, Kind: kind.Kind, Resource: in.Resource, Roles: roles, Duration: d, Auth: flow.Auth, Principal: principal,
		Reason: reason, Origin: in.Origin, Flow: flow.Name, PolicyHash: policy.Hash(), Approvers: approvers, Quorum: flow.Approvals,
		MaxDuration: flow.MaxDuration, DenyReasonRequired: flow.RequireReason,
		ExtendNeedsApproval: flow.ExtendRequiresApproval && !flow.AutoApprove,
		ApprovalsChannel:    flow.ApprovalsChannel, Requirements: reqs,
		OnCallApprovers: onCall, RoutingNote: joinNotes(note, routing, ticketNote), Ticket: ticket,
		EndsWithTicket: ticket != "" && flow.Ticket != nil && flow.Ticket.EndWhenResolved, StartsAt: in.StartAt,
		State: StatePending, CreatedAt: now, UpdatedAt: now, PendingUntil: now.Add(flow.PendingTTL), Guest: guest,
	}
	if r.Scheduled() && r.StartsAt.Before(r.PendingUntil) {
		// Not approved by its start, it never starts.
		r.PendingUntil = r.StartsAt
	}
	if review != nil {
		// The reviewers and the integration's owners, alerted, take part:
		// they may see the request and revoke it.
		owners := s.resolveApprovers(policy, []Principal{{Kind: IntegrationOwners}}, integration, cluster, requester)
		r.BreakGlass, r.Approvers, r.MaxDuration = review, dedupe(append(slices.Clone(review.Reviewers), owners...)), d // never extended
		r.BreakGlass.MFA = flow.StepUp.BreakGlass
	}
	r.planEscalation(flow, now, func(ps []Principal) []string {
		return s.resolveApprovers(policy, ps, integration, cluster, requester)
	})
	ev := Event{Type: EventSubmitted, RequestID: r.ID, Actor: requester, At: now, To: StatePending, Message: reason, Duration: d}
	stored, created, err := s.store.CreateChecked(ctx, r, ev, in.IdempotencyKey, checkMine)
	locked = false
	unlock()
	if err != nil {
		return nil, fmt.Errorf("flows: submit: %w", err)
	}
	if !created {
		return replayed(stored, requester)
	}
	s.log.InfoContext(ctx, "request submitted", "request_id", r.ID, "requester", requester, "kind", string(r.Kind), "resource", r.Resource.String(), "role", FormatRoles(r.Roles), "flow", flow.Name)
	if autoApprove {
		stored, err = s.transition(ctx, r.ID, func(r *Request, now time.Time) (Event, error) {
			if r.BreakGlass != nil {
				return r.UseBreakGlass(now)
			}
			ev, err := r.AutoApprove(now)
			if !flow.AutoApprove {
				ev.Message = "approved at once: " + requester + " is on call now (PagerDuty)"
			}
			return ev, err
		})
		if err != nil {
			return nil, err
		}
		if stored.NextAttemptAt.After(s.clock.Now()) {
			return stored, nil // scheduled: provisioned before its start
		}
		p, err := s.provision(ctx, r.ID, respectLease)
		return s.current(ctx, r.ID, p, err)
	}
	s.announce(ctx, ev, stored)
	return stored, nil
}

// replayed answers a submission whose idempotency key made r already. A
// key is a delivery id of the chat platform, so it is the requester's own;
// should another person ever present it (a forged or colliding delivery),
// they learn nothing of r, which is not theirs to see.
func replayed(r *Request, requester string) (*Request, error) {
	if r.Requester != requester {
		return nil, Errorf(ECONFLICT, "this submission was already received from someone else; submit your request again")
	}
	return r, nil
}

// resolve reads a target the way its integration wants it (Policy.Resolve)
// and checks it in the kind's grammar.
func resolve(policy *Policy, kind KindSpec, r Resource) (Resource, error) {
	resolved, err := policy.Resolve(r)
	if err != nil {
		return Resource{}, err
	}
	if (kind.FromAddress || kind.Kind == KindDatabaseUser) && resolved.Address != "" {
		// Written as people do (203.0.113.7), kept as a range (/32).
		p, err := ParseAddress(resolved.Address)
		if err != nil {
			return Resource{}, err
		}
		resolved.Address = p.String()
	}
	if err := kind.ValidateTarget(resolved); err != nil {
		if resolved.Project != "" && r.Project == "" {
			// Its parts moved down a level: say how the integration's targets read.
			return Resource{}, WrapError(EINVALID, err, "%s (integration %s spans an Atlas organization: write %s)",
				ErrorMessage(err), r.Integration, strings.Replace(kind.TargetSyntax, "integration/", "integration/project/", 1))
		}
		return Resource{}, err
	}
	return resolved, nil
}

// cluster finds the resource's cluster in the catalog: by name, in the
// resource's project (by name or id) for an organization-wide integration.
func (s *Service) cluster(ctx context.Context, r Resource) (Cluster, error) {
	clusters, err := s.catalog.Clusters(ctx, r.Integration)
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			return Cluster{}, WrapError(EUNAVAILABLE, err, "could not list the clusters of %s right now; try again in a minute", r.Integration)
		}
		return Cluster{}, err
	}
	inProject := func(c Cluster) bool {
		return r.Project == "" || c.Project == r.Project || (c.ProjectID != "" && (c.ProjectID == r.Project || c.ProjectID == r.ProjectID))
	}
	var names, projects []string
	for _, c := range clusters {
		if !inProject(c) {
			if !slices.Contains(projects, c.Project) {
				projects = append(projects, c.Project)
			}
			continue
		}
		if c.Name == r.Cluster {
			return c, nil
		}
		names = append(names, c.Name)
	}
	sort.Strings(names)
	if r.Project != "" && len(names) == 0 {
		sort.Strings(projects)
		return Cluster{}, Errorf(EINVALID, "there is no project %q with clusters in %s; its projects with clusters are: %s", r.Project, r.Integration, strings.Join(projects, ", "))
	}
	where := r.Integration
	if r.Project != "" {
		where = "project " + r.Project + " of " + r.Integration
	}
	return Cluster{}, Errorf(EINVALID, "there is no cluster %q in %s; its clusters are: %s", r.Cluster, where, strings.Join(names, ", "))
}

// approvers resolves a flow's approver rules under policy into people, never
// including the requester. Owners come from the cluster's owner tag; when it
// names nobody else, the integration's owners stand in.
func (s *Service) approvers(policy *Policy, f *Flow, in *Integration, c Cluster, requester string) []string {
	return s.resolveApprovers(policy, f.Approvers, in, c, requester)
}

// resolveApprovers is approvers for a list of approver rules (a flow's, or
// an escalation tier's).
func (s *Service) resolveApprovers(policy *Policy, rules []Principal, in *Integration, c Cluster, requester string) []string {
	var out []string
	add := func(emails []string) {
		for _, e := range emails {
			if e != requester {
				out = append(out, e)
			}
		}
	}
	integrationOwners := func() []string {
		var emails []string
		for _, o := range in.Owners {
			emails = append(emails, policy.expand(o)...)
		}
		return emails
	}
	for _, a := range rules {
		switch a.Kind {
		case Owners:
			owners := s.ownerEmails(policy, c, in)
			if !slices.ContainsFunc(owners, func(e string) bool { return e != requester }) {
				owners = integrationOwners()
			}
			add(owners)
		case IntegrationOwners:
			add(integrationOwners())
		default:
			add(policy.expand(a))
		}
	}
	return dedupe(out)
}

// ownerEmails reads the owner tag's tokens: emails, user:<email> or group:<name>.
func (s *Service) ownerEmails(policy *Policy, c Cluster, in *Integration) []string {
	var out []string
	for _, tok := range c.Owners {
		kind, name, found := strings.Cut(tok, ":")
		if !found {
			kind, name = string(User), tok
		}
		switch PrincipalKind(kind) {
		case User:
			if email, err := NormalizeEmail(name); err == nil {
				out = append(out, email)
				continue
			}
		case Group:
			if members := policy.GroupMembers(name); len(members) > 0 {
				out = append(out, members...)
				continue
			}
		}
		s.log.Warn("ignoring an owner tag value that names nobody", "integration", in.Name, "cluster", c.Name, "tag", in.OwnerTag, "value", tok)
	}
	return out
}

// joinNotes joins the routing notes that are not empty.
func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

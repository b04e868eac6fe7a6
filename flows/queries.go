package flows

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
)

// LiveStates are the states in which a request still matters to its
// requester, every state but the terminal ones (a new slice each call: a
// store may sort or trim the query it is given).
func LiveStates() []State {
	return []State{StatePending, StateApproved, StateProvisioning, StateActive, StateRevoking, StateRevokeFailed}
}

// Get returns a request the actor takes part in: their own, one routed to
// them for approval, or any for an admin. Anyone else is answered as for an
// unknown id.
func (s *Service) Get(ctx context.Context, id RequestID, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	return s.visible(ctx, id, actor)
}

// Mine lists the person's requests that are not over yet, newest first.
func (s *Service) Mine(ctx context.Context, actor string) ([]*Request, error) {
	return s.store.Find(ctx, Query{Requester: actor, States: LiveStates()})
}

// Pending lists the requests and extensions waiting for the person's approval.
func (s *Service) Pending(ctx context.Context, actor string) ([]*Request, error) {
	rs, err := s.store.Find(ctx, Query{Approver: actor})
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if slices.Contains(r.AwaitingApprovalFrom(), actor) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Requests lists requests for admins.
func (s *Service) Requests(ctx context.Context, q Query) ([]*Request, error) {
	return s.store.Find(ctx, q)
}

// Choice is something a person may ask for: a target of one kind, the roles
// they may ask for on it, and the durations allowed. The forms offer
// choices; every answer is checked again on submission.
type Choice struct {
	// Kind is what the choice grants (a database user, Atlas UI access,
	// network access...).
	Kind Kind
	// Resource is the target: for a database user, Database empty means any
	// database of the cluster the flows cover (the person names it); for
	// network access, the integration alone, completed by the address the
	// person types (AskAddress).
	Resource        Resource
	Roles           []string
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	RequireReason   bool
	// AskAddress says the person types the address (one IP or a range) the
	// grant opens or is used from: the flows bound it with network rules,
	// checked on submission.
	AskAddress bool
}

// Options lists what the person may ask for, kind by kind, from the flows
// that admit them and what the catalog offers: the databases of the
// clusters their flows cover (database users), the projects, or the
// organization, of their flows (Atlas UI access and the kinds targeted like
// it), and the integrations whose network flows admit them (network access,
// the address typed). It is what the request forms show, and only that:
// nobody browses the catalog through a form.
func (s *Service) Options(ctx context.Context, actor string) ([]Choice, error) {
	policy := s.Policy()
	byKind := map[Kind][]*Flow{}
	for _, f := range policy.RequesterFlows(actor) {
		byKind[f.Kind.orDefault()] = append(byKind[f.Kind.orDefault()], f)
	}
	var out []Choice
	var lastErr error
	for _, kind := range policy.Kinds() {
		fs := byKind[kind.Kind]
		if len(fs) == 0 {
			continue
		}
		for _, in := range policy.integrations {
			var ofIn []*Flow
			for _, f := range fs {
				if f.Integration == in.Name {
					ofIn = append(ofIn, f)
				}
			}
			if len(ofIn) == 0 {
				continue
			}
			var chs []Choice
			var err error
			switch {
			case kind.TargetParts == 0:
				chs = addressChoices(kind, in, ofIn)
			case kind.TargetParts == 1:
				chs, err = s.projectChoices(ctx, policy, actor, kind, in, ofIn)
			default:
				chs, err = s.clusterChoices(ctx, policy, actor, kind, in, ofIn)
			}
			if err != nil {
				lastErr = err
				s.log.WarnContext(ctx, "catalog unavailable", "integration", in.Name, "kind", kind.Kind, "err", err)
				continue
			}
			out = append(out, chs...)
		}
	}
	if len(out) == 0 && lastErr != nil {
		return nil, WrapError(EUNAVAILABLE, lastErr, "could not list the clusters right now; try again in a minute")
	}
	return out, nil
}

// roleUnion lists the roles of flows, sorted, each once.
func roleUnion(fs []*Flow) []string {
	var roles []string
	for _, f := range fs {
		roles = append(roles, f.Roles...)
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

// clusterChoices offers the databases (and collections) of the clusters
// the flows of a kind targeted below clusters cover.
func (s *Service) clusterChoices(ctx context.Context, policy *Policy, actor string, kind KindSpec, in *Integration, fs []*Flow) ([]Choice, error) {
	roles := roleUnion(fs)
	clusters, err := s.catalog.Clusters(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	var out []Choice
	for _, c := range clusters {
		if in.OrgWide() && c.Project == "" {
			continue // a catalog that does not say the project cannot be offered
		}
		tags := TargetTags{Project: c.ProjectTags, Cluster: c.Tags}
		for _, res := range candidates(in, c) {
			if kind.TargetParts < 3 && res.Collection != "" {
				continue
			}
			if ch, ok := choice(policy, actor, kind, in, res, tags, roles); ok {
				out = append(out, ch)
			}
		}
		if ch, ok := anyDatabaseChoice(in, c, fs); ok {
			ch.Kind = kind.Kind
			out = append(out, ch)
		}
	}
	return out, nil
}

// projectChoices offers the targets of a kind targeted at a project or the
// organization (Atlas UI access): in an organization-wide integration the
// organization itself and each project, in an integration of one project
// that project (the integration alone); each with the roles that apply
// there (organization roles on the organization only).
func (s *Service) projectChoices(ctx context.Context, policy *Policy, actor string, kind KindSpec, in *Integration, fs []*Flow) ([]Choice, error) {
	roles := roleUnion(fs)
	type target struct {
		res  Resource
		tags TargetTags
	}
	targets := []target{{res: Resource{Integration: in.Name}}}
	if in.OrgWide() {
		projects, err := s.projects(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(projects, func(a, b Project) int { return strings.Compare(a.Name, b.Name) })
		for _, p := range projects {
			targets = append(targets, target{res: Resource{Integration: in.Name, Project: p.Name, ProjectID: p.ID}, tags: TargetTags{Project: p.Tags}})
		}
	} else {
		targets[0].res.ProjectID = in.ProjectID
	}
	var out []Choice
	for _, t := range targets {
		if ch, ok := choice(policy, actor, kind, in, t.res, t.tags, roles); ok {
			out = append(out, ch)
		}
	}
	return out, nil
}

// addressChoices offers a kind whose target is an address the person
// types (network access): one choice per integration, with the roles of
// its flows and their longest duration. Which flow applies depends on the
// address, so submission decides the rest.
func addressChoices(kind KindSpec, in *Integration, fs []*Flow) []Choice {
	ch := Choice{Kind: kind.Kind, Resource: Resource{Integration: in.Name}, Roles: roleUnion(fs), AskAddress: true}
	for i, f := range fs {
		if i == 0 {
			ch.DefaultDuration = f.DefaultDuration
		}
		ch.MaxDuration = max(ch.MaxDuration, f.MaxDuration)
		ch.RequireReason = ch.RequireReason || f.RequireReason
	}
	return []Choice{ch}
}

// clusterResource is the cluster as a target: its integration, its project
// in an organization-wide integration, and the ids.
func clusterResource(in *Integration, c Cluster) Resource {
	r := Resource{Integration: in.Name, Cluster: c.Name, ProjectID: c.ProjectID, ClusterID: c.ID}
	if in.OrgWide() {
		r.Project = c.Project
	}
	return r
}

func candidates(in *Integration, c Cluster) []Resource {
	dbs := make([]string, 0, len(c.Databases))
	for db := range c.Databases {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	var out []Resource
	for _, db := range dbs {
		r := clusterResource(in, c)
		r.Database = db
		out = append(out, r)
		colls := slices.Clone(c.Databases[db])
		sort.Strings(colls)
		for _, coll := range colls {
			r.Collection = coll
			out = append(out, r)
		}
	}
	return out
}

func choice(policy *Policy, actor string, kind KindSpec, in *Integration, res Resource, tags TargetTags, roles []string) (Choice, bool) {
	if offeredTarget(kind, res) != nil {
		return Choice{}, false
	}
	ch := Choice{Kind: kind.Kind, Resource: res}
	for _, role := range roles {
		if kind.checkRoles([]string{role}, res) != nil {
			continue
		}
		if kind.CheckTarget != nil && kind.CheckTarget(in, res, []string{role}) != nil {
			continue
		}
		f, err := policy.MatchTagged(actor, kind.Kind, res, tags, []string{role})
		if err != nil {
			continue
		}
		if len(ch.Roles) == 0 {
			ch.DefaultDuration, ch.MaxDuration, ch.RequireReason = f.DefaultDuration, f.MaxDuration, f.RequireReason
		}
		ch.AskAddress = ch.AskAddress || f.Network != nil
		ch.Roles = append(ch.Roles, role)
	}
	return ch, len(ch.Roles) > 0
}

// anyDatabaseChoice offers a cluster whose flows cover every database (a
// pattern such as Cluster0 or Cluster0/*, after the project in an
// organization-wide integration), so a person can name a database the
// configuration does not list.
func anyDatabaseChoice(in *Integration, c Cluster, flows []*Flow) (Choice, bool) {
	ch := Choice{Resource: clusterResource(in, c)}
	tags := TargetTags{Project: c.ProjectTags, Cluster: c.Tags}
	at := 0 // where the cluster's part is
	if in.OrgWide() {
		at = 1
	}
	var allowed []string
	for _, f := range flows {
		if f.Integration != in.Name {
			continue
		}
		for _, g := range f.Resources {
			// A pattern of the project or the cluster covers every database;
			// so does one of the cluster's databases that is *.
			segs := strings.Split(g, "/")
			if len(segs) > at+2 || (len(segs) == at+2 && segs[at+1] != "*") {
				continue
			}
			if globMatches(strings.Join(segs[:min(len(segs), at+1)], "/"), ch.Resource, tags) {
				if len(allowed) == 0 {
					ch.DefaultDuration, ch.MaxDuration, ch.RequireReason = f.DefaultDuration, f.MaxDuration, f.RequireReason
				}
				allowed = append(allowed, f.Roles...)
			}
		}
	}
	slices.Sort(allowed)
	ch.Roles = slices.Compact(allowed)
	return ch, len(ch.Roles) > 0
}

// BuiltinKind returns the spec of a kind jitbot grants, so that what a
// form sends back is read by its kind's own rules (target, roles).
func BuiltinKind(k Kind) (KindSpec, bool) {
	k = k.orDefault()
	for _, s := range builtinKinds() {
		if s.Kind == k {
			return s, true
		}
	}
	return KindSpec{}, false
}

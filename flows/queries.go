package flows

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
)

// liveStates are the states in which a request still matters to its requester
// (a new slice each call: a store may sort or trim the query it is given).
func liveStates() []State {
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
	return s.store.Find(ctx, Query{Requester: actor, States: liveStates()})
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

// Choice is something a person may ask for: a database (or one collection),
// the roles they may ask for on it, and the durations allowed.
type Choice struct {
	Resource        Resource // Database empty: any database of the cluster the flows cover
	Roles           []string
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	RequireReason   bool
}

// Options lists the database users the person may ask for, from the flows
// that admit them and the databases the catalog offers: what the request
// forms show. (Other kinds are asked for by name until the forms offer them.)
func (s *Service) Options(ctx context.Context, actor string) ([]Choice, error) {
	policy := s.Policy()
	var flows []*Flow
	for _, f := range policy.RequesterFlows(actor) {
		if f.Kind == KindDatabaseUser {
			flows = append(flows, f)
		}
	}
	var out []Choice
	var lastErr error
	for _, in := range policy.integrations {
		var roles []string
		for _, f := range flows {
			if f.Integration == in.Name {
				roles = append(roles, f.Roles...)
			}
		}
		if len(roles) == 0 {
			continue
		}
		slices.Sort(roles)
		roles = slices.Compact(roles)
		clusters, err := s.catalog.Clusters(ctx, in.Name)
		if err != nil {
			lastErr = err
			s.log.WarnContext(ctx, "catalog unavailable", "integration", in.Name, "err", err)
			continue
		}
		for _, c := range clusters {
			if in.OrgWide() && c.Project == "" {
				continue // a catalog that does not say the project cannot be offered
			}
			tags := TargetTags{Project: c.ProjectTags, Cluster: c.Tags}
			for _, res := range candidates(in, c) {
				if ch, ok := choice(policy, actor, res, tags, roles); ok {
					out = append(out, ch)
				}
			}
			if ch, ok := anyDatabaseChoice(in, c, flows); ok {
				out = append(out, ch)
			}
		}
	}
	if len(out) == 0 && lastErr != nil {
		return nil, WrapError(EUNAVAILABLE, lastErr, "could not list the clusters right now; try again in a minute")
	}
	return out, nil
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

func choice(policy *Policy, actor string, res Resource, tags TargetTags, roles []string) (Choice, bool) {
	if res.Validate() != nil {
		return Choice{}, false
	}
	ch := Choice{Resource: res}
	for _, role := range roles {
		if checkRoleForResource(role, res) != nil {
			continue
		}
		f, err := policy.MatchTagged(actor, KindDatabaseUser, res, tags, []string{role})
		if err != nil {
			continue
		}
		if len(ch.Roles) == 0 {
			ch.DefaultDuration, ch.MaxDuration, ch.RequireReason = f.DefaultDuration, f.MaxDuration, f.RequireReason
		}
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

package flows

import (
	"path"
	"slices"
	"sort"
	"strings"
)

// globSpecificity ranks how precisely a pattern names what it matches: more
// parts first, then more parts without wildcards, then more literal
// characters. A tag pattern is not a name: it counts as a wildcard part
// whose characters are literal, so it ranks below the name and above *.
type specificity [3]int

func globSpecificity(g string) specificity {
	var s specificity
	for _, seg := range strings.Split(g, "/") {
		s[0]++
		if strings.HasPrefix(seg, tagPrefix) {
			s[2] += len(seg)
			continue
		}
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

// globMatches reports whether pattern g covers resource r, whose project
// and cluster carry tags. A pattern covers what it names and everything
// below it: Cluster0/sales covers the sales database and each of its
// collections, while Cluster0/sales/* covers single collections only, never
// the whole database. A project part matches the project's name or id; a
// tag part, a project or cluster whose tags it selects.
func globMatches(g string, r Resource, tags TargetTags) bool {
	pat := strings.Split(g, "/")
	segs := r.segments()
	if len(segs) == 0 {
		// The integration itself (an organization role; a project role in an
		// integration of one project): * alone covers it.
		return g == "*"
	}
	if len(pat) > len(segs) {
		return false
	}
	projectAt, clusterAt := -1, 0
	if r.Project != "" {
		projectAt, clusterAt = 0, 1
	}
	for i, p := range pat {
		if conds, isTag, err := parseTagPattern(p); isTag {
			switch {
			case err != nil:
				return false
			case i == projectAt && tagsMatch(conds, tags.Project),
				i == clusterAt && tagsMatch(conds, tags.Cluster):
				continue
			}
			return false
		}
		if ok, _ := path.Match(p, segs[i]); ok {
			continue
		}
		if i == projectAt && r.ProjectID != "" && p == r.ProjectID {
			continue
		}
		return false
	}
	return true
}

// bestGlob returns the most specific of f's patterns that covers r.
func (f *Flow) bestGlob(r Resource, tags TargetTags) (specificity, bool) {
	if f.Network != nil && len(f.Resources) == 0 {
		return f.Network.covers(r) // network.go: address ranges, not patterns
	}
	// A grant used from an address (kind_programmatic.go) is matched by
	// its target; the flow's network rules admit the address (admit).
	r.Address = ""
	var best specificity
	found := false
	for _, g := range f.Resources {
		if globMatches(g, r, tags) {
			if s := globSpecificity(g); !found || best.less(s) {
				best, found = s, true
			}
		}
	}
	return best, found
}

// Resolve reads a resource the way its integration wants it. In an
// organization-wide integration the first part below the integration is the
// project: a resource parsed without one (integration/a/b/c reads as
// cluster a, database b, collection c) moves each part down a level (project
// a, cluster b, database c). An integration of one project takes no
// project. An unknown integration is left for the caller to refuse.
func (p *Policy) Resolve(r Resource) (Resource, error) {
	in, ok := p.Integration(r.Integration)
	switch {
	case !ok:
		return r, nil
	case in.OrgWide() && r.Project == "":
		if r == (Resource{Integration: r.Integration, Address: r.Address}) {
			return r, nil // the organization itself: the kind says whether it may be (KindAtlasUI)
		}
		if r.Cluster == "" {
			return r, Errorf(EINVALID, "integration %s spans an Atlas organization: name the project after it, as in %s/<project>/<cluster>/<database>", in.Name, in.Name)
		}
		r.Project, r.Cluster, r.Database, r.Collection = r.Cluster, r.Database, r.Collection, ""
	case !in.OrgWide() && r.Project != "":
		return r, Errorf(EINVALID, "integration %s is one Atlas project: leave the project out, as in %s/<cluster>/<database>", in.Name, in.Name)
	}
	return r, nil
}

// Match is MatchTagged for a target whose tags are not known: tag patterns
// cover nothing.
func (p *Policy) Match(requester string, kind Kind, r Resource, roles []string) (*Flow, error) {
	return p.MatchTagged(requester, kind, r, TargetTags{}, roles)
}

// MatchTagged returns the most specific flow of the kind that lets the
// requester ask for roles on r, whose project and cluster carry tags: one
// flow must offer every role asked for. Without one it refuses, saying why:
// no flow covers the resource, the person is not among the requesters, or a
// role is not offered. r is read as its integration wants it (Resolve).
func (p *Policy) MatchTagged(requester string, kind Kind, r Resource, tags TargetTags, roles []string) (*Flow, error) {
	return p.matchTagged(false, requester, kind, r, tags, roles)
}

// matchTagged is MatchTagged among the break-glass flows (breakGlass) or
// the others: a break-glass flow is used only when asked for by name.
func (p *Policy) matchTagged(breakGlass bool, requester string, kind Kind, r Resource, tags TargetTags, roles []string) (*Flow, error) {
	r, err := p.Resolve(r)
	if err != nil {
		return nil, err
	}
	var covering, admitted, allowed []*Flow
	for _, f := range p.flows {
		if f.Kind != kind || f.Integration != r.Integration || (f.BreakGlass != nil) != breakGlass {
			continue
		}
		if _, ok := f.bestGlob(r, tags); !ok {
			continue
		}
		covering = append(covering, f)
		if !p.admits(f.Requesters, requester) {
			continue
		}
		admitted = append(admitted, f)
		if offersAll(f, roles) {
			allowed = append(allowed, f)
		}
	}
	switch {
	case len(covering) == 0:
		if _, ok := p.Integration(r.Integration); !ok {
			return nil, Errorf(ENOTFOUND, "there is no integration %q", r.Integration)
		}
		if breakGlass {
			return nil, Errorf(EFORBIDDEN, "no break-glass flow covers %s: ask for access the usual way (request ...)", r)
		}
		return nil, Errorf(EFORBIDDEN, "no access flow covers %s%s", r, p.uncovered(requester, r))
	case len(admitted) == 0:
		return nil, Errorf(EFORBIDDEN, "you are not among the requesters of the access flows that cover %s (%s)", r, flowNames(covering))
	case len(allowed) == 0:
		var offered []string
		for _, f := range admitted {
			offered = append(offered, f.Roles...)
		}
		if k, ok := p.Kind(kind); ok && k.CheckRoles != nil {
			// Only what may be asked for on r (no organization role on a project).
			offered = slices.DeleteFunc(offered, func(role string) bool { return k.CheckRoles([]string{role}, r) != nil })
		}
		if len(offered) == 0 {
			return nil, Errorf(EFORBIDDEN, "the access flows that cover %s offer you no role that applies to it (%s)", r, flowNames(admitted))
		}
		slices.Sort(offered)
		offered = slices.Compact(offered)
		for _, role := range roles {
			if !slices.Contains(offered, role) {
				return nil, Errorf(EFORBIDDEN, "role %s is not offered on %s; you may ask for: %s", role, r, strings.Join(offered, ", "))
			}
		}
		return nil, Errorf(EFORBIDDEN, "no one access flow offers %s together on %s; ask for them in separate requests", strings.Join(roles, " and "), r)
	}
	sort.SliceStable(allowed, func(i, j int) bool {
		si, _ := allowed[i].bestGlob(r, tags)
		sj, _ := allowed[j].bestGlob(r, tags)
		if si != sj {
			return sj.less(si)
		}
		return allowed[i].order < allowed[j].order
	})
	return allowed[0], nil
}

// offersAll reports whether f offers every one of roles.
func offersAll(f *Flow, roles []string) bool {
	for _, role := range roles {
		if !slices.Contains(f.Roles, role) {
			return false
		}
	}
	return len(roles) > 0
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

package flows

import (
	"path"
	"slices"
	"sort"
	"strings"
)

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
	if f.Network != nil {
		return f.Network.covers(r) // network.go: address ranges, not patterns
	}
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

// Match returns the most specific flow of the kind that lets the requester
// ask for roles on r: one flow must offer every role asked for. Without one
// it refuses, saying why: no flow covers the resource, the person is not
// among the requesters, or a role is not offered.
func (p *Policy) Match(requester string, kind Kind, r Resource, roles []string) (*Flow, error) {
	var covering, admitted, allowed []*Flow
	for _, f := range p.flows {
		if f.Kind != kind || f.Integration != r.Integration {
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
		if offersAll(f, roles) {
			allowed = append(allowed, f)
		}
	}
	switch {
	case len(covering) == 0:
		if _, ok := p.Integration(r.Integration); !ok {
			return nil, Errorf(ENOTFOUND, "there is no integration %q", r.Integration)
		}
		return nil, Errorf(EFORBIDDEN, "no access flow covers %s%s", r, p.uncovered(requester, r))
	case len(admitted) == 0:
		return nil, Errorf(EFORBIDDEN, "you are not among the requesters of the access flows that cover %s (%s)", r, flowNames(covering))
	case len(allowed) == 0:
		var offered []string
		for _, f := range admitted {
			offered = append(offered, f.Roles...)
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
		si, _ := allowed[i].bestGlob(r)
		sj, _ := allowed[j].bestGlob(r)
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

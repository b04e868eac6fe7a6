package flows

import (
	"fmt"
	"maps"
	"slices"
)

// checkProvisioners refuses a registry that leaves a kind of the policy's
// flows without a provisioner, or that names a kind the policy does not
// know (a typo would otherwise leave its flows unserved), and returns a
// copy the caller cannot change afterwards.
func checkProvisioners(p *Policy, provs Provisioners) (Provisioners, error) {
	for _, k := range slices.Sorted(maps.Keys(provs)) {
		if _, ok := p.Kind(k); !ok {
			return nil, fmt.Errorf("flows: a provisioner is registered for kind %q, which the policy does not know (it knows %s)", k, p.kindIDs())
		}
		if provs[k] == nil {
			return nil, fmt.Errorf("flows: the provisioner of kind %s is nil", k)
		}
	}
	for _, f := range p.flows {
		if _, ok := provs[f.Kind]; !ok {
			return nil, fmt.Errorf("flows: access flow %q grants %s (kind %s), but no provisioner is registered for that kind", f.Name, KindName(f.Kind), f.Kind)
		}
	}
	return maps.Clone(provs), nil
}

// kindOf returns the spec of a request's kind. (A request without one, from
// a store that does not default it, is a database user, as every request
// was before kinds.)
func (s *Service) kindOf(r *Request) (KindSpec, error) {
	if k, ok := s.Policy().Kind(r.Kind.orDefault()); ok {
		return k, nil
	}
	return KindSpec{}, Errorf(EINVALID, "jitbot does not grant %s (kind %s) any more", KindName(r.Kind), r.Kind)
}

// provisioner returns the provisioner of a kind. A request of a kind no
// longer served (its flows and provisioner were removed while it lived)
// has none: provisioning it fails, revoking it retries and alerts.
func (s *Service) provisioner(k Kind) (Provisioner, error) {
	if p, ok := s.provs[k.orDefault()]; ok {
		return p, nil
	}
	return nil, Errorf(EINVALID, "no provisioner is configured for %s (kind %s)", KindName(k), k)
}

// backstopper returns the provisioner of a kind as a Backstopper, if it is one.
func (s *Service) backstopper(k Kind) (Backstopper, bool) {
	b, ok := s.provs[k.orDefault()].(Backstopper)
	return b, ok
}

package flows

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// KindAccessListEntry is temporary network access: an entry in the Atlas
// project's IP access list, for one address or range, for the approved
// duration, with Atlas's own deleteAfterDate as the backstop. Its target is
// integration/address (prod/203.0.113.7, prod/203.0.113.0/28,
// prod/2001:db8::/64); its flow bounds what may be asked for (NetworkRules)
// instead of naming resource patterns, and its one role is connect.
//
// Grants of the same address share one entry (KindSpec.SharedTarget): the
// provisioner keeps it while any live grant holds it, its deleteAfterDate
// the latest of theirs, and never removes an entry that was there before
// jitbot (made by hand, not marked as jitbot's). Which grants hold an entry
// is not stored apart: it is read from the live requests of the same
// address (Grant.Holders), under a lock on the address.
const KindAccessListEntry Kind = "access_list_entry"

// RoleConnect is the one role of network access: connections from the
// address reach the project's clusters (a database user is still needed).
const RoleConnect = "connect"

func accessListEntry() KindSpec {
	return KindSpec{
		Kind: KindAccessListEntry, Name: "network access",
		TargetSyntax: "integration/address, the address one IP (203.0.113.7) or a range (203.0.113.0/28)",
		ParseTarget:  ParseAddressTarget, ValidateTarget: validateAddressTarget,
		TargetParts:   0,
		PatternSyntax: "its flow bounds addresses with allowed_cidrs, widest_prefix_v4, widest_prefix_v6 and allow_public instead",
		Roles:         []string{RoleConnect},
		PrincipalOf:   func(r *Request) string { return r.Resource.Address },
		SharedTarget:  true,
		Describe: func(_ []string, t Resource) string {
			return "network access from " + t.Address + " to " + t.Integration
		},
	}
}

// AccessListEntry returns the spec of KindAccessListEntry.
func AccessListEntry() KindSpec { return accessListEntry() }

// ParseAddressTarget reads integration/address as a person typed it: the
// address one IP or a CIDR range, IPv4 or IPv6.
func ParseAddressTarget(s string) (Resource, error) {
	s = strings.TrimSpace(s)
	integration, addr, ok := strings.Cut(s, "/")
	if !ok || addr == "" {
		return Resource{}, Errorf(EINVALID, "network access target %q: want integration/address, such as prod/203.0.113.7 or prod/203.0.113.0/28", excerpt(s))
	}
	p, err := ParseAddress(addr)
	if err != nil {
		return Resource{}, err
	}
	t := Resource{Integration: integration, Address: p.String()}
	return t, validateAddressTarget(t)
}

// ParseAddress reads one IP address (a range of one) or a CIDR range, in
// canonical form: the host bits of a range must be zero, and no range may
// span every address (0.0.0.0/0, ::/0).
func ParseAddress(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, Errorf(EINVALID, "%q is not an IP address or a CIDR range (such as 203.0.113.7 or 203.0.113.0/28)", excerpt(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, Errorf(EINVALID, "%q is not an IP address or a CIDR range (such as 203.0.113.7 or 203.0.113.0/28)", excerpt(s))
		}
		if a.Zone() != "" {
			return netip.Prefix{}, Errorf(EINVALID, "%q names a network interface (%%%s): Atlas sees addresses only; leave the zone out", excerpt(s), a.Zone())
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	switch {
	case p.Addr().Is4In6():
		return netip.Prefix{}, Errorf(EINVALID, "%q is an IPv4 address written as IPv6: write %s", excerpt(s), p.Addr().Unmap())
	case p.Bits() == 0:
		return netip.Prefix{}, Errorf(EINVALID, "%s is every address on the internet: jitbot never opens a project to all of it", p)
	case p.Masked() != p:
		return netip.Prefix{}, Errorf(EINVALID, "%s has bits set past its /%d: that range is %s; ask for it, or for %s alone", p, p.Bits(), p.Masked(), p.Addr())
	}
	return p, nil
}

// validateAddressTarget checks a network access target however it came.
func validateAddressTarget(t Resource) error {
	if err := checkNameText("integration", t.Integration); err != nil {
		return err
	}
	if !integrationName.MatchString(t.Integration) {
		return Errorf(EINVALID, "integration %q: use lower-case letters, digits, - and _", excerpt(t.Integration))
	}
	if t.Cluster != "" || t.Database != "" || t.Collection != "" {
		return Errorf(EINVALID, "network access opens a whole project to an address: %s names a cluster", t)
	}
	p, err := ParseAddress(t.Address)
	if err != nil {
		return err
	}
	if p.String() != t.Address {
		return Errorf(EINVALID, "address %q: write it as %s", excerpt(t.Address), p)
	}
	return nil
}

// NetworkRules bound what a network access flow may open.
type NetworkRules struct {
	// AllowedCIDRs are the ranges an address must fall inside.
	AllowedCIDRs []netip.Prefix
	// WidestV4 and WidestV6 are the widest range one request may open, as
	// a prefix length (24: a /24 at most); 32 and 128 allow single
	// addresses only.
	WidestV4, WidestV6 int
	// AllowPublic lets an address outside AllowedCIDRs be asked for when it
	// is public, with one approval more than the flow's usual count.
	AllowPublic bool
}

// Defaults of NetworkRules: a single address.
const (
	DefaultWidestPrefixV4 = 32
	DefaultWidestPrefixV6 = 128
)

// nonPublic are the ranges that are not addresses on the public internet:
// Atlas sees connections from public addresses only, so asking for one of
// these outside the flow's ranges is a mistake.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/8", "64:ff9b::/96", "100::/64", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsPublic reports whether every address of p is on the public internet
// (none is private, loopback, link-local, shared, multicast or reserved).
func IsPublic(p netip.Prefix) bool {
	for _, n := range nonPublic {
		if n.Overlaps(p) {
			return false
		}
	}
	return p.IsValid()
}

// inside returns the longest of the rules' ranges that holds all of p, and
// whether one does.
func (n *NetworkRules) inside(p netip.Prefix) (int, bool) {
	best := -1
	for _, c := range n.AllowedCIDRs {
		if c.Addr().Is4() == p.Addr().Is4() && c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
			best = max(best, c.Bits())
		}
	}
	return best, best >= 0
}

// covers says whether a network access flow with these rules is one for
// target t, and how precisely: a flow whose ranges hold the address before
// one that takes it as a public address, and the narrower range first. How
// wide a range the flow allows is not a question of which flow it is: the
// flow that covers a range too wide refuses it, saying so (admit).
func (n *NetworkRules) covers(t Resource) (specificity, bool) {
	p, err := netip.ParsePrefix(t.Address)
	if err != nil {
		return specificity{}, false
	}
	if bits, ok := n.inside(p); ok {
		return specificity{1, 1, bits}, true
	}
	if n.AllowPublic && IsPublic(p) {
		return specificity{}, true
	}
	return specificity{}, false
}

// coverText says how a network access flow covers t, for jitbot explain
// ("" when it does not).
func (n *NetworkRules) coverText(t Resource) string {
	p, err := netip.ParsePrefix(t.Address)
	if err != nil {
		return ""
	}
	if _, ok := n.inside(p); ok {
		for _, c := range n.AllowedCIDRs {
			if c.Addr().Is4() == p.Addr().Is4() && c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
				return "inside " + c.String()
			}
		}
	}
	if n.AllowPublic && IsPublic(p) {
		return "a public address (one approval more)"
	}
	return ""
}

// admitAddress applies a network access flow's rules to the address asked
// for: a range wider than the flow allows is refused, and a public address
// outside the flow's ranges asks one approval more than the flow's usual
// count (one, for a flow that approves by itself).
func (f *Flow) admitAddress(t Resource) (*Flow, error) {
	n := f.Network
	p, err := ParseAddress(t.Address)
	if err != nil {
		return nil, err
	}
	widest, family := n.WidestV4, "IPv4"
	if p.Addr().Is6() {
		widest, family = n.WidestV6, "IPv6"
	}
	if p.Bits() < widest {
		if widest == p.Addr().BitLen() {
			return nil, Errorf(EFORBIDDEN, "%s is a range, and access flow %s opens single %s addresses only: ask for the one address you connect from", p, f.Name, family)
		}
		return nil, Errorf(EFORBIDDEN, "%s is wider than access flow %s allows: at most a /%d of %s", p, f.Name, widest, family)
	}
	if _, ok := n.inside(p); ok {
		return f, nil
	}
	if !n.AllowPublic || !IsPublic(p) {
		// A flow matched by its target (kind_programmatic.go), not by the
		// address: the address must still be one the flow allows.
		ranges := make([]string, len(n.AllowedCIDRs))
		for i, c := range n.AllowedCIDRs {
			ranges[i] = c.String()
		}
		what := "addresses inside " + strings.Join(ranges, ", ")
		if n.AllowPublic {
			what = "public addresses or " + orNothing(ranges)
		}
		return nil, Errorf(EFORBIDDEN, "%s is not an address access flow %s allows: it allows %s", p, f.Name, what)
	}
	c := *f
	if c.AutoApprove {
		c.AutoApprove, c.Approvals = false, 1
	} else {
		c.Approvals++
	}
	return &c, nil
}

// uncovered says why no network access flow of the integration covers an
// address, for the refusal: the ranges the requester's flows hold, and
// whether any takes public addresses.
func (p *Policy) uncovered(requester string, t Resource) string {
	var ranges []string
	public := false
	for _, f := range p.flows {
		if f.Kind != KindAccessListEntry || f.Integration != t.Integration || f.Network == nil || !p.admits(f.Requesters, requester) {
			continue
		}
		for _, c := range f.Network.AllowedCIDRs {
			ranges = append(ranges, c.String())
		}
		public = public || f.Network.AllowPublic
	}
	a, err := netip.ParsePrefix(t.Address)
	switch {
	case len(ranges) == 0 && !public:
		return ""
	case public && err == nil && !IsPublic(a):
		return fmt.Sprintf(": %s is not a public address, and the network access flows of %s you may use open public addresses or %s only", t.Address, t.Integration, orNothing(ranges))
	case public:
		return ""
	}
	return fmt.Sprintf(": the network access flows of %s you may use open addresses inside %s only", t.Integration, strings.Join(dedupe(ranges), ", "))
}

func orNothing(ranges []string) string {
	if len(ranges) == 0 {
		return "none of their own"
	}
	return "those inside " + strings.Join(dedupe(ranges), ", ")
}

// compileNetwork reads a flow's network settings: only network access
// flows have them, and they need ranges to hold addresses, public
// addresses allowed, or both.
func (p *Policy) compileNetwork(v *validator, at string, fs FlowSpec, f *Flow, kind KindSpec, known bool, staticApprovers int, dynamic bool) {
	if !known {
		return
	}
	networkKeys := map[string]bool{
		"allowed_cidrs": len(fs.AllowedCIDRs) > 0, "widest_prefix_v4": fs.WidestPrefixV4 != 0,
		"widest_prefix_v6": fs.WidestPrefixV6 != 0, "allow_public": fs.AllowPublic,
	}
	if kind.Kind == KindDatabaseUser && !slices.Contains(slices.Collect(maps.Values(networkKeys)), true) {
		return // a database user flow takes no address (from) unless it bounds them
	}
	if kind.Kind != KindAccessListEntry && !kind.FromAddress && kind.Kind != KindDatabaseUser {
		for key, set := range networkKeys {
			if set {
				v.add(at+"."+key, "a setting of network access flows (kind: %s), not of %s flows", KindAccessListEntry, kind.Name)
			}
		}
		return
	}
	if in, ok := p.Integration(fs.Integration); ok && in.OrgWide() && (kind.Kind == KindAccessListEntry || kind.Kind == KindDatabaseUser) {
		v.add(at+".integration", "network access opens one project's access list: integration %s spans an organization; grant it through an integration of one project (project_id)", in.Name)
	}
	n := &NetworkRules{WidestV4: DefaultWidestPrefixV4, WidestV6: DefaultWidestPrefixV6, AllowPublic: fs.AllowPublic}
	for j, s := range fs.AllowedCIDRs {
		path := fmt.Sprintf("%s.allowed_cidrs[%d]", at, j)
		c, err := ParseAddress(s)
		if err != nil {
			v.add(path, "%s", ErrorMessage(err))
			continue
		}
		n.AllowedCIDRs = append(n.AllowedCIDRs, c)
	}
	if len(fs.AllowedCIDRs) == 0 && !fs.AllowPublic {
		v.add(at+".allowed_cidrs", "required: the ranges the addresses asked for must fall inside, such as [203.0.113.0/24], or allow_public: true")
	}
	if fs.WidestPrefixV4 != 0 {
		if fs.WidestPrefixV4 < 1 || fs.WidestPrefixV4 > 32 {
			v.add(at+".widest_prefix_v4", "%d: want a prefix length of 1 to 32 (24 allows ranges up to a /24; 32, the default, single addresses)", fs.WidestPrefixV4)
		} else {
			n.WidestV4 = fs.WidestPrefixV4
		}
	}
	if fs.WidestPrefixV6 != 0 {
		if fs.WidestPrefixV6 < 1 || fs.WidestPrefixV6 > 128 {
			v.add(at+".widest_prefix_v6", "%d: want a prefix length of 1 to 128 (64 allows ranges up to a /64; 128, the default, single addresses)", fs.WidestPrefixV6)
		} else {
			n.WidestV6 = fs.WidestPrefixV6
		}
	}
	if fs.AllowPublic {
		need := f.Approvals + 1
		if f.AutoApprove {
			need = 1
		}
		switch {
		case len(fs.Approvers) == 0:
			v.add(at+".allow_public", "a public address takes one approval more than the flow's usual count (%d): name its approvers", need)
		case !dynamic && need > staticApprovers:
			v.add(at+".approvals", "a public address (allow_public) needs %d approvals but only %d people are approvers", need, staticApprovers)
		}
	}
	f.Network = n
}

package flows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func TestParseAddressTarget(t *testing.T) {
	good := map[string]string{
		"prod/203.0.113.7":          "prod/203.0.113.7/32",
		" prod/203.0.113.0/28 ":     "prod/203.0.113.0/28",
		"prod/2001:db8::1":          "prod/2001:db8::1/128",
		"prod/2001:DB8:0:0::/64":    "prod/2001:db8::/64",
		"prod/198.51.100.255/32":    "prod/198.51.100.255/32",
		"eu-prod/2001:db8:1::/48":   "eu-prod/2001:db8:1::/48",
		"prod/10.1.2.3":             "prod/10.1.2.3/32",
		"prod/fd00:1234::/64":       "prod/fd00:1234::/64",
		"prod/203.0.113.128/25":     "prod/203.0.113.128/25",
		"prod/2001:db8:0:0:0:0:0:7": "prod/2001:db8::7/128",
	}
	for in, want := range good {
		t.Run(in, func(t *testing.T) {
			r, err := flows.ParseAddressTarget(in)
			if err != nil || r.String() != want || r.Cluster != "" {
				t.Fatalf("%q: %+v %v, want %s", in, r, err, want)
			}
		})
	}
	bad := map[string]string{
		"prod":                "want integration/address",
		"prod/":               "want integration/address",
		"prod/203.0.113.300":  "is not an IP address or a CIDR range",
		"prod/203.0.113.7/33": "is not an IP address or a CIDR range",
		"prod/not-an-address": "is not an IP address or a CIDR range",
		"prod/203.0.113.7/24": "has bits set past its /24: that range is 203.0.113.0/24; ask for it, or for 203.0.113.7 alone",
		"prod/0.0.0.0/0":      "every address on the internet",
		"prod/::/0":           "every address on the internet",
		"prod/::ffff:1.2.3.4": "an IPv4 address written as IPv6: write 1.2.3.4",
		"prod/fe80::1%eth0":   "names a network interface",
		"Prod/203.0.113.7":    "use lower-case letters",
	}
	for in, want := range bad {
		t.Run(in, func(t *testing.T) {
			_, err := flows.ParseAddressTarget(in)
			if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), want) {
				t.Fatalf("%q: %v, want %q", in, err, want)
			}
		})
	}
}

// networkFlow is a flow of network access on prod: addresses in the office
// range (a /28 at most) and the VPN's IPv6 range (a /64 at most), approved
// by one of the integration's owners (group dba), and public addresses with
// one approval more.
func networkFlow() flows.FlowSpec {
	return flows.FlowSpec{Name: "office-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"*"},
		AllowedCIDRs: []string{"198.51.100.0/24", "2001:db8::/32"}, WidestPrefixV4: 28, WidestPrefixV6: 64, AllowPublic: true,
		MaxDuration: "8h", Approvers: []string{"integration-owners"}}
}

func newNetworkFixture(t *testing.T, flowSpecs ...flows.FlowSpec) *fixture {
	t.Helper()
	return newNetworkFixtureLocking(t, nil, flowSpecs...)
}

// newNetworkFixtureLocking is newNetworkFixture with the store's locks
// (Deps.Locks).
func newNetworkFixtureLocking(t *testing.T, locks flows.Locks, flowSpecs ...flows.FlowSpec) *fixture {
	t.Helper()
	spec := testPolicy()
	spec.Flows = append(spec.Flows, flowSpecs...)
	f := &fixture{
		t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	var err error
	f.svc, err = flows.NewService(flows.Config{Policy: mustCompile(t, spec)}, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov, flows.KindAccessListEntry: f.prov},
		Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock, Locks: locks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) submitAddress(requester, target string) (*flows.Request, error) {
	f.t.Helper()
	res, err := flows.ParseAddressTarget(target)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Kind: flows.KindAccessListEntry, Resource: res,
		Duration: time.Hour, Reason: "INC-7 VPN down", Origin: "slack"})
}

func TestNetworkAccessRulesAtSubmit(t *testing.T) {
	closed := flows.FlowSpec{Name: "lab-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"group:eng"},
		AllowedCIDRs: []string{"192.0.2.0/24"}, Roles: []string{"connect"}, AutoApprove: true}
	f := newNetworkFixture(t, networkFlow(), closed)

	inside, err := f.submitAddress("carol@example.com", "prod/198.51.100.7")
	if err != nil || inside.Flow != "office-network" || inside.Quorum != 1 || inside.Principal != "" || inside.Resource.Address != "198.51.100.7/32" ||
		len(inside.Roles) != 1 || inside.Roles[0] != flows.RoleConnect {
		t.Fatalf("an office address: %+v %v", inside, err)
	}
	if got := flows.DescribeAccess(inside); got != "network access from 198.51.100.7/32 to prod" {
		t.Fatalf("described as %q", got)
	}
	public, err := f.submitAddress("carol@example.com", "prod/203.0.113.50")
	if err != nil || public.Quorum != 2 || public.Flow != "office-network" {
		t.Fatalf("a public address needs one approval more: %+v %v", public, err)
	}
	if r, err := f.submitAddress("carol@example.com", "prod/2001:db8:1:2::/64"); err != nil || r.Quorum != 1 {
		t.Fatalf("an IPv6 /64 inside the range: %+v %v", r, err)
	}
	if r, err := f.submitAddress("carol@example.com", "prod/198.51.100.16/28"); err != nil || r.Quorum != 1 {
		t.Fatalf("a /28: %+v %v", r, err)
	}
	// Alice is in eng: the lab flow approves its own addresses at once.
	if r, err := f.submitAddress("alice@example.com", "prod/192.0.2.10"); err != nil || r.State != flows.StateActive || r.Flow != "lab-network" || r.Principal != "192.0.2.10/32" {
		t.Fatalf("an auto-approved lab address: %+v %v", r, err)
	}

	// Carol is not in eng: the lab's range is, for her, one more public address.
	if r, err := f.submitAddress("carol@example.com", "prod/192.0.2.10"); err != nil || r.Flow != "office-network" || r.Quorum != 2 {
		t.Fatalf("a lab address asked for by someone else: %+v %v", r, err)
	}

	refused := []struct {
		who, target string
		code        flows.Code
		says        string
	}{
		{"carol@example.com", "prod/198.51.100.0/24", flows.EFORBIDDEN, "198.51.100.0/24 is wider than access flow office-network allows: at most a /28 of IPv4"},
		{"carol@example.com", "prod/2001:db8::/48", flows.EFORBIDDEN, "at most a /64 of IPv6"},
		{"carol@example.com", "prod/10.1.2.3", flows.EFORBIDDEN, "10.1.2.3/32 is not a public address"},
		{"carol@example.com", "prod/198.51.100.7", flows.ECONFLICT, "you already have request"},
	}
	for _, c := range refused {
		_, err := f.submitAddress(c.who, c.target)
		if flows.ErrorCode(err) != c.code || !strings.Contains(flows.ErrorMessage(err), c.says) {
			t.Errorf("%s asking for %s: %v, want %s %q", c.who, c.target, err, c.code, c.says)
		}
	}
}

func TestNetworkAccessOutsideAClosedFlow(t *testing.T) {
	closed := networkFlow()
	closed.AllowPublic = false
	f := newNetworkFixture(t, closed)
	_, err := f.submitAddress("carol@example.com", "prod/203.0.113.50")
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(flows.ErrorMessage(err),
		"no access flow covers prod/203.0.113.50/32: the network access flows of prod you may use open addresses inside 198.51.100.0/24, 2001:db8::/32 only") {
		t.Fatalf("an address outside the ranges: %v", err)
	}
}

// TestPublicAddressOnAnAutoApprovedFlow: a flow that approves by itself
// still needs one approval for a public address.
func TestPublicAddressOnAnAutoApprovedFlow(t *testing.T) {
	auto := networkFlow()
	auto.AutoApprove, auto.Approvers = true, []string{"group:dba"}
	f := newNetworkFixture(t, auto)
	if r, err := f.submitAddress("carol@example.com", "prod/198.51.100.7"); err != nil || r.State != flows.StateActive {
		t.Fatalf("inside: %+v %v", r, err)
	}
	r, err := f.submitAddress("carol@example.com", "prod/203.0.113.50")
	if err != nil || r.State != flows.StatePending || r.Quorum != 1 || len(r.Approvers) != 2 {
		t.Fatalf("public: %+v %v", r, err)
	}
	if r, err = f.decide(r.ID, "dba1@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("approved: %+v %v", r, err)
	}
}

func TestCompileNetworkFlows(t *testing.T) {
	tests := []struct {
		name, path, says string
		edit             func(*flows.FlowSpec)
	}{
		{"a database user flow's ranges are checked as well (from)", "flows[5].allowed_cidrs[0]", "every address on the internet",
			func(f *flows.FlowSpec) {
				*f = testPolicy().Flows[0]
				f.Name = "x"
				f.AllowedCIDRs = []string{"0.0.0.0/0"}
			}},
		{"network keys on an Atlas UI flow", "flows[5].allowed_cidrs", "a setting of network access flows (kind: access_list_entry), not of Atlas UI access flows",
			func(f *flows.FlowSpec) {
				*f = flows.FlowSpec{Name: "x", Kind: string(flows.KindAtlasUI), Integration: "prod", Requesters: []string{"*"}, Resources: []string{"*"},
					Roles: []string{"GROUP_READ_ONLY"}, Approvers: []string{"group:dba"}, AllowedCIDRs: []string{"198.51.100.0/24"}}
			}},
		{"no ranges and no public", "flows[5].allowed_cidrs", "required: the ranges",
			func(f *flows.FlowSpec) { f.AllowedCIDRs, f.AllowPublic = nil, false }},
		{"a bad range", "flows[5].allowed_cidrs[1]", `"2001:db8::/129" is not an IP address or a CIDR range`,
			func(f *flows.FlowSpec) { f.AllowedCIDRs[1] = "2001:db8::/129" }},
		{"the whole internet as a range", "flows[5].allowed_cidrs[0]", "every address on the internet",
			func(f *flows.FlowSpec) { f.AllowedCIDRs[0] = "0.0.0.0/0" }},
		{"a range with host bits", "flows[5].allowed_cidrs[0]", "198.51.100.1/24 has bits set past its /24",
			func(f *flows.FlowSpec) { f.AllowedCIDRs[0] = "198.51.100.1/24" }},
		{"a v4 prefix out of range", "flows[5].widest_prefix_v4", "33: want a prefix length of 1 to 32",
			func(f *flows.FlowSpec) { f.WidestPrefixV4 = 33 }},
		{"a v6 prefix out of range", "flows[5].widest_prefix_v6", "-1: want a prefix length of 1 to 128",
			func(f *flows.FlowSpec) { f.WidestPrefixV6 = -1 }},
		{"resource patterns", "flows[5].resources", "a network access flow names no resources",
			func(f *flows.FlowSpec) { f.Resources = []string{"Cluster0"} }},
		{"a role it does not have", "flows[5].roles[0]", `role "read" is not one a network access gets: ask for connect`,
			func(f *flows.FlowSpec) { f.Roles = []string{"read"} }},
		{"public addresses on an auto-approved flow with no approvers", "flows[5].allow_public", "a public address takes one approval more than the flow's usual count (1): name its approvers",
			func(f *flows.FlowSpec) { f.AutoApprove, f.Approvers = true, nil }},
		{"public addresses beyond the approvers", "flows[5].approvals", "a public address (allow_public) needs 3 approvals but only 2 people are approvers",
			func(f *flows.FlowSpec) { f.Approvers, f.Approvals = []string{"group:dba"}, 2 }},
		{"auth on network access", "flows[5].auth", "a setting of database user flows, not of network access flows",
			func(f *flows.FlowSpec) { f.Auth = "oidc" }},
		{"an organization-wide integration", "flows[5].integration", "network access opens one project's access list: integration acme spans an organization",
			func(f *flows.FlowSpec) { f.Integration = "acme" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			spec.Integrations = append(spec.Integrations, flows.IntegrationSpec{Name: "acme", OrganizationID: "5f0000000000000000000000", Owners: []string{"group:dba"}})
			fl := networkFlow()
			tt.edit(&fl)
			spec.Flows = append(spec.Flows, fl)
			_, err := flows.Compile(spec)
			if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("want %s: %s, got %v", tt.path, tt.says, err)
			}
		})
	}
	spec := testPolicy()
	spec.Flows = append(spec.Flows, networkFlow())
	f, _ := mustCompile(t, spec).Flow("office-network")
	if f.Network == nil || f.Network.WidestV4 != 28 || len(f.Network.AllowedCIDRs) != 2 || len(f.Roles) != 1 || f.Roles[0] != "connect" {
		t.Fatalf("compiled: %+v %+v", f, f.Network)
	}
	plain := networkFlow()
	plain.WidestPrefixV4, plain.WidestPrefixV6 = 0, 0
	spec.Flows[len(spec.Flows)-1] = plain
	if f, _ := mustCompile(t, spec).Flow("office-network"); f.Network.WidestV4 != 32 || f.Network.WidestV6 != 128 {
		t.Fatalf("defaults: %+v", f.Network)
	}
}

func TestIsPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"203.0.113.7/32": true, "8.8.8.0/24": true, "2001:db8::/64": true, "2a00:1450::/32": true,
		"10.0.0.1/32": false, "172.16.5.0/24": false, "192.168.1.1/32": false, "100.64.0.1/32": false, "127.0.0.1/32": false,
		"169.254.1.1/32": false, "fd00::1/128": false, "fe80::1/128": false, "::1/128": false, "8.0.0.0/5": false, // 8/5 holds 10/8
	} {
		p, err := flows.ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := flows.IsPublic(p); got != want {
			t.Errorf("%s: public %v, want %v", s, got, want)
		}
	}
}

// TestExplainNetworkAccess: jitbot explain covers network flows by their
// address rules, and says what the flow makes of the address.
func TestExplainNetworkAccess(t *testing.T) {
	spec := testPolicy()
	spec.Flows = append(spec.Flows, networkFlow())
	p := mustCompile(t, spec)
	ex, err := p.Explain("carol@example.com", flows.KindAccessListEntry, "prod/198.51.100.7", nil)
	if err != nil || len(ex.Covering) != 1 || ex.Covering[0].Pattern != "inside 198.51.100.0/24" || len(ex.Routes) != 1 || ex.Routes[0].Flow.Approvals != 1 {
		t.Fatalf("an office address: %+v %v", ex, err)
	}
	ex, err = p.Explain("carol@example.com", flows.KindAccessListEntry, "prod/203.0.113.50", nil)
	if err != nil || len(ex.Routes) != 1 || ex.Routes[0].Flow.Approvals != 2 || ex.Covering[0].Pattern != "a public address (one approval more)" {
		t.Fatalf("a public address: %+v %v", ex, err)
	}
	ex, err = p.Explain("carol@example.com", flows.KindAccessListEntry, "prod/198.51.100.0/24", nil)
	if err != nil || !strings.Contains(ex.Refused, "wider than access flow office-network allows") {
		t.Fatalf("a range too wide: %+v %v", ex, err)
	}
}

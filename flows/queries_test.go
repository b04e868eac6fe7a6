package flows_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestOptionsOfferOnlyWhatTheFlowsAllow(t *testing.T) {
	f := newFixture(t)
	describe := func(who string) []string {
		chs, err := f.svc.Options(f.ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range chs {
			out = append(out, c.Resource.String()+" "+strings.Join(c.Roles, ",")+" max "+flows.FormatDuration(c.MaxDuration))
		}
		return out
	}
	carol := describe("carol@example.com")
	want := []string{"prod/Cluster0/sales/customers read max 8h", "prod/Cluster0/sales/orders read max 4h", "prod/Untagged read max 8h"}
	if !slices.Equal(carol, want) {
		t.Fatalf("carol:\n got %q\nwant %q", carol, want)
	}
	alice := describe("alice@example.com")
	want = []string{
		"prod/Cluster0/sales/customers read,readWrite max 8h", "prod/Cluster0/sales/orders read,readWrite max 4h",
		"prod/Untagged read max 8h", "prod/Staging dbAdmin,read,readWrite max 4h",
	}
	if !slices.Equal(alice, want) {
		t.Fatalf("alice:\n got %q\nwant %q", alice, want)
	}
}

// describeOptions renders a person's options as kind target roles max.
func describeOptions(t *testing.T, f *fixture, who string, kinds ...flows.Kind) []string {
	t.Helper()
	chs, err := f.svc.Options(f.ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range chs {
		if !slices.Contains(kinds, c.Kind) {
			continue
		}
		s := string(c.Kind) + " " + c.Resource.String() + " " + strings.Join(c.Roles, ",") + " max " + flows.FormatDuration(c.MaxDuration)
		if c.AskAddress {
			s += " +address"
		}
		out = append(out, s)
	}
	return out
}

func TestOptionsOfferAtlasUIAccessWhereTheFlowsAllow(t *testing.T) {
	f, _ := newUIFixture(t)
	got := describeOptions(t, f, "carol@example.com", flows.KindAtlasUI)
	// The integration of one project is that project; the organization
	// takes organization roles only; a project of the organization is
	// offered when a flow selects it (by tag env=prod: not search-dev).
	want := []string{
		"atlas_ui prod GROUP_READ_ONLY max 8h",
		"atlas_ui acme ORG_READ_ONLY max 8h",
		"atlas_ui acme/ledger GROUP_CLUSTER_MANAGER,GROUP_READ_ONLY max 8h",
		"atlas_ui acme/payments-prod GROUP_CLUSTER_MANAGER,GROUP_READ_ONLY max 8h",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("options:\n got %q\nwant %q", got, want)
	}
	// Every database user choice says its kind too.
	chs, err := f.svc.Options(f.ctx, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chs {
		if c.Kind == "" {
			t.Fatalf("a choice without a kind: %+v", c)
		}
	}
}

func TestOptionsOfferNetworkAccessOnlyToItsRequesters(t *testing.T) {
	lab := flows.FlowSpec{Name: "lab-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"group:eng"},
		AllowedCIDRs: []string{"192.0.2.0/24"}, Roles: []string{"connect"}, MaxDuration: "2h", AutoApprove: true}
	office := networkFlow()
	office.Requesters = []string{"carol@example.com"}
	f := newNetworkFixture(t, office, lab)
	if got, want := describeOptions(t, f, "carol@example.com", flows.KindAccessListEntry), []string{"access_list_entry prod connect max 8h +address"}; !slices.Equal(got, want) {
		t.Fatalf("carol:\n got %q\nwant %q", got, want)
	}
	if got, want := describeOptions(t, f, "alice@example.com", flows.KindAccessListEntry), []string{"access_list_entry prod connect max 2h +address"}; !slices.Equal(got, want) {
		t.Fatalf("alice (eng):\n got %q\nwant %q", got, want)
	}
	if got := describeOptions(t, f, "dave@example.com", flows.KindAccessListEntry); len(got) != 0 {
		t.Fatalf("someone no network flow admits is offered %q", got)
	}
}

package flows_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// newProgrammaticFixture is the organization of org_test.go with flows of
// service accounts and API keys, each bounding the addresses they are used
// from.
func newProgrammaticFixture(t *testing.T) *fixture {
	t.Helper()
	spec := testPolicy()
	orgPolicy(&spec, nil)
	spec.Integrations[len(spec.Integrations)-1].APIKeyOwner = true
	spec.Flows = append(spec.Flows,
		flows.FlowSpec{Name: "sa-prod", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"},
			AllowedCIDRs: []string{"198.51.100.0/24"}, MaxDuration: "12h", Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "sa-org", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"group:eng"},
			Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY"},
			AllowedCIDRs: []string{"203.0.113.0/24"}, MaxDuration: "2h", Approvers: []string{"integration-owners"}},
		flows.FlowSpec{Name: "key-prod", Kind: string(flows.KindAPIKey), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY"}, AcceptNoBackstop: true,
			AllowedCIDRs: []string{"198.51.100.0/24"}, MaxDuration: "4h", Approvers: []string{"owners"}},
	)
	f := &fixture{
		t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	f.catalog.Set("acme", acmeClusters("payments-prod"))
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, spec)}, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov, flows.KindServiceAccount: f.prov, flows.KindAPIKey: f.prov},
		Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// TestOptionsOfferProgrammaticCredentials: the forms offer service
// accounts and API keys where their flows admit the person, each asking
// for the address it will be used from, and a choice submitted with an
// address is judged by its flow's network rules.
func TestOptionsOfferProgrammaticCredentials(t *testing.T) {
	f := newProgrammaticFixture(t)
	got := describeOptions(t, f, "carol@example.com", flows.KindServiceAccount, flows.KindAPIKey)
	// Carol is not in eng: no organization service account; search-dev is
	// not tagged env=prod.
	want := []string{
		"service_account acme/ledger GROUP_CLUSTER_MANAGER,GROUP_READ_ONLY max 12h +address",
		"service_account acme/payments-prod GROUP_CLUSTER_MANAGER,GROUP_READ_ONLY max 12h +address",
		"api_key acme/ledger GROUP_READ_ONLY max 4h +address",
		"api_key acme/payments-prod GROUP_READ_ONLY max 4h +address",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("carol:\n got %q\nwant %q", got, want)
	}
	if got := describeOptions(t, f, "alice@example.com", flows.KindServiceAccount); !slices.Contains(got, "service_account acme ORG_READ_ONLY max 2h +address") {
		t.Fatalf("alice (eng) is not offered the organization: %q", got)
	}

	// A choice, as a form sends it back, with the address typed beside it.
	chs, err := f.svc.Options(f.ctx, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(chs, func(c flows.Choice) bool {
		return c.Kind == flows.KindServiceAccount && c.Resource.Project == "payments-prod"
	})
	submit := func(address string) (*flows.Request, error) {
		res := chs[i].Resource
		res.Address = address
		return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: "carol@example.com", Kind: chs[i].Kind, Resource: res,
			Roles: []string{"GROUP_READ_ONLY"}, Duration: time.Hour, Reason: "INC-7", Origin: "slack"})
	}
	if _, err := submit("203.0.113.7"); flows.ErrorCode(err) != flows.EFORBIDDEN ||
		!strings.Contains(flows.ErrorMessage(err), "203.0.113.7/32 is not an address access flow sa-prod allows: it allows addresses inside 198.51.100.0/24") {
		t.Fatalf("an address outside the flow's range: %v", err)
	}
	if _, err := submit(""); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), "say where you will use it from") {
		t.Fatalf("no address: %v", err)
	}
	r, err := submit("198.51.100.7")
	if err != nil || r.State != flows.StatePending || r.Flow != "sa-prod" || r.Resource.Address != "198.51.100.7/32" || r.Resource.ProjectID == "" {
		t.Fatalf("an address inside the flow's range: %+v, %v", r, err)
	}
	if got := flows.DescribeAccess(r); got != "a service account with GROUP_READ_ONLY on acme/payments-prod, used from 198.51.100.7/32" {
		t.Fatalf("described as %q", got)
	}
}

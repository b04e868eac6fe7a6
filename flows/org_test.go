package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

const (
	acmeOrg     = "6b0000000000000000000001"
	paymentsID  = "6c0000000000000000000001"
	searchID    = "6c0000000000000000000002"
	ledgerID    = "6c0000000000000000000003"
	paymentsC0  = "6e0000000000000000000001"
	ledgerMain  = "6e0000000000000000000003"
	searchDevC0 = "6e0000000000000000000002"
)

// orgPolicy adds acme, an organization-wide integration, to the test policy,
// with flows that select projects and clusters by tag.
func orgPolicy(spec *flows.PolicySpec, _ *flows.Config) {
	spec.Integrations = append(spec.Integrations, flows.IntegrationSpec{
		Name: "acme", OrganizationID: acmeOrg, Owners: []string{"group:dba"},
	})
	spec.Flows = append(spec.Flows,
		flows.FlowSpec{Name: "acme-prod-read", Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"tag:env=prod/*/*/*"}, Roles: []string{"read"}, Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "acme-gold-write", Integration: "acme", Requesters: []string{"group:eng"},
			Resources: []string{"tag:env=prod/tag:tier=gold"}, Roles: []string{"readWrite"}, Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "acme-dev", Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"tag:env=dev*"}, Roles: []string{"read", "readWrite"}, AutoApprove: true},
		flows.FlowSpec{Name: "acme-payments-orders", Integration: "acme", Requesters: []string{"*"},
			Resources: []string{paymentsID + "/Cluster0/sales/orders"}, Roles: []string{"read"}, MaxDuration: "1h",
			Approvers: []string{"owners"}},
	)
}

func acmeClusters(paymentsName string) []flows.Cluster {
	prod := []flows.Tag{{Key: "env", Value: "prod"}}
	return []flows.Cluster{
		{Name: "Cluster0", ID: paymentsC0, Project: paymentsName, ProjectID: paymentsID, ProjectTags: prod,
			Tags: []flows.Tag{{Key: "tier", Value: "gold"}}, Owners: []string{"owner@example.com"},
			Databases: map[string][]string{"sales": {"orders"}}},
		{Name: "Cluster0", ID: searchDevC0, Project: "search-dev", ProjectID: searchID,
			ProjectTags: []flows.Tag{{Key: "env", Value: "dev"}}},
		{Name: "Main", ID: ledgerMain, Project: "ledger", ProjectID: ledgerID, ProjectTags: prod,
			Owners: []string{"owner@example.com"}},
	}
}

func newOrgFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, orgPolicy)
	f.catalog.Set("acme", acmeClusters("payments-prod"))
	return f
}

func TestCompileOrganizationWideIntegrations(t *testing.T) {
	spec := testPolicy()
	orgPolicy(&spec, nil)
	if _, err := flows.Compile(spec); err != nil {
		t.Fatal(err)
	}
	bad := func(mutate func(*flows.PolicySpec), want ...string) {
		t.Helper()
		spec := testPolicy()
		orgPolicy(&spec, nil)
		mutate(&spec)
		_, err := flows.Compile(spec)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("want an error containing %q, got %v", w, err)
			}
		}
	}
	bad(func(s *flows.PolicySpec) { s.Integrations[1].ProjectID = projectID }, "integrations[1]: set project_id", "not both")
	bad(func(s *flows.PolicySpec) { s.Integrations[1].OrganizationID = "acme" }, "integrations[1].organization_id", "organization id")
	bad(func(s *flows.PolicySpec) { s.Flows[5].Resources = []string{"a/b/c/d/e"} }, "flows[5].resources[0]", "project/ followed by")
	bad(func(s *flows.PolicySpec) { s.Flows[5].Resources = []string{"*/*/tag:x=y"} }, "tag patterns select projects and clusters")
	bad(func(s *flows.PolicySpec) { s.Flows[5].Resources = []string{"tag:=y"} }, "tag key")
	bad(func(s *flows.PolicySpec) { s.Flows[5].Resources = []string{"tag:env=[a"} }, "bad pattern")
	// In an integration of one project the cluster is the first part.
	bad(func(s *flows.PolicySpec) { s.Flows[0].Resources = []string{"Cluster0/tag:env=prod"} }, "flows[0].resources[0]", "below them")
}

func TestResolveReadsResourcesAsTheIntegrationWants(t *testing.T) {
	spec := testPolicy()
	orgPolicy(&spec, nil)
	p := mustCompile(t, spec)
	for in, want := range map[string]string{
		"acme/payments-prod/Cluster0/sales":        "project payments-prod, cluster Cluster0, database sales",
		"acme/payments-prod/Cluster0/sales/orders": "project payments-prod, cluster Cluster0, database sales, collection orders",
		"acme/payments_prod/Cluster0/sales":        "project payments_prod, cluster Cluster0, database sales",
		"prod/Cluster0/sales/orders":               "project , cluster Cluster0, database sales, collection orders",
		"acme/Cluster0/sales":                      "error: database name is empty",
		"prod/p/Cluster0/sales/orders":             "error: integration prod is one Atlas project: leave the project out",
	} {
		r, err := flows.ParseResource(in)
		if err == nil {
			r, err = p.Resolve(r)
		}
		var got string
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			got = "error: " + flows.ErrorMessage(err)
		} else {
			got = "project " + r.Project + ", cluster " + r.Cluster + ", database " + r.Database
			if r.Collection != "" {
				got += ", collection " + r.Collection
			}
		}
		if !strings.HasPrefix(strings.Replace(got, "the database", "database", 1), want) {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// A flow selects projects and clusters by their Atlas tags, so a project
// tagged env=prod tomorrow is covered without a change to the policy; a
// project part also matches the project's id.
func TestPolicyByTag(t *testing.T) {
	spec := testPolicy()
	orgPolicy(&spec, nil)
	p := mustCompile(t, spec)
	prod, dev := []flows.Tag{{Key: "env", Value: "prod"}}, []flows.Tag{{Key: "env", Value: "dev-eu"}}
	gold := []flows.Tag{{Key: "tier", Value: "gold"}, {Key: "team", Value: "payments"}}
	res := func(project, cluster, db, coll string) flows.Resource {
		return flows.Resource{Integration: "acme", Project: project, ProjectID: "6c00000000000000000000ff", Cluster: cluster, Database: db, Collection: coll}
	}
	tests := []struct {
		name    string
		who     string
		r       flows.Resource
		tags    flows.TargetTags
		role    string
		flow    string
		errText string
	}{
		{"a new prod project", "carol@example.com", res("brand-new", "C1", "db", "coll"), flows.TargetTags{Project: prod}, "read", "acme-prod-read", ""},
		{"*/*/* covers collections only", "carol@example.com", res("brand-new", "C1", "db", ""), flows.TargetTags{Project: prod}, "read", "", "no access flow covers acme/brand-new/C1/db"},
		{"gold cluster of a prod project", "alice@example.com", res("brand-new", "C1", "db", ""), flows.TargetTags{Project: prod, Cluster: gold}, "readWrite", "acme-gold-write", ""},
		{"not gold", "alice@example.com", res("brand-new", "C1", "db", ""), flows.TargetTags{Project: prod, Cluster: prod}, "readWrite", "", "no access flow covers"},
		{"read on prod but no write", "alice@example.com", res("brand-new", "C1", "db", "c"), flows.TargetTags{Project: prod, Cluster: prod}, "readWrite", "", "role readWrite is not offered"},
		{"gold but not prod", "alice@example.com", res("brand-new", "C1", "db", ""), flows.TargetTags{Project: dev, Cluster: gold}, "readWrite", "acme-dev", ""},
		{"value pattern", "carol@example.com", res("x", "C1", "db", ""), flows.TargetTags{Project: dev}, "readWrite", "acme-dev", ""},
		{"untagged", "carol@example.com", res("x", "C1", "db", "c"), flows.TargetTags{}, "read", "", "no access flow covers"},
		{"requesters still count", "carol@example.com", res("brand-new", "C1", "db", ""), flows.TargetTags{Project: prod, Cluster: gold}, "readWrite", "", "not among the requesters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := p.MatchTagged(tt.who, flows.KindDatabaseUser, tt.r, tt.tags, []string{tt.role})
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("want an error containing %q, got %v %v", tt.errText, f, err)
				}
				return
			}
			if err != nil || f.Name != tt.flow {
				t.Fatalf("want flow %s, got %v %v", tt.flow, f, err)
			}
		})
	}
	// The project id pattern beats the tag one on its project.
	r := flows.Resource{Integration: "acme", Project: "renamed", ProjectID: paymentsID, Cluster: "Cluster0", Database: "sales", Collection: "orders"}
	if f, err := p.MatchTagged("carol@example.com", flows.KindDatabaseUser, r, flows.TargetTags{Project: prod}, []string{"read"}); err != nil || f.Name != "acme-payments-orders" {
		t.Fatalf("by project id: %v %v", f, err)
	}
	// Without tags (Match), tag patterns cover nothing.
	if _, err := p.Match("carol@example.com", flows.KindDatabaseUser, res("brand-new", "C1", "db", "coll"), []string{"read"}); err == nil {
		t.Fatal("Match covered a tag pattern without tags")
	}
}

func TestSubmitInAnOrganizationWideIntegration(t *testing.T) {
	f := newOrgFixture(t)
	r := f.mustSubmit("carol@example.com", "acme/payments-prod/Cluster0/sales/orders", "read", 30*time.Minute)
	if r.Flow != "acme-payments-orders" || r.Resource.String() != "acme/payments-prod/Cluster0/sales/orders" ||
		r.Resource.ProjectID != paymentsID || r.Resource.ClusterID != paymentsC0 {
		t.Fatalf("submitted %+v via %s", r.Resource, r.Flow)
	}
	if !slices.Equal(r.Approvers, []string{"owner@example.com"}) {
		t.Fatalf("approvers %v", r.Approvers)
	}

	// The project may be written by id; it is shown by name.
	byID := f.mustSubmit("carol@example.com", "acme/"+ledgerID+"/Main/books/entries", "read", time.Hour)
	if byID.Resource.Project != "ledger" || byID.Resource.ProjectID != ledgerID || byID.Flow != "acme-prod-read" {
		t.Fatalf("by id: %+v via %s", byID.Resource, byID.Flow)
	}

	// Cluster0 is a name in two projects: the project decides.
	dev := f.mustSubmit("carol@example.com", "acme/search-dev/Cluster0/logs", "read", time.Hour)
	if dev.Resource.ClusterID != searchDevC0 || dev.State != flows.StateActive {
		t.Fatalf("search-dev: %+v %s", dev.Resource, dev.State)
	}
	if g, ok := f.prov.User(dev.Principal); !ok || g.Resource.ProjectID != searchID || g.Resource.Project != "search-dev" {
		t.Fatalf("the grant does not carry the project: %+v", g.Resource)
	}

	for in, want := range map[string]string{
		"acme/nowhere/Cluster0/sales":        `no project "nowhere" with clusters in acme; its projects with clusters are: ledger, payments-prod, search-dev`,
		"acme/payments-prod/Cluster9/sales":  `no cluster "Cluster9" in project payments-prod of acme; its clusters are: Cluster0`,
		"acme/Cluster0/sales":                "spans an Atlas organization: write integration/project/cluster/database[/collection]",
		"prod/payments-prod/Cluster0/sales/": "collection after the last / is empty",
	} {
		res, err := flows.ParseResource(in)
		if err == nil {
			_, err = f.svc.Submit(f.ctx, flows.SubmitInput{Requester: "carol@example.com", Resource: res, Roles: []string{"read"}})
		}
		if err == nil || !strings.Contains(flows.ErrorMessage(err), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

// A project renamed in Atlas is the same project: requests made under its
// old name still name it by id, a second request under the new name is a
// duplicate, and flows keyed by its id still cover it.
func TestRenamedProjectKeepsItsGrants(t *testing.T) {
	f := newOrgFixture(t)
	r := f.mustSubmit("carol@example.com", "acme/payments-prod/Cluster0/sales/orders", "read", 30*time.Minute)

	f.catalog.Set("acme", acmeClusters("payments-live"))
	_, err := f.submit("carol@example.com", "acme/payments-live/Cluster0/sales/orders", "read", 30*time.Minute, "again")
	if flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), string(r.ID)) {
		t.Fatalf("the same target under its new name: %v", err)
	}
	if _, err := f.submit("carol@example.com", "acme/payments-prod/Cluster0/sales/orders", "read", 30*time.Minute, "old name"); err == nil ||
		!strings.Contains(err.Error(), `no project "payments-prod"`) {
		t.Fatalf("the old name: %v", err)
	}
	f.sweepAt(t0.Add(time.Minute))
	if got := f.get(r.ID); got.Resource.ProjectID != paymentsID {
		t.Fatalf("stored %+v", got.Resource)
	}
}

func TestOptionsInAnOrganizationWideIntegration(t *testing.T) {
	f := newOrgFixture(t)
	chs, err := f.svc.Options(f.ctx, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range chs {
		if c.Resource.Integration == "acme" {
			got = append(got, c.Resource.String()+" "+strings.Join(c.Roles, ","))
		}
	}
	want := []string{
		"acme/payments-prod/Cluster0/sales/orders read",
		"acme/search-dev/Cluster0 read,readWrite",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("options:\n got %q\nwant %q", got, want)
	}
}

package flows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// uiProvisioner is a fake of Atlas UI access: it records the grant's state
// before it "adds" roles, reports a finding on Delete, refuses at
// submission the people it does not know, and lists what it holds.
type uiProvisioner struct {
	known   []string
	held    map[string][]string // person → roles
	failing error               // what CheckGrant answers for everyone
	listed  []flows.ManagedGrant
	deleted []flows.Grant
	created flows.Grant
}

func (p *uiProvisioner) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := g.Record(ctx, "adding "+flows.FormatRoles(g.Roles)); err != nil {
		return flows.Credentials{}, err
	}
	p.held[g.Principal] = append(p.held[g.Principal], g.Roles...)
	p.created = g
	return flows.Credentials{Fields: []flows.CredentialField{{Key: "atlas_user", Label: "Atlas user", Value: g.Principal}}}, nil
}

func (p *uiProvisioner) Delete(ctx context.Context, g flows.Grant) error {
	p.deleted = append(p.deleted, g)
	if g.State != "" {
		if err := g.Record(ctx, "ended"); err != nil {
			return err
		}
		return g.Report(ctx, "removed what "+g.State+" said")
	}
	return nil
}

func (p *uiProvisioner) CheckGrant(_ context.Context, g flows.Grant) error {
	if p.failing != nil {
		return p.failing
	}
	if !slices.Contains(p.known, g.Principal) {
		return flows.Errorf(flows.EFORBIDDEN, "%s has no Atlas account", g.Principal)
	}
	return nil
}

func (p *uiProvisioner) ManagedGrants(_ context.Context, integration string) ([]flows.ManagedGrant, error) {
	if integration != "acme" {
		return nil, nil
	}
	return p.listed, nil
}

func uiPolicy(spec *flows.PolicySpec, _ *flows.Config) {
	orgPolicy(spec, nil)
	spec.Flows = append(spec.Flows,
		flows.FlowSpec{Name: "ui-prod", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"}, Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "ui-org", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY"}, Approvers: []string{"integration-owners"}},
		flows.FlowSpec{Name: "ui-one", Kind: string(flows.KindAtlasUI), Integration: "prod", Requesters: []string{"*"},
			Resources: []string{"*"}, Roles: []string{"GROUP_READ_ONLY"}, Approvers: []string{"integration-owners"}},
	)
}

func newUIFixture(t *testing.T) (*fixture, *uiProvisioner) {
	t.Helper()
	spec := testPolicy()
	uiPolicy(&spec, nil)
	ui := &uiProvisioner{known: []string{"carol@example.com", "bob@example.com"}, held: map[string][]string{}}
	f := &fixture{
		t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	clusters := acmeClusters("payments-prod")
	clusters[0].ProjectTags = append(clusters[0].ProjectTags, flows.Tag{Key: "owner", Value: "lead@example.com group:dba"})
	f.catalog.Set("acme", clusters)
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, spec)}, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov, flows.KindAtlasUI: ui},
		Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f, ui
}

func (f *fixture) askUI(requester, target string, roles ...string) (*flows.Request, error) {
	t, err := flows.ParseUITarget(target)
	if err != nil {
		return nil, err
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Kind: flows.KindAtlasUI, Resource: t, Roles: roles,
		Duration: time.Hour, Reason: "INC-7", Origin: "slack"})
}

func TestUITargets(t *testing.T) {
	for in, want := range map[string]flows.Resource{
		"acme":               {Integration: "acme"},
		"acme/payments-prod": {Integration: "acme", Project: "payments-prod"},
	} {
		got, err := flows.ParseUITarget(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseUITarget(%q) = %+v (%s), %v", in, got, got, err)
		}
	}
	for in, text := range map[string]string{
		"acme/payments-prod/Cluster0": "want integration/project",
		"Acme":                        "use lower-case letters",
		"acme/pay  ments":             "Atlas project names are",
		"acme/pay#ments":              "Atlas project names are",
	} {
		if _, err := flows.ParseUITarget(in); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), text) {
			t.Errorf("ParseUITarget(%q): want %q, got %v", in, text, err)
		}
	}
	for _, s := range []string{"GROUP_READ_ONLY", "ORG_READ_ONLY,ORG_BILLING_READ_ONLY", "GROUP_READ_ONLY,read"} {
		if !flows.LooksLikeAtlasRole(s) {
			t.Errorf("%s does not look like Atlas roles", s)
		}
	}
	for _, s := range []string{"read", "read,readWrite", ""} {
		if flows.LooksLikeAtlasRole(s) {
			t.Errorf("%q looks like Atlas roles", s)
		}
	}
}

// TestUIFlowsAreChecked: owner roles are never offered, roles that create
// standing access only by name, organization roles only where there is an
// organization, and patterns name a project.
func TestUIFlowsAreChecked(t *testing.T) {
	base := func() flows.FlowSpec {
		return flows.FlowSpec{Name: "ui", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"payments-prod"}, Roles: []string{"GROUP_READ_ONLY"}, Approvers: []string{"owners"}}
	}
	tests := []struct {
		name, path, text string
		mutate           func(f *flows.FlowSpec)
	}{
		{"a project owner", "flows[0].roles[1]", "GROUP_OWNER is an owner role: jitbot never grants it", func(f *flows.FlowSpec) {
			f.Roles = append(f.Roles, "GROUP_OWNER")
		}},
		{"an organization owner, even opted in", "flows[0].roles[0]", "ORG_OWNER is an owner role", func(f *flows.FlowSpec) {
			f.Resources, f.Roles, f.AllowStandingAccess = []string{"*"}, []string{"ORG_OWNER"}, []string{"ORG_OWNER"}
		}},
		{"standing access without opting in", "flows[0].roles[1]", "GROUP_DATABASE_ACCESS_ADMIN lets a person create access that outlives the grant", func(f *flows.FlowSpec) {
			f.Roles = append(f.Roles, "GROUP_DATABASE_ACCESS_ADMIN")
		}},
		{"an organization's standing access", "flows[0].roles[0]", "ORG_GROUP_CREATOR lets a person create access", func(f *flows.FlowSpec) {
			f.Resources, f.Roles = []string{"*"}, []string{"ORG_GROUP_CREATOR"}
		}},
		{"opting into a role that is not offered", "flows[0].allow_standing_access[0]", "ORG_USER_ADMIN is not among the flow's roles", func(f *flows.FlowSpec) {
			f.AllowStandingAccess = []string{"ORG_USER_ADMIN"}
		}},
		{"opting into a harmless role", "flows[0].allow_standing_access[0]", `"GROUP_READ_ONLY" is not a role that creates standing access`, func(f *flows.FlowSpec) {
			f.AllowStandingAccess = []string{"GROUP_READ_ONLY"}
		}},
		{"a pattern below the project", "flows[0].resources[0]", "name the project alone", func(f *flows.FlowSpec) {
			f.Resources = []string{"payments-prod/Cluster0"}
		}},
		{"a project in an integration of one project", "flows[0].resources[0]", "write *", func(f *flows.FlowSpec) {
			f.Integration = "prod"
		}},
		{"an organization role in an integration of one project", "flows[0].roles[0]", "ORG_READ_ONLY is an organization role: integration prod is one project", func(f *flows.FlowSpec) {
			f.Integration, f.Resources, f.Roles = "prod", []string{"*"}, []string{"ORG_READ_ONLY"}
		}},
		{"a database role", "flows[0].roles[0]", "Atlas roles are written in capitals", func(f *flows.FlowSpec) {
			f.Roles = []string{"read"}
		}},
		{"everyone's organization role", "flows[0].roles[0]", "holds ORG_MEMBER already", func(f *flows.FlowSpec) {
			f.Roles = []string{"ORG_MEMBER"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			orgPolicy(&spec, nil)
			fl := base()
			tt.mutate(&fl)
			spec.Flows = []flows.FlowSpec{fl}
			_, err := flows.Compile(spec)
			var verr flows.ValidationError
			if !errors.As(err, &verr) || !slices.ContainsFunc(verr, func(fe flows.FieldError) bool {
				return fe.Path == tt.path && strings.Contains(fe.Message, tt.text)
			}) {
				t.Fatalf("want %s: %q, got %v", tt.path, tt.text, err)
			}
		})
	}

	spec := testPolicy()
	orgPolicy(&spec, nil)
	fl := base()
	fl.Roles, fl.AllowStandingAccess = []string{"GROUP_READ_ONLY", "GROUP_DATABASE_ACCESS_ADMIN"}, []string{"GROUP_DATABASE_ACCESS_ADMIN"}
	db := spec.Flows[0]
	db.AllowStandingAccess = []string{"GROUP_DATABASE_ACCESS_ADMIN"}
	spec.Flows = []flows.FlowSpec{fl, db}
	_, err := flows.Compile(spec)
	if err == nil || strings.Contains(err.Error(), "flows[0]") || !strings.Contains(err.Error(), "flows[1].allow_standing_access: only flows of kind atlas_ui") {
		t.Fatalf("opted in: %v", err)
	}
}

// TestUIRequestsAtSubmission: where each role may be asked for, who is asked
// to approve, and the refusals that spare the approvers.
func TestUIRequestsAtSubmission(t *testing.T) {
	f, ui := newUIFixture(t)
	r, err := f.askUI("carol@example.com", "acme/payments-prod", "GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER")
	if err != nil {
		t.Fatal(err)
	}
	if r.Flow != "ui-prod" || r.Resource.ProjectID != paymentsID || r.Principal != "" ||
		!slices.Equal(r.Approvers, []string{"dba1@example.com", "dba2@example.com", "lead@example.com"}) {
		t.Fatalf("submitted: flow %s, %+v, approvers %v", r.Flow, r.Resource, r.Approvers)
	}
	// By the project's id, too; one grant per person and project.
	if _, err := f.askUI("carol@example.com", "acme/"+paymentsID, "GROUP_READ_ONLY"); flows.ErrorCode(err) != flows.ECONFLICT ||
		!strings.Contains(flows.ErrorMessage(err), "you already have request "+string(r.ID)) {
		t.Fatalf("a second grant on the project: %v", err)
	}
	org, err := f.askUI("carol@example.com", "acme", "ORG_READ_ONLY")
	if err != nil || org.Flow != "ui-org" || !slices.Equal(org.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("organization role: %+v, %v", org, err)
	}
	one, err := f.askUI("bob@example.com", "prod", "GROUP_READ_ONLY")
	if err != nil || one.Flow != "ui-one" || one.Resource.ProjectID != projectID {
		t.Fatalf("project role in an integration of one project: %+v, %v", one, err)
	}

	tests := []struct {
		name, who, target string
		roles             []string
		code              flows.Code
		text              string
	}{
		{"a project role without its project", "bob@example.com", "acme", []string{"GROUP_READ_ONLY"},
			flows.EINVALID, "name the project of the roles, as in acme/<project>"},
		{"an organization role on a project", "bob@example.com", "acme/payments-prod", []string{"ORG_READ_ONLY"},
			flows.EINVALID, "organization roles are for the whole organization"},
		{"both levels at once", "bob@example.com", "acme", []string{"ORG_READ_ONLY", "GROUP_READ_ONLY"},
			flows.EINVALID, "in separate requests"},
		{"an organization role in a project's integration", "bob@example.com", "prod", []string{"ORG_READ_ONLY"},
			flows.EINVALID, "organization roles need an organization-wide integration"},
		{"an unknown project", "bob@example.com", "acme/nope", []string{"GROUP_READ_ONLY"},
			flows.EINVALID, `there is no project "nope" in acme; its projects are: ledger, payments-prod, search-dev`},
		{"a project the flows do not cover", "bob@example.com", "acme/search-dev", []string{"GROUP_READ_ONLY"},
			flows.EFORBIDDEN, "the access flows that cover acme/search-dev offer you no role that applies to it (ui-org)"},
		{"an owner role", "bob@example.com", "acme/payments-prod", []string{"GROUP_OWNER"},
			flows.EINVALID, "jitbot never grants it"},
		{"no Atlas account", "eve@example.com", "acme/payments-prod", []string{"GROUP_READ_ONLY"},
			flows.EFORBIDDEN, "eve@example.com has no Atlas account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.askUI(tt.who, tt.target, tt.roles...)
			if flows.ErrorCode(err) != tt.code || !strings.Contains(flows.ErrorMessage(err), tt.text) {
				t.Fatalf("want %s %q, got %v", tt.code, tt.text, err)
			}
		})
	}
	// A check Atlas cannot answer now lets the request through.
	ui.failing = flows.Errorf(flows.EUNAVAILABLE, "Atlas is down")
	if _, err := f.askUI("eve@example.com", "acme/ledger", "GROUP_READ_ONLY"); err != nil {
		t.Fatalf("with Atlas down: %v", err)
	}
}

// TestUIGrantKeepsItsState: what the provisioner records reaches the
// request before Create returns and comes back on Delete, whose finding
// goes to the admins and the audit log.
func TestUIGrantKeepsItsState(t *testing.T) {
	f, ui := newUIFixture(t)
	r, err := f.askUI("carol@example.com", "acme/payments-prod", "GROUP_CLUSTER_MANAGER")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = f.decide(r.ID, "lead@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("decide: %+v, %v", r, err)
	}
	if r.GrantState != "adding GROUP_CLUSTER_MANAGER" || r.Principal != "carol@example.com" {
		t.Fatalf("state %q, principal %q", r.GrantState, r.Principal)
	}
	if r, err = f.svc.Revoke(f.ctx, r.ID, "carol@example.com", ""); err != nil || r.State != flows.StateRevoked {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	ns := f.notes.Of(flows.EventGrantFinding)
	if len(ns) != 1 || ns[0].Event.Message != "removed what adding GROUP_CLUSTER_MANAGER said" || !slices.Equal(ns[0].To, []string{"admin@example.com"}) {
		t.Fatalf("findings: %+v", ns)
	}
	if !slices.ContainsFunc(f.store.Events(), func(e flows.Event) bool { return e.Type == flows.EventGrantFinding && e.RequestID == r.ID }) {
		t.Fatal("the finding is not in the audit log")
	}
	// An attempt that read an older state never overwrites a newer one.
	if err := ui.created.Record(f.ctx, "stale"); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("a stale record: %v", err)
	}
	if got := f.get(r.ID); got.GrantState != "ended" {
		t.Fatalf("state %q", got.GrantState)
	}
}

// TestUIReconcileByPerson: roles jitbot gave a person, which Atlas cannot
// label with a request, are explained by a live grant of theirs with the
// role at the same place; the others are removed and the admins told.
func TestUIReconcileByPerson(t *testing.T) {
	f, ui := newUIFixture(t)
	r, err := f.askUI("carol@example.com", "acme/payments-prod", "GROUP_CLUSTER_MANAGER")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = f.decide(r.ID, "lead@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	payments := flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: paymentsID}
	ui.listed = []flows.ManagedGrant{
		{Principal: "carol@example.com", Person: "carol@example.com", Roles: []string{"GROUP_CLUSTER_MANAGER", "GROUP_READ_ONLY"}, Where: payments},
		{Principal: "bob@example.com", Person: "bob@example.com", Roles: []string{"ORG_READ_ONLY"}, Where: flows.Resource{Integration: "acme"}},
	}
	reps, err := f.svc.Reconcile(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, rep := range reps {
		if rep.Kind == flows.KindAtlasUI && rep.Integration == "acme" {
			removed = rep.OrphansDeleted
		}
	}
	want := []string{"GROUP_READ_ONLY of carol@example.com in project payments-prod", "ORG_READ_ONLY of bob@example.com in the organization"}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	if len(ui.deleted) != 2 || !slices.Equal(ui.deleted[0].Roles, []string{"GROUP_READ_ONLY"}) || ui.deleted[0].RequestID != "" {
		t.Fatalf("deleted %+v", ui.deleted)
	}
	ns := f.notes.Of(flows.EventOrphanDeleted)
	if len(ns) != 2 || !strings.Contains(ns[0].Event.Message, "no live grant explains it") || !slices.Equal(ns[0].To, []string{"admin@example.com"}) {
		t.Fatalf("told: %+v", ns)
	}
}

// TestUIFlowWarnings: an organization role in a flow that names projects
// only can never be granted; the flows of the fixture draw no warning.
func TestUIFlowWarnings(t *testing.T) {
	spec := testPolicy()
	uiPolicy(&spec, nil)
	if ws := mustCompile(t, spec).Warnings(); len(ws) != 0 {
		t.Fatalf("warnings: %v", ws)
	}
	spec.Flows = append(spec.Flows, flows.FlowSpec{Name: "ui-odd", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
		Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY", "ORG_READ_ONLY"}, Approvers: []string{"owners"}})
	ws := mustCompile(t, spec).Warnings()
	if len(ws) != 1 || ws[0].Path != "flows[12].roles[1]" || !strings.Contains(ws[0].Message, "ORG_READ_ONLY can never be granted through access flow ui-odd") {
		t.Fatalf("warnings: %v", ws)
	}
}

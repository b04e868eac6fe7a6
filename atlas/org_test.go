package atlas

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const (
	orgID      = "6b0000000000000000000001"
	paymentsID = "6c0000000000000000000001"
	searchID   = "6c0000000000000000000002"
	emptyID    = "6c0000000000000000000003"
	foreignID  = "6c0000000000000000000009"
)

// orgRoles are the least privilege of an organization-wide integration's
// credential: Organization Read Only discovers every project, Project
// Database Access Admin (in every project here) manages database users.
var orgRoles = []string{atlastest.RoleOrgReadOnly, atlastest.RoleDatabaseAccessAdmin}

// newOrgEnv is a simulator holding organization orgID, and a Provisioner
// with one organization-wide integration, acme, on it. populate fills the
// organization.
func newOrgEnv(t testing.TB, populate func(srv *atlastest.Server), opts ...option) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), sleeps: &sleeps{}, logs: &syncBuffer{}}
	so := atlastest.Options{T: t, Clock: e.clock, Roles: orgRoles}
	in := Integration{
		Name: "acme", OrganizationID: orgID,
		API: API{ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret},
	}
	cfg := Config{
		Clock: e.clock, Sleep: e.sleeps.sleep,
		Log: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&so, &cfg, &in)
	}
	srv, err := atlastest.New(so)
	if err != nil {
		t.Fatalf("atlastest.New: %v", err)
	}
	t.Cleanup(srv.Close)
	srv.AddOrganization(atlastest.Organization{ID: orgID, Name: "acme"})
	populate(srv)
	e.srv = srv
	in.BaseURL = srv.URL()
	cfg.Integrations = append([]Integration{in}, cfg.Integrations...)
	p, err := New(e.ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	e.prov = p
	return e
}

// acme is a small organization: payments-prod (tagged, with a dedicated
// Cluster0 holding databases, a free-tier Sandbox and a Flex Scratch),
// search-dev (a dedicated Cluster0 of its own) and a project without
// clusters; another organization's project beside it.
func acme(srv *atlastest.Server) {
	srv.SetProject(atlastest.Project{ID: paymentsID, Name: "payments-prod", OrgID: orgID,
		Tags: []atlastest.Tag{{Key: "env", Value: "prod"}, {Key: "owner", Value: "payments-leads@example.com"}}})
	srv.SetProject(atlastest.Project{ID: searchID, Name: "search-dev", OrgID: orgID, Tags: []atlastest.Tag{{Key: "env", Value: "dev"}}})
	srv.SetProject(atlastest.Project{ID: emptyID, Name: "sandbox", OrgID: orgID})
	srv.SetProject(atlastest.Project{ID: foreignID, Name: "elsewhere", OrgID: "6b0000000000000000000002"})
	srv.AddCluster(paymentsID, atlastest.Cluster{Name: "Cluster0", Databases: []string{"sales", "ledger"},
		Tags: []atlastest.Tag{{Key: "owner", Value: "alice@example.com"}, {Key: "tier", Value: "gold"}}})
	srv.AddCluster(paymentsID, atlastest.Cluster{Name: "Sandbox", Tier: atlastest.TierFree})
	srv.AddCluster(paymentsID, atlastest.Cluster{Name: "Scratch", Tier: atlastest.TierFlex})
	srv.AddCluster(searchID, atlastest.Cluster{Name: "Cluster0", Databases: []string{"logs"}})
	srv.AddCluster(foreignID, atlastest.Cluster{Name: "Hidden"})
}

func withHints(h map[string]map[string][]string) option {
	return withIntegration(func(in *Integration) { in.Databases = h })
}

// describe prints a catalog the way the tests compare it.
func describe(cs []flows.Cluster) []string {
	var out []string
	for _, c := range cs {
		var dbs []string
		for _, db := range slices.Sorted(maps.Keys(c.Databases)) {
			dbs = append(dbs, db+strings.Join(append([]string{""}, c.Databases[db]...), ":"))
		}
		var tags []string
		for _, t := range c.ProjectTags {
			tags = append(tags, t.Key+"="+t.Value)
		}
		out = append(out, fmt.Sprintf("%s/%s [%s] owners=%s dbs=%s", c.Project, c.Name, strings.Join(tags, ","),
			strings.Join(c.Owners, ","), strings.Join(dbs, ",")))
	}
	return out
}

func TestOrganizationDiscovery(t *testing.T) {
	e := newOrgEnv(t, acme, withHints(map[string]map[string][]string{
		"Cluster0":              {"sales": {"orders"}},
		"payments-prod/Sandbox": {"playground": nil},
		searchID + "/Cluster0":  {"metrics": nil},
	}))
	cs, err := e.prov.Catalog().Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"payments-prod/Cluster0 [env=prod,owner=payments-leads@example.com] owners=alice@example.com dbs=ledger,sales:orders",
		"payments-prod/Sandbox [env=prod,owner=payments-leads@example.com] owners=payments-leads@example.com dbs=playground",
		"payments-prod/Scratch [env=prod,owner=payments-leads@example.com] owners=payments-leads@example.com dbs=",
		"search-dev/Cluster0 [env=dev] owners= dbs=logs,metrics,sales:orders",
	}
	if got := describe(cs); !slices.Equal(got, want) {
		t.Fatalf("catalog:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cs[0].ProjectID != paymentsID || cs[0].ID == "" || cs[0].ID == cs[3].ID || cs[0].Tags[1] != (flows.Tag{Key: "tier", Value: "gold"}) {
		t.Fatalf("ids and tags: %+v", cs[0])
	}
	// One call lists the projects; the empty project costs nothing more, and
	// only the project with a Flex cluster is asked for Flex clusters.
	e.wantCalls(map[string]int{"getOrgGroups": 1, "listClusters": 2, "listFlexClusters": 1, "listGroupProcesses": 2, "listDatabases": 2})

	// Within DatabaseRefresh, a refresh reads clusters only.
	e.srv.ResetCalls()
	e.clock.Advance(10 * time.Minute)
	if err := e.prov.Catalog().Refresh(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e.wantCalls(map[string]int{"getOrgGroups": 1, "listClusters": 2, "listFlexClusters": 1, "listGroupProcesses": 0, "listDatabases": 0})
	// A new database shows once the databases are due again.
	if err := e.srv.AddProcessDatabases(searchID, "Cluster0", "audit"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Minute)
	if err := e.prov.Catalog().Refresh(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	cs, _ = e.prov.Catalog().Clusters(e.ctx, "acme")
	if got := describe(cs)[3]; !strings.Contains(got, "dbs=audit,logs,metrics") {
		t.Fatalf("after the databases refresh: %s", got)
	}
	if h, _ := e.prov.Catalog().Health("acme"); h.Projects != 3 || h.Clusters != 4 || h.LastError != nil || len(h.Unread) != 0 {
		t.Fatalf("health %+v", h)
	}
	if err := e.prov.Ping(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e.noViolations()
}

// An Organization Member sees only the projects it holds a role in, and the
// catalog is what it can see.
func TestOrganizationMemberSeesItsProjects(t *testing.T) {
	e := newOrgEnv(t, acme, withSim(func(so *atlastest.Options) {
		so.Roles = []string{atlastest.RoleOrgMember}
		so.ServiceAccounts = []atlastest.Credential{{ID: atlastest.DefaultClientID, Secret: atlastest.DefaultClientSecret,
			Roles: so.Roles, ProjectRoles: map[string][]string{searchID: {atlastest.RoleReadOnly}}}}
	}))
	cs, err := e.prov.Catalog().Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(cs); len(got) != 1 || !strings.HasPrefix(got[0], "search-dev/Cluster0") {
		t.Fatalf("catalog %q", got)
	}
}

func TestOrganizationRefreshFailureKeepsTheCatalog(t *testing.T) {
	e := newOrgEnv(t, acme)
	cat := e.prov.Catalog()
	before, err := cat.Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	// Atlas fails every listing of the organization's projects.
	e.srv.Inject(atlastest.Fault{OperationID: "getOrgGroups", Kind: atlastest.FaultServerError})
	e.clock.Advance(6 * time.Minute)
	err = cat.Refresh(e.ctx, "acme")
	wantError(t, err, flows.EUNAVAILABLE, "")
	after, err := cat.Clusters(e.ctx, "acme")
	if err != nil || !slices.Equal(describe(after), describe(before)) {
		t.Fatalf("after a failed refresh: %v\n%q\nwant\n%q", err, describe(after), describe(before))
	}
	h, _ := cat.Health("acme")
	if h.LastError == nil || !h.RefreshedAt.Equal(t0) {
		t.Fatalf("health %+v", h)
	}
	if err := e.prov.Ping(e.ctx, "acme"); err == nil || !strings.Contains(err.Error(), "serving the catalog of 6m0s ago") {
		t.Fatalf("Ping: %v", err)
	}
	if !strings.Contains(e.logs.String(), "serving a stale cluster list") {
		t.Fatal("the stale catalog was not logged")
	}

	// One project fails: the others are refreshed, it keeps its clusters.
	e.srv.ClearFaults()
	e.srv.Inject(atlastest.Fault{Path: "/api/atlas/v2/groups/" + searchID + "/clusters", Kind: atlastest.FaultServerError})
	e.srv.RenameProject(paymentsID, "payments-live")
	if err := cat.Refresh(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	h, _ = cat.Health("acme")
	if h.LastError != nil || !slices.Equal(h.Unread, []string{"search-dev"}) || h.Clusters != 4 {
		t.Fatalf("health after a partial refresh %+v", h)
	}
	got, _ := cat.Clusters(e.ctx, "acme")
	if d := describe(got); !strings.HasPrefix(d[0], "payments-live/Cluster0") || !strings.HasPrefix(d[3], "search-dev/Cluster0") {
		t.Fatalf("after a partial refresh %q", d)
	}
	if err := e.prov.Ping(e.ctx, "acme"); err == nil || !strings.Contains(err.Error(), "could not read 1 project(s) (search-dev)") {
		t.Fatalf("Ping: %v", err)
	}
	e.srv.ClearFaults()
	if err := cat.Refresh(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := e.prov.Ping(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
}

// A renamed project keeps its id and its grants: a grant made under the old
// name is found, extended and revoked by id.
func TestOrganizationGrantsFollowRenames(t *testing.T) {
	e := newOrgEnv(t, acme)
	cs, err := e.prov.Catalog().Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	g := e.grant("o7m2x9q4ta")
	g.Integration = "acme"
	g.Resource = flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: paymentsID,
		Cluster: "Cluster0", ClusterID: cs[0].ID, Database: "sales", Collection: "orders"}
	creds := e.create(g)
	if field(creds, flows.FieldConnectionString) != "mongodb+srv://cluster0.jitbot.mongodb.net" {
		t.Fatalf("credentials %+v", creds)
	}
	if _, ok := e.srv.User(paymentsID, g.Principal); !ok {
		t.Fatal("the user is not in payments-prod")
	}
	if _, ok := e.srv.User(searchID, g.Principal); ok {
		t.Fatal("the user is in search-dev")
	}
	if err := e.prov.WaitApplied(e.ctx, g); err != nil {
		t.Fatal(err)
	}

	if err := e.srv.RenameProject(paymentsID, "payments-live"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute)
	after, err := e.prov.Catalog().Clusters(e.ctx, "acme")
	if err != nil || after[0].Project != "payments-live" || after[0].ProjectID != paymentsID || after[0].ID != cs[0].ID {
		t.Fatalf("after the rename: %+v %v", after[0], err)
	}
	held, err := e.prov.ManagedGrants(e.ctx, "acme")
	if err != nil || len(held) != 1 || held[0].Principal != g.Principal ||
		held[0].Where != (flows.Resource{Integration: "acme", Project: "payments-live", ProjectID: paymentsID}) {
		t.Fatalf("managed grants %+v %v", held, err)
	}
	g.BackstopAt = e.clock.Now().Add(3 * time.Hour)
	if err := e.prov.SetBackstop(e.ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := e.prov.Delete(e.ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.User(paymentsID, g.Principal); ok {
		t.Fatal("the user outlived its grant")
	}

	// A grant without ids is found by name; one in a project outside the
	// organization is refused before any call.
	g2 := e.grant("o7m2x9q4tb")
	g2.Integration = "acme"
	g2.Resource = flows.Resource{Integration: "acme", Project: "search-dev", Cluster: "Cluster0", Database: "logs"}
	e.create(g2)
	if _, ok := e.srv.User(searchID, g2.Principal); !ok {
		t.Fatal("the user is not in search-dev")
	}
	g3 := e.grant("o7m2x9q4tc")
	g3.Integration = "acme"
	g3.Resource = flows.Resource{Integration: "acme", Project: "elsewhere", ProjectID: foreignID, Cluster: "Hidden", Database: "x"}
	_, err = e.prov.Create(e.ctx, g3)
	wantError(t, err, flows.EINVALID, "is not one of the organization of integration acme")
	e.noViolations()
}

// Discovery waits out Atlas's rate limits (Retry-After) instead of failing.
func TestOrganizationDiscoveryWithinRateLimits(t *testing.T) {
	clock := flowstest.NewClock(t0)
	var waited []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		waited = append(waited, d)
		clock.Advance(d)
		return ctx.Err()
	}
	e := newOrgEnv(t, func(srv *atlastest.Server) {
		acme(srv)
		// Two calls to a project's clusters, then one a minute.
		srv.SetEndpointRateLimit("/api/atlas/v2/groups/{groupId}/clusters", 2, 1, time.Minute)
		srv.SetEndpointRateLimit("/api/atlas/v2/orgs/{orgId}/groups", 1, 1, time.Minute)
	}, withSim(func(so *atlastest.Options) { so.Clock = clock }), withConfig(func(cfg *Config) {
		cfg.Clock, cfg.Sleep = clock, sleep
	}))
	e.clock = clock
	cat := e.prov.Catalog()
	for range 3 {
		if err := cat.Refresh(e.ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := cat.Health("acme")
	if h.Clusters != 4 || len(h.Unread) != 0 {
		t.Fatalf("health %+v", h)
	}
	if st := e.prov.Stats(); st.RateLimited == 0 || len(waited) == 0 {
		t.Fatalf("no rate limit was met: %+v, waited %v", st, waited)
	}
	for _, d := range waited {
		if d < time.Second || d > time.Minute {
			t.Fatalf("waited %v, not Atlas's Retry-After", waited)
		}
	}
}

// Start refreshes on start-up and on a schedule, and stops with Close.
func TestOrganizationCatalogStart(t *testing.T) {
	e := newOrgEnv(t, acme, withConfig(func(cfg *Config) { cfg.CatalogRefresh = 20 * time.Millisecond }))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	e.prov.Catalog().Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.CountCalls("getOrgGroups") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("refreshes: %d", e.srv.CountCalls("getOrgGroups"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.prov.Close()
	n := e.srv.CountCalls("getOrgGroups")
	time.Sleep(60 * time.Millisecond)
	if m := e.srv.CountCalls("getOrgGroups"); m != n {
		t.Fatalf("refreshed after Close: %d then %d", n, m)
	}
	// Requests are served the catalog the loops keep, older than
	// CatalogTTL, without waiting for a refresh.
	e.clock.Advance(20 * time.Minute)
	if cs, err := e.prov.Catalog().Clusters(e.ctx, "acme"); err != nil || len(cs) != 4 {
		t.Fatalf("Clusters: %d %v", len(cs), err)
	}
	if m := e.srv.CountCalls("getOrgGroups"); m != n {
		t.Fatalf("a request waited for a refresh: %d then %d calls", n, m)
	}
}

// The credential's roles are checked against the organization: a project
// key cannot list the organization's projects.
func TestOrganizationCheck(t *testing.T) {
	e := newOrgEnv(t, acme)
	if err := e.prov.Check(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e.wantCalls(map[string]int{"createDatabaseUser": 1, "deleteDatabaseUser": 1})
	if users := e.srv.Users(paymentsID); len(users) != 0 {
		t.Fatalf("the check left %v", usernamesOf(users))
	}

	weak := newOrgEnv(t, acme, withRoles(atlastest.RoleDatabaseAccessAdmin, atlastest.RoleReadOnly))
	err := weak.prov.Check(weak.ctx, "acme")
	if err == nil || !strings.Contains(err.Error(), "discover the organization's projects") || !strings.Contains(err.Error(), "USER_UNAUTHORIZED") {
		t.Fatalf("a project-level credential: %v", err)
	}
	if status, _ := failure(err); status != http.StatusForbidden {
		t.Fatalf("status %d", status)
	}
}

func usernamesOf(users []atlastest.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

// largeOrg is an organization of 30 projects and 100 clusters: 80
// dedicated (with databases), 10 free-tier and 10 Flex.
func largeOrg(srv *atlastest.Server) {
	for p := range 30 {
		env := "prod"
		if p%2 == 1 {
			env = "dev"
		}
		srv.SetProject(atlastest.Project{ID: fmt.Sprintf("6c00000000000000000001%02x", p), Name: fmt.Sprintf("proj-%02d", p), OrgID: orgID,
			Tags: []atlastest.Tag{{Key: "env", Value: env}, {Key: "team", Value: fmt.Sprintf("t%d", p%3)}}})
	}
	for k := range 100 {
		c := atlastest.Cluster{Name: fmt.Sprintf("C%02d", k), Tags: []atlastest.Tag{{Key: "owner", Value: fmt.Sprintf("dba%d@example.com", k%7)}}}
		switch k % 10 {
		case 0:
			c.Tier = atlastest.TierFree
		case 5:
			c.Tier = atlastest.TierFlex
		default:
			c.Databases = []string{"app", fmt.Sprintf("db%02d", k)}
		}
		srv.AddCluster(fmt.Sprintf("6c00000000000000000001%02x", k%30), c)
	}
}

// largeCalls is what a refresh of largeOrg costs: with the databases
// (1 getOrgGroups, 30 listClusters, 3 listFlexClusters, 24
// listGroupProcesses: 6 projects hold shared-tier or Flex clusters only, 80
// listDatabases) and without (1 + 30 + 3).
const largeCalls, largeClusterCalls = 138, 34

func TestOrganizationDiscoveryAtScale(t *testing.T) {
	e := newOrgEnv(t, largeOrg)
	cat := e.prov.Catalog()
	start := time.Now()
	cs, err := cat.Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(cs) != 100 {
		t.Fatalf("%d clusters", len(cs))
	}
	withDBs := 0
	for _, c := range cs {
		if len(c.Databases) == 2 {
			withDBs++
		}
	}
	if withDBs != 80 {
		t.Fatalf("%d clusters with their databases", withDBs)
	}
	if n := len(e.srv.Calls()); n != largeCalls+1 { // +1: the OAuth token
		t.Fatalf("a full refresh cost %d calls, want %d", n-1, largeCalls)
	}
	e.srv.ResetCalls()
	e.clock.Advance(6 * time.Minute)
	if err := cat.Refresh(e.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Calls()); n != largeClusterCalls {
		t.Fatalf("a refresh of the clusters cost %d calls, want %d", n, largeClusterCalls)
	}
	t.Logf("30 projects, 100 clusters: first refresh %v (%d calls), then %d calls per refresh", took, largeCalls, largeClusterCalls)

	// A failed refresh keeps the catalog.
	e.srv.Inject(atlastest.Fault{OperationID: "getOrgGroups", Kind: atlastest.FaultUnavailable})
	e.clock.Advance(6 * time.Minute)
	if err := cat.Refresh(e.ctx, "acme"); err == nil {
		t.Fatal("the refresh did not fail")
	}
	again, err := cat.Clusters(e.ctx, "acme")
	if err != nil || len(again) != 100 {
		t.Fatalf("after a failed refresh: %d clusters, %v", len(again), err)
	}
	e.noViolations()
}

// BenchmarkOrganizationRefresh measures a refresh of 30 projects and 100
// clusters against the simulator (every call and answer spec-checked):
// each reading the databases too (full), and on the default schedule, a
// refresh every 5 minutes reading the databases every 30 (every-5m: the
// calls are the average).
func BenchmarkOrganizationRefresh(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration // how far the clock moves between refreshes
	}{{"full", 31 * time.Minute}, {"every-5m", 5 * time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newOrgEnv(b, largeOrg)
			cat := e.prov.Catalog()
			if err := cat.Refresh(e.ctx, "acme"); err != nil {
				b.Fatal(err)
			}
			before := e.prov.Stats()
			b.ResetTimer()
			for range b.N {
				e.clock.Advance(bc.every)
				if err := cat.Refresh(e.ctx, "acme"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := e.prov.Stats()
			var calls int64
			for op, n := range after.Calls {
				calls += n - before.Calls[op]
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/refresh")
		})
	}
}

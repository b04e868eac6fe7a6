package atlastest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

const (
	orgA     = "6b0000000000000000000001"
	orgB     = "6b0000000000000000000002"
	payments = "6c0000000000000000000001"
	search   = "6c0000000000000000000002"
	foreign  = "6c0000000000000000000003"
	orgKey   = "orgreader"
	orgPriv  = "11111111-1111-4111-8111-111111111111"
	owner    = "orgowner"
	ownPriv  = "22222222-2222-4222-8222-222222222222"
)

// newOrgServer starts a simulator with organization orgA holding payments (tagged env=prod,
// with a dedicated, a free and a Flex cluster) and search, and orgB holding foreign. Its API
// keys: orgKey (Organization Read Only), owner (Organization Owner) and the default one
// (project roles in every project).
func newOrgServer(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.APIKeys = append(opts.APIKeys,
		Credential{ID: orgKey, Secret: orgPriv, Roles: []string{RoleOrgReadOnly}},
		Credential{ID: owner, Secret: ownPriv, Roles: []string{RoleOrgOwner}},
		Credential{ID: DefaultPublicKey, Secret: DefaultPrivateKey, Roles: defaultRoles()},
	)
	if opts.T == nil {
		opts.T = t
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddOrganization(Organization{ID: orgA, Name: "acme"})
	srv.SetProject(Project{ID: payments, Name: "payments-prod", OrgID: orgA, Tags: []Tag{{"env", "prod"}, {"team", "payments"}}})
	srv.SetProject(Project{ID: search, Name: "search-dev", OrgID: orgA, Tags: []Tag{{"env", "dev"}}})
	srv.SetProject(Project{ID: foreign, Name: "elsewhere", OrgID: orgB})
	srv.AddCluster(payments, Cluster{Name: cluster0, Tags: []Tag{{"owner", "dba@example.com"}}, Databases: []string{"sales"}})
	srv.AddCluster(payments, Cluster{Name: "Sandbox", Tier: TierFree})
	srv.AddCluster(payments, Cluster{Name: "Scratch", Tier: TierFlex, Tags: []Tag{{"env", "scratch"}}})
	srv.AddCluster(search, Cluster{Name: "Search0"})
	return srv
}

func TestOrganizationProjectsAndClusters(t *testing.T) {
	srv := newOrgServer(t, Options{})
	c := digestClient(t, srv, orgKey, orgPriv)
	ctx := context.Background()

	org, _, err := c.OrganizationsApi.GetOrg(ctx, orgA).Execute()
	if err != nil || org.GetName() != "acme" {
		t.Fatalf("getOrg: %+v %v", org, err)
	}
	groups, _, err := c.OrganizationsApi.GetOrgGroups(ctx, orgA).IncludeCount(true).ItemsPerPage(500).Execute()
	if err != nil {
		t.Fatalf("getOrgGroups: %v", err)
	}
	var names []string
	for _, g := range groups.GetResults() {
		names = append(names, g.Name)
		if g.GetId() == payments {
			if g.ClusterCount != 3 || len(g.GetTags()) != 2 || g.GetTags()[0] != (admin.ResourceTag{Key: "env", Value: "prod"}) || g.OrgId != orgA {
				t.Errorf("payments: %+v", g)
			}
		}
	}
	if !slices.Equal(names, []string{"payments-prod", "search-dev"}) || groups.GetTotalCount() != 2 {
		t.Fatalf("projects of acme: %v (total %d)", names, groups.GetTotalCount())
	}

	// A rename keeps the id.
	if err := srv.RenameProject(payments, "payments-live"); err != nil {
		t.Fatal(err)
	}
	g, _, err := c.ProjectsApi.GetGroup(ctx, payments).Execute()
	if err != nil || g.Name != "payments-live" {
		t.Fatalf("renamed: %+v %v", g, err)
	}

	// listClusters: the dedicated and the free cluster, not the Flex one.
	cl, _, err := c.ClustersApi.ListClusters(ctx, payments).Execute()
	if err != nil {
		t.Fatal(err)
	}
	tiers := map[string]string{}
	for _, x := range cl.GetResults() {
		rc := x.GetReplicationSpecs()[0].GetRegionConfigs()[0]
		tiers[x.GetName()] = rc.GetProviderName() + "/" + rc.ElectableSpecs.GetInstanceSize()
	}
	if len(tiers) != 2 || tiers[cluster0] != "AWS/M10" || tiers["Sandbox"] != "TENANT/M0" {
		t.Fatalf("listClusters: %v", tiers)
	}
	flex, _, err := c.FlexClustersApi.ListFlexClusters(ctx, payments).Execute()
	if err != nil || len(flex.GetResults()) != 1 || flex.GetResults()[0].GetName() != "Scratch" ||
		flex.GetResults()[0].GetTags()[0].Value != "scratch" || flex.GetResults()[0].ProviderSettings.GetProviderName() != "FLEX" {
		t.Fatalf("listFlexClusters: %+v %v", flex, err)
	}
	_, _, err = c.ClustersApi.GetCluster(ctx, payments, "Scratch").Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API")

	// The monitoring API: three processes of the dedicated cluster, none of the others.
	procs, _, err := c.MonitoringAndLogsApi.ListGroupProcesses(ctx, payments).Execute()
	if err != nil || len(procs.GetResults()) != 3 {
		t.Fatalf("processes: %+v %v", procs, err)
	}
	primary := procs.GetResults()[0]
	if primary.GetTypeName() != "REPLICA_PRIMARY" || !strings.Contains(cl.GetResults()[0].ConnectionStrings.GetStandard(), primary.GetUserAlias()+":27017") {
		t.Fatalf("primary %+v is not in the connection string %s", primary, cl.GetResults()[0].ConnectionStrings.GetStandard())
	}
	if err := srv.AddProcessDatabases(payments, cluster0, "orders", "sales"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddProcessDatabases(payments, "Scratch", "x"); err == nil {
		t.Fatal("AddProcessDatabases accepted a Flex cluster")
	}
	dbs, _, err := c.MonitoringAndLogsApi.ListDatabases(ctx, payments, primary.GetId()).Execute()
	if err != nil {
		t.Fatal(err)
	}
	var dbNames []string
	for _, d := range dbs.GetResults() {
		dbNames = append(dbNames, d.GetDatabaseName())
	}
	if !slices.Equal(dbNames, []string{"admin", "config", "local", "orders", "sales"}) {
		t.Fatalf("databases %v", dbNames)
	}
	_, _, err = c.MonitoringAndLogsApi.ListDatabases(ctx, payments, "nowhere.example.net:27017").Execute()
	wantCode(t, err, http.StatusNotFound, "PROCESS_NOT_FOUND")
}

func TestOrganizationRolesDecideWhatIsSeen(t *testing.T) {
	member := Credential{ID: "member", Secret: "33333333-3333-4333-8333-333333333333", Roles: []string{RoleOrgMember},
		ProjectRoles: map[string][]string{search: {RoleReadOnly}}}
	srv := newOrgServer(t, Options{APIKeys: []Credential{member}})
	ctx := context.Background()

	// An organization member sees the projects it has a role in, and reads only those.
	mc := digestClient(t, srv, member.ID, member.Secret)
	groups, _, err := mc.OrganizationsApi.GetOrgGroups(ctx, orgA).Execute()
	if err != nil || len(groups.GetResults()) != 1 || groups.GetResults()[0].GetId() != search {
		t.Fatalf("member's projects: %+v %v", groups, err)
	}
	if _, _, err := mc.ClustersApi.ListClusters(ctx, search).Execute(); err != nil {
		t.Fatal(err)
	}
	_, _, err = mc.ClustersApi.ListClusters(ctx, payments).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")

	// Project roles alone do not open the organization's operations.
	_, _, err = defaultClient(t, srv).OrganizationsApi.GetOrgGroups(ctx, orgA).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")

	// Organization Read Only reads every project but changes nothing.
	rc := digestClient(t, srv, orgKey, orgPriv)
	if _, _, err := rc.ClustersApi.ListClusters(ctx, payments).Execute(); err != nil {
		t.Fatal(err)
	}
	_, _, err = rc.DatabaseUsersApi.CreateDatabaseUser(ctx, payments, newUserIn(payments, "jit-x")).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")

	_, _, err = rc.OrganizationsApi.GetOrgGroups(ctx, "6b00000000000000000000ff").Execute()
	wantCode(t, err, http.StatusNotFound, "ORG_NOT_FOUND")
}

func newUserIn(project, name string) *admin.CloudDatabaseUser {
	u := newUser(name)
	u.GroupId = project
	return u
}

func TestProjectMembershipAndRoles(t *testing.T) {
	clock := newFakeClock()
	srv := newOrgServer(t, Options{Clock: clock})
	ctx := context.Background()
	client := digestClient(t, srv, owner, ownPriv)
	api := client.MongoDBCloudUsersApi

	boss, err := srv.AddOrgUser(orgA, OrgUser{Username: "boss@example.com", OrgRoles: []string{RoleOrgOwner},
		ProjectRoles: map[string][]string{payments: {RoleProjectOwner}}})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := srv.AddOrgUser(orgA, OrgUser{Username: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddOrgUser(orgA, OrgUser{Username: "Alice@example.com"}); err == nil {
		t.Fatal("AddOrgUser took the same username twice")
	}
	if _, err := srv.AddOrgUser(orgA, OrgUser{Username: "x@example.com", ProjectRoles: map[string][]string{foreign: {RoleReadOnly}}}); err == nil {
		t.Fatal("AddOrgUser gave a role in another organization's project")
	}

	// Looking a user up by username, the way to find its id.
	found, _, err := api.ListOrgUsers(ctx, orgA).Username("alice@example.com").Execute()
	if err != nil || len(found.GetResults()) != 1 || found.GetResults()[0].Id != alice || found.GetResults()[0].OrgMembershipStatus != "ACTIVE" {
		t.Fatalf("listOrgUsers by username: %+v %v", found, err)
	}
	none, _, err := api.ListOrgUsers(ctx, orgA).Username("nobody@example.com").Execute()
	if err != nil || len(none.GetResults()) != 0 {
		t.Fatalf("unknown username: %+v %v", none, err)
	}

	// Alice joins payments with one role, gets a second, loses the first.
	added, resp, err := api.AddGroupUsers(ctx, payments, admin.NewGroupUserRequest([]string{RoleReadOnly}, "alice@example.com")).Execute()
	if err != nil || resp.StatusCode != http.StatusCreated || added.Id != alice || !slices.Equal(added.Roles, []string{RoleReadOnly}) {
		t.Fatalf("addGroupUsers: %+v %v", added, err)
	}
	_, _, err = api.AddGroupUsers(ctx, payments, admin.NewGroupUserRequest([]string{RoleReadOnly}, "alice@example.com")).Execute()
	wantCode(t, err, http.StatusConflict, "USER_ALREADY_IN_GROUP")
	clock.Advance(60_000_000_000)
	if _, _, err := api.AddGroupUserRole(ctx, payments, alice, admin.NewAddOrRemoveGroupRole(RoleDataAccessAdmin)).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.AddGroupUserRole(ctx, payments, alice, admin.NewAddOrRemoveGroupRole(RoleDataAccessAdmin)).Execute(); err != nil {
		t.Fatalf("adding a role held: %v", err)
	}
	got, _, err := api.RemoveGroupUserRole(ctx, payments, alice, admin.NewAddOrRemoveGroupRole(RoleReadOnly)).Execute()
	if err != nil || !slices.Equal(got.Roles, []string{RoleDataAccessAdmin}) {
		t.Fatalf("removeGroupUserRole: %+v %v", got, err)
	}
	if roles := srv.ProjectRoles(payments, "alice@example.com"); !slices.Equal(roles, []string{RoleDataAccessAdmin}) {
		t.Fatalf("ProjectRoles %v", roles)
	}

	// Atlas's refusals.
	_, _, err = api.RemoveGroupUserRole(ctx, payments, alice, admin.NewAddOrRemoveGroupRole(RoleDataAccessAdmin)).Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_REMOVE_LAST_ROLE")
	_, _, err = api.AddGroupUserRole(ctx, payments, alice, admin.NewAddOrRemoveGroupRole("GROUP_SUPERUSER")).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ROLE")
	_, _, err = api.AddGroupUsers(ctx, payments, admin.NewGroupUserRequest([]string{RoleOrgOwner}, "bob@example.com")).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ROLE")
	_, _, err = api.AddGroupUserRole(ctx, payments, "6d00000000000000000000ff", admin.NewAddOrRemoveGroupRole(RoleReadOnly)).Execute()
	wantCode(t, err, http.StatusNotFound, "USER_NOT_FOUND")
	_, _, err = api.AddGroupUserRole(ctx, search, alice, admin.NewAddOrRemoveGroupRole(RoleReadOnly)).Execute()
	wantCode(t, err, http.StatusNotFound, "USER_NOT_IN_GROUP")
	_, err = api.RemoveGroupUser(ctx, payments, boss).Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_REMOVE_LAST_OWNER")
	_, _, err = api.RemoveGroupUserRole(ctx, payments, boss, admin.NewAddOrRemoveGroupRole(RoleProjectOwner)).Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_REMOVE_LAST_ROLE")

	// Someone Atlas does not know is invited to the organization.
	inv, _, err := api.AddGroupUsers(ctx, search, admin.NewGroupUserRequest([]string{RoleReadOnly}, "carol@example.com")).Execute()
	if err != nil || inv.OrgMembershipStatus != "PENDING" || inv.InvitationExpiresAt == nil {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	members, _, err := api.ListGroupUsers(ctx, search).Execute()
	if err != nil || len(members.GetResults()) != 1 || members.GetResults()[0].Username != "carol@example.com" {
		t.Fatalf("members of search: %+v %v", members, err)
	}
	if u, _ := srv.OrgUser(orgA, "carol@example.com"); !u.Pending || !slices.Equal(u.OrgRoles, []string{RoleOrgMember}) {
		t.Fatalf("invited user %+v", u)
	}

	// Removing alice from the project.
	if _, err := api.RemoveGroupUser(ctx, payments, alice).Execute(); err != nil {
		t.Fatal(err)
	}
	if roles := srv.ProjectRoles(payments, "alice@example.com"); roles != nil {
		t.Fatalf("alice still holds %v", roles)
	}
	_, _, err = api.GetGroupUser(ctx, payments, alice).Execute()
	wantCode(t, err, http.StatusNotFound, "USER_NOT_IN_GROUP")

	// The project's event log records each change with who made it.
	var log []string
	for _, e := range srv.Events(payments) {
		if e.Actor != owner || e.TargetUsername != "alice@example.com" {
			t.Errorf("event %+v: actor or target", e)
		}
		log = append(log, e.Type+" +"+strings.Join(e.Added, ",")+" -"+strings.Join(e.Removed, ","))
	}
	want := []string{
		"JOINED_GROUP +GROUP_READ_ONLY -",
		"USER_ROLES_CHANGED_AUDIT +GROUP_DATA_ACCESS_ADMIN -",
		"USER_ROLES_CHANGED_AUDIT + -GROUP_READ_ONLY",
		"REMOVED_FROM_GROUP + -GROUP_DATA_ACCESS_ADMIN",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	evs, _, err := client.EventsApi.ListGroupEvents(ctx, payments).EventType([]string{EventUserRolesChanged}).IncludeRaw(true).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(evs.GetResults()); n != 2 {
		t.Fatalf("role changes: %d", n)
	}
	newest := evs.GetResults()[0]
	if newest.GetPublicKey() != owner || newest.GetTargetUsername() != "alice@example.com" || !strings.Contains(newest.Raw.GetDescription(), "-GROUP_READ_ONLY") {
		t.Fatalf("newest role change: %+v", newest)
	}
	later, _, err := client.EventsApi.ListGroupEvents(ctx, payments).MinDate(clock.Now()).Execute()
	if err != nil || len(later.GetResults()) != 3 {
		t.Fatalf("events since the clock moved: %d %v", len(later.GetResults()), err)
	}
}

func TestOrganizationRoles(t *testing.T) {
	srv := newOrgServer(t, Options{})
	ctx := context.Background()
	client := digestClient(t, srv, owner, ownPriv)
	api := client.MongoDBCloudUsersApi
	boss, _ := srv.AddOrgUser(orgA, OrgUser{Username: "boss@example.com", OrgRoles: []string{RoleOrgOwner}})
	dave, _ := srv.AddOrgUser(orgA, OrgUser{Username: "dave@example.com"})

	u, _, err := api.AddOrgRole(ctx, orgA, dave, admin.NewAddOrRemoveOrgRole(RoleOrgReadOnly)).Execute()
	if err != nil || !slices.Equal(u.Roles.GetOrgRoles(), []string{RoleOrgMember, RoleOrgReadOnly}) {
		t.Fatalf("addOrgRole: %+v %v", u, err)
	}
	_, _, err = api.RemoveOrgRole(ctx, orgA, boss, admin.NewAddOrRemoveOrgRole(RoleOrgOwner)).Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_REMOVE_LAST_ROLE")
	if _, _, err := api.AddOrgRole(ctx, orgA, boss, admin.NewAddOrRemoveOrgRole(RoleOrgMember)).Execute(); err != nil {
		t.Fatal(err)
	}
	_, _, err = api.RemoveOrgRole(ctx, orgA, boss, admin.NewAddOrRemoveOrgRole(RoleOrgOwner)).Execute()
	wantCode(t, err, http.StatusBadRequest, "CANNOT_REMOVE_LAST_OWNER")
	_, _, err = api.AddOrgRole(ctx, orgA, dave, admin.NewAddOrRemoveOrgRole(RoleProjectOwner)).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ROLE")
	_, _, err = api.GetOrgUser(ctx, orgA, "6d00000000000000000000ff").Execute()
	wantCode(t, err, http.StatusNotFound, "USER_NOT_FOUND")

	// Only an organization owner changes organization roles.
	_, _, err = digestClient(t, srv, orgKey, orgPriv).MongoDBCloudUsersApi.AddOrgRole(ctx, orgA, dave, admin.NewAddOrRemoveOrgRole(RoleOrgOwner)).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")

	evs, _, err := client.EventsApi.ListOrgEvents(ctx, orgA).Execute()
	if err != nil || len(evs.GetResults()) != 2 || evs.GetResults()[1].GetTargetUsername() != "dave@example.com" ||
		evs.GetResults()[1].GetEventTypeName() != EventUserRolesChanged {
		t.Fatalf("org events: %+v %v", evs, err)
	}
	if got := srv.OrgRoles(orgA, "dave@example.com"); !slices.Equal(got, []string{RoleOrgMember, RoleOrgReadOnly}) {
		t.Fatalf("OrgRoles %v", got)
	}
}

package atlastest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

func TestDatabaseUserLifecycle(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock})
	c := defaultClient(t, srv)
	ctx := context.Background()
	api := c.DatabaseUsersApi

	expiry := clock.Now().Add(2 * time.Hour)
	u := newUser("jit-alice-1a2b3c")
	u.Roles = []admin.DatabaseUserRole{{RoleName: "read", DatabaseName: "sales", CollectionName: admin.PtrString("orders")}}
	u.Scopes = &[]admin.UserScope{{Name: cluster0, Type: "CLUSTER"}}
	u.Labels = &[]admin.ComponentLabel{{Key: admin.PtrString("managed-by"), Value: admin.PtrString("jitbot")}, {Key: admin.PtrString("request"), Value: admin.PtrString("r-1")}}
	u.Description = admin.PtrString("INC-123 debugging")
	u.DeleteAfterDate = &expiry

	created, resp, err := api.CreateDatabaseUser(ctx, projectID, u).Execute()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || created.GetUsername() != "jit-alice-1a2b3c" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	if created.Password != nil {
		t.Fatal("create response carries the password")
	}
	if d := created.GetDeleteAfterDate(); !d.Equal(expiry) {
		t.Fatalf("deleteAfterDate round trip: %v, want %v", d, expiry)
	}

	snap, ok := srv.User(projectID, "jit-alice-1a2b3c")
	if !ok {
		t.Fatal("user not stored")
	}
	if len(snap.Roles) != 1 || snap.Roles[0] != (Role{"read", "sales", "orders"}) {
		t.Fatalf("roles %+v", snap.Roles)
	}
	if len(snap.Scopes) != 1 || snap.Scopes[0] != (Scope{cluster0, "CLUSTER"}) {
		t.Fatalf("scopes %+v", snap.Scopes)
	}
	if v, _ := snap.Label("managed-by"); v != "jitbot" {
		t.Fatalf("labels %+v", snap.Labels)
	}
	if snap.Description != "INC-123 debugging" || !snap.DeleteAfterDate.Equal(expiry) || snap.X509Type != "NONE" {
		t.Fatalf("snapshot %+v", snap)
	}
	if !srv.CheckPassword(projectID, "jit-alice-1a2b3c", "correct horse battery staple") || srv.CheckPassword(projectID, "jit-alice-1a2b3c", "guess") {
		t.Fatal("CheckPassword does not match the password sent")
	}

	got, _, err := api.GetDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c").Execute()
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.GetRoles()[0].GetCollectionName() != "orders" || len(got.GetLabels()) != 2 || got.GetScopes()[0].GetName() != cluster0 {
		t.Fatalf("get: %+v", got)
	}

	// The raw body must never carry the write-only fields.
	resp2, body := rawDo(t, srv, http.MethodGet, "/api/atlas/v2/groups/"+projectID+"/databaseUsers/admin/jit-alice-1a2b3c", "", "")
	if resp2.StatusCode != 200 || strings.Contains(body, "password") || strings.Contains(body, "groupId") {
		t.Fatalf("raw get %d: %s", resp2.StatusCode, body)
	}
	if ct := resp2.Header.Get("Content-Type"); ct != "application/vnd.atlas.2023-01-01+json" {
		t.Fatalf("Content-Type %q", ct)
	}

	list, _, err := api.ListDatabaseUsers(ctx, projectID).Execute()
	if err != nil || list.GetTotalCount() != 1 || list.GetResults()[0].GetUsername() != "jit-alice-1a2b3c" {
		t.Fatalf("list: %v %+v", err, list)
	}

	// Extend: new password, later backstop, new description; labels and scopes kept.
	later := expiry.Add(3 * time.Hour)
	upd := newUser("jit-alice-1a2b3c")
	upd.Roles = got.GetRoles()
	upd.Password = admin.PtrString("a brand new password")
	upd.DeleteAfterDate = &later
	upd.Description = admin.PtrString("extended")
	updated, _, err := api.UpdateDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c", upd).Execute()
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if !updated.GetDeleteAfterDate().Equal(later) || updated.GetDescription() != "extended" || len(updated.GetLabels()) != 2 {
		t.Fatalf("update: %+v", updated)
	}
	if srv.CheckPassword(projectID, "jit-alice-1a2b3c", "correct horse battery staple") || !srv.CheckPassword(projectID, "jit-alice-1a2b3c", "a brand new password") {
		t.Fatal("password not replaced by the update")
	}
	if snap, _ := srv.User(projectID, "jit-alice-1a2b3c"); snap.PasswordChanges != 1 {
		t.Fatalf("PasswordChanges = %d", snap.PasswordChanges)
	}

	resp, err = api.DeleteDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c").Execute()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", err, resp)
	}
	if len(srv.Users(projectID)) != 0 {
		t.Fatal("user still there after delete")
	}
	_, _, err = api.GetDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c").Execute()
	wantCode(t, err, http.StatusNotFound, "USERNAME_NOT_FOUND")
	_, err = api.DeleteDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c").Execute()
	wantCode(t, err, http.StatusNotFound, "USERNAME_NOT_FOUND")
	_, _, err = api.UpdateDatabaseUser(ctx, projectID, "admin", "jit-alice-1a2b3c", upd).Execute()
	wantCode(t, err, http.StatusNotFound, "USERNAME_NOT_FOUND")

	for op, want := range map[string]int{"createDatabaseUser": 1, "getDatabaseUser": 3, "listDatabaseUsers": 1, "updateDatabaseUser": 2, "deleteDatabaseUser": 2} {
		if n := srv.CountCalls(op); n != want {
			t.Errorf("CountCalls(%s) = %d, want %d", op, n, want)
		}
	}
}

func TestDuplicateUser409(t *testing.T) {
	srv := newServer(t, Options{})
	api := defaultClient(t, srv).DatabaseUsersApi
	ctx := context.Background()
	if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-dup")).Execute(); err != nil {
		t.Fatal(err)
	}
	_, resp, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-dup")).Execute()
	wantCode(t, err, http.StatusConflict, "USER_ALREADY_EXISTS")
	if resp.StatusCode != 409 || !admin.IsErrorCode(err, "USER_ALREADY_EXISTS") {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Same name in another authentication database is another user.
	x509 := admin.NewCloudDatabaseUser("$external", projectID, []admin.DatabaseUserRole{{RoleName: "read", DatabaseName: "sales"}}, "jit-dup")
	x509.X509Type = admin.PtrString("MANAGED")
	if _, _, err := api.CreateDatabaseUser(ctx, projectID, x509).Execute(); err != nil {
		t.Fatalf("same username in $external: %v", err)
	}
	if n := len(srv.Users(projectID)); n != 2 {
		t.Fatalf("%d users", n)
	}
}

func TestUnknownProjectAndCluster404(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	_, _, err := c.ProjectsApi.GetGroup(ctx, otherID).Execute()
	wantCode(t, err, http.StatusNotFound, "GROUP_NOT_FOUND")
	_, _, err = c.DatabaseUsersApi.CreateDatabaseUser(ctx, otherID, newUser("jit-x")).Execute()
	wantCode(t, err, http.StatusNotFound, "GROUP_NOT_FOUND")
	_, _, err = c.ClustersApi.GetCluster(ctx, projectID, "Nope").Execute()
	wantCode(t, err, http.StatusNotFound, "CLUSTER_NOT_FOUND")
	_, _, err = c.ClustersApi.GetClusterStatus(ctx, projectID, "Nope").Execute()
	wantCode(t, err, http.StatusNotFound, "CLUSTER_NOT_FOUND")

	// A scope naming a cluster that does not exist is refused.
	u := newUser("jit-scoped")
	u.Scopes = &[]admin.UserScope{{Name: "Nope", Type: "CLUSTER"}}
	_, _, err = c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, u).Execute()
	wantCode(t, err, http.StatusNotFound, "CLUSTER_NOT_FOUND")
	// And a scope type outside the enum the transformed spec lost.
	u.Scopes = &[]admin.UserScope{{Name: cluster0, Type: "CLUSTR"}}
	_, _, err = c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, u).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ENUM_VALUE")
	if len(srv.Users(projectID)) != 0 {
		t.Fatal("rejected users were stored")
	}
}

func TestUserCap(t *testing.T) {
	srv := newServer(t, Options{UserCap: 3})
	api := defaultClient(t, srv).DatabaseUsersApi
	ctx := context.Background()
	for i := range 3 {
		if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser(fmt.Sprintf("jit-%d", i))).Execute(); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
	_, _, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-3")).Execute()
	e := wantCode(t, err, http.StatusForbidden, "GROUP_USERS_LIMIT_EXCEEDED")
	if !strings.Contains(e.GetDetail(), "3") {
		t.Fatalf("detail %q does not give the cap", e.GetDetail())
	}
	// Deleting one frees a slot.
	if _, err := api.DeleteDatabaseUser(ctx, projectID, "admin", "jit-0").Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-3")).Execute(); err != nil {
		t.Fatalf("after delete: %v", err)
	}
}

func TestDefaultCapIs100(t *testing.T) {
	srv := newServer(t, Options{})
	api := oauthClient(t, srv, DefaultClientID, DefaultClientSecret).DatabaseUsersApi
	ctx := context.Background()
	for i := range 100 {
		if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser(fmt.Sprintf("jit-%03d", i))).Execute(); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
	_, _, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-100")).Execute()
	wantCode(t, err, http.StatusForbidden, "GROUP_USERS_LIMIT_EXCEEDED")
}

func TestPagination(t *testing.T) {
	const n = 120
	srv := newServer(t, Options{UserCap: 200})
	api := oauthClient(t, srv, DefaultClientID, DefaultClientSecret).DatabaseUsersApi
	ctx := context.Background()
	var want []string
	for i := range n {
		name := fmt.Sprintf("jit-user-%03d", i)
		want = append(want, name)
		if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser(name)).Execute(); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}

	// The SDK's defaults (itemsPerPage=100) give one full page and the total.
	first, _, err := api.ListDatabaseUsers(ctx, projectID).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetResults()) != 100 || first.GetTotalCount() != n {
		t.Fatalf("default page: %d results, totalCount %d", len(first.GetResults()), first.GetTotalCount())
	}

	var got []string
	var sizes []int
	for page := 1; ; page++ {
		res, _, err := api.ListDatabaseUsers(ctx, projectID).ItemsPerPage(50).PageNum(page).Execute()
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if res.GetTotalCount() != n {
			t.Fatalf("page %d totalCount %d", page, res.GetTotalCount())
		}
		if len(res.GetResults()) == 0 {
			break
		}
		sizes = append(sizes, len(res.GetResults()))
		for _, u := range res.GetResults() {
			got = append(got, u.GetUsername())
		}
	}
	if !slices.Equal(sizes, []int{50, 50, 20}) || !slices.Equal(got, want) {
		t.Fatalf("pages %v; got %d users in order=%v", sizes, len(got), slices.Equal(got, want))
	}

	// includeCount=false leaves totalCount out.
	res, _, err := api.ListDatabaseUsers(ctx, projectID).IncludeCount(false).ItemsPerPage(5).Execute()
	if err != nil || res.TotalCount != nil || len(res.GetResults()) != 5 {
		t.Fatalf("includeCount=false: %v %+v", err, res.TotalCount)
	}
}

func TestDeleteAfterDateBounds(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock})
	api := defaultClient(t, srv).DatabaseUsersApi
	ctx := context.Background()
	now := clock.Now()

	for name, d := range map[string]time.Time{
		"more than a week ahead": now.Add(7*24*time.Hour + time.Second),
		"in the past":            now.Add(-time.Minute),
		"now":                    now,
	} {
		u := newUser("jit-bounds")
		u.DeleteAfterDate = &d
		_, _, err := api.CreateDatabaseUser(ctx, projectID, u).Execute()
		e := wantCode(t, err, http.StatusBadRequest, "INVALID_ATTRIBUTE")
		if !strings.Contains(e.GetDetail(), "deleteAfterDate") || !strings.Contains(e.GetDetail(), "one week") {
			t.Fatalf("%s: unclear detail %q", name, e.GetDetail())
		}
	}
	// In another time zone, with nanoseconds, exactly one week ahead: accepted, as the SDK
	// sends it.
	edge := now.Add(7 * 24 * time.Hour).In(time.FixedZone("CET", 3600))
	u := newUser("jit-bounds")
	u.DeleteAfterDate = &edge
	if _, _, err := api.CreateDatabaseUser(ctx, projectID, u).Execute(); err != nil {
		t.Fatalf("one week exactly: %v", err)
	}

	// The same rule applies to updates, against the clock at the time of the update.
	clock.Advance(24 * time.Hour)
	tooFar := clock.Now().Add(8 * 24 * time.Hour)
	u.DeleteAfterDate = &tooFar
	u.Password = nil
	_, _, err := api.UpdateDatabaseUser(ctx, projectID, "admin", "jit-bounds", u).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ATTRIBUTE")
	ok := clock.Now().Add(6 * 24 * time.Hour)
	u.DeleteAfterDate = &ok
	if _, _, err := api.UpdateDatabaseUser(ctx, projectID, "admin", "jit-bounds", u).Execute(); err != nil {
		t.Fatalf("moving the backstop forward: %v", err)
	}
	if snap, _ := srv.User(projectID, "jit-bounds"); !snap.DeleteAfterDate.Equal(ok) {
		t.Fatalf("deleteAfterDate %v, want %v", snap.DeleteAfterDate, ok)
	}
}

func TestDeleteAfterDateDeletesUser(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock, ApplyAfterPolls: 1})
	c := defaultClient(t, srv)
	ctx := context.Background()
	d := clock.Now().Add(time.Hour)
	u := newUser("jit-expiring")
	u.DeleteAfterDate = &d
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, u).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-permanent")).Execute(); err != nil {
		t.Fatal(err)
	}
	// Drain the PENDING poll of the creates.
	if st, _, _ := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute(); st.GetChangeStatus() != "PENDING" {
		t.Fatalf("status after create %q", st.GetChangeStatus())
	}

	clock.Advance(59 * time.Minute)
	if _, _, err := c.DatabaseUsersApi.GetDatabaseUser(ctx, projectID, "admin", "jit-expiring").Execute(); err != nil {
		t.Fatalf("user gone before its deleteAfterDate: %v", err)
	}
	clock.Advance(time.Minute)
	_, _, err := c.DatabaseUsersApi.GetDatabaseUser(ctx, projectID, "admin", "jit-expiring").Execute()
	wantCode(t, err, http.StatusNotFound, "USERNAME_NOT_FOUND")
	if got := usernames(srv.Users(projectID)); !slices.Equal(got, []string{"jit-permanent"}) {
		t.Fatalf("users %v", got)
	}
	// Atlas's own deletion is a change like any other.
	if st, _, _ := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute(); st.GetChangeStatus() != "PENDING" {
		t.Fatalf("status after automatic deletion %q", st.GetChangeStatus())
	}
}

func TestExpiryVisibleInSnapshotsWithoutRequests(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock})
	d := clock.Now().Add(time.Minute)
	u := newUser("jit-snap")
	u.DeleteAfterDate = &d
	if _, _, err := defaultClient(t, srv).DatabaseUsersApi.CreateDatabaseUser(context.Background(), projectID, u).Execute(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, ok := srv.User(projectID, "jit-snap"); ok {
		t.Fatal("expired user still in the snapshot")
	}
}

func TestChangeStatusPendingThenApplied(t *testing.T) {
	srv := newServer(t, Options{ApplyAfterPolls: 2})
	c := defaultClient(t, srv)
	ctx := context.Background()
	status := func() string {
		t.Helper()
		st, _, err := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute()
		if err != nil {
			t.Fatal(err)
		}
		return st.GetChangeStatus()
	}
	if s := status(); s != "APPLIED" {
		t.Fatalf("idle project: %s", s)
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-p")).Execute(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		got = append(got, status())
	}
	if !slices.Equal(got, []string{"PENDING", "PENDING", "APPLIED"}) {
		t.Fatalf("after create: %v", got)
	}
	if _, err := c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "jit-p").Execute(); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != "PENDING" {
		t.Fatalf("after delete: %s", s)
	}
	if n := srv.CountCalls("getClusterStatus"); n != 5 {
		t.Fatalf("CountCalls(getClusterStatus) = %d, want 5", n)
	}
}

func TestChangeStatusApplyDelay(t *testing.T) {
	// The delay runs on the simulator's clock: PENDING until it has moved
	// the whole delay past the change, APPLIED from then on.
	const delay = 40 * time.Second
	clock := newFakeClock()
	srv := newServer(t, Options{ApplyDelay: delay, Clock: clock})
	c := defaultClient(t, srv)
	ctx := context.Background()
	status := func() string {
		t.Helper()
		st, _, err := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute()
		if err != nil {
			t.Fatal(err)
		}
		return st.GetChangeStatus()
	}
	if s := status(); s != "APPLIED" {
		t.Fatalf("before any change: %s", s)
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-d")).Execute(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Duration(0)
	for _, step := range []time.Duration{0, delay / 2, delay/2 - time.Nanosecond} {
		clock.Advance(step)
		elapsed += step
		if s, polled := srv.ChangeStatus(projectID), status(); s != "PENDING" || polled != "PENDING" {
			t.Fatalf("%v after the change: ChangeStatus %s, GetClusterStatus %s, want PENDING", elapsed, s, polled)
		}
	}
	clock.Advance(time.Nanosecond)
	if s, polled := srv.ChangeStatus(projectID), status(); s != "APPLIED" || polled != "APPLIED" {
		t.Fatalf("once the delay has passed: ChangeStatus %s, GetClusterStatus %s", s, polled)
	}
}

func TestClustersAndProjects(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	list, _, err := c.ClustersApi.ListClusters(ctx, projectID).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if list.GetTotalCount() != 2 {
		t.Fatalf("totalCount %d", list.GetTotalCount())
	}
	c0 := list.GetResults()[0]
	cs := c0.GetConnectionStrings()
	srv0 := cs.GetStandardSrv()
	if c0.GetName() != cluster0 || len(c0.GetTags()) != 2 || c0.GetTags()[0] != (admin.ResourceTag{Key: "owner", Value: "dba@example.com"}) ||
		!strings.HasPrefix(srv0, "mongodb+srv://cluster0.") || c0.GetStateName() != "IDLE" {
		t.Fatalf("cluster %+v", c0)
	}
	one, _, err := c.ClustersApi.GetCluster(ctx, projectID, "Cluster1").Execute()
	if err != nil || one.GetName() != "Cluster1" || one.GetGroupId() != projectID {
		t.Fatalf("GetCluster: %v %+v", err, one)
	}
	srv.AddCluster(projectID, Cluster{Name: "Analytics", StandardSrv: "mongodb+srv://analytics.example.net", Paused: true})
	a, _, err := c.ClustersApi.GetCluster(ctx, projectID, "Analytics").Execute()
	acs := a.GetConnectionStrings()
	if err != nil || acs.GetStandardSrv() != "mongodb+srv://analytics.example.net" || !a.GetPaused() {
		t.Fatalf("added cluster: %v %+v", err, a)
	}

	srv.AddProject(otherID, "second")
	groups, _, err := c.ProjectsApi.ListGroups(ctx).Execute()
	if err != nil || groups.GetTotalCount() != 2 {
		t.Fatalf("ListGroups: %v %+v", err, groups)
	}
	byName, _, err := c.ProjectsApi.GetGroupByName(ctx, "second").Execute()
	if err != nil || byName.GetId() != otherID {
		t.Fatalf("GetGroupByName: %v %+v", err, byName)
	}
}

func TestConcurrentClients(t *testing.T) {
	srv := newServer(t, Options{ApplyAfterPolls: 1})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := defaultClient(t, srv)
			name := fmt.Sprintf("jit-c-%02d", i)
			if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser(name)).Execute(); err != nil {
				errs <- err
				return
			}
			if _, _, err := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute(); err != nil {
				errs <- err
			}
			if _, _, err := c.DatabaseUsersApi.ListDatabaseUsers(ctx, projectID).Execute(); err != nil {
				errs <- err
			}
			_ = srv.Calls()
			_ = srv.Users(projectID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(srv.Users(projectID)); n != 20 {
		t.Fatalf("%d users", n)
	}
	if n := srv.CountCalls("createDatabaseUser"); n != 20 {
		t.Fatalf("CountCalls = %d", n)
	}
}

func TestUserJSONNeverCarriesWriteOnlyFields(t *testing.T) {
	// Guard for the JSON shape itself, independent of the spec check.
	q := &request{base: "http://x"}
	data, err := json.Marshal(q.userJSON(&project{id: projectID}, User{Username: "u", DatabaseName: "admin", HasPassword: true}))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); strings.Contains(s, "password") || strings.Contains(s, "groupId") {
		t.Fatalf("user JSON leaks a write-only field: %s", s)
	}
}

func TestAddUserSeedsState(t *testing.T) {
	srv := newServer(t, Options{})
	orphan := User{Username: "jit-orphan", Roles: []Role{{RoleName: "read", DatabaseName: "sales"}},
		Labels: []Label{{"managed-by", "jitbot"}}, Scopes: []Scope{{cluster0, "CLUSTER"}}}
	if err := srv.AddUser(projectID, orphan, "seeded-password"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddUser(projectID, orphan, ""); err == nil {
		t.Fatal("duplicate seed accepted")
	}
	res, _, err := defaultClient(t, srv).DatabaseUsersApi.ListDatabaseUsers(context.Background(), projectID).Execute()
	if err != nil {
		t.Fatal(err)
	}
	got := res.GetResults()
	if len(got) != 1 || got[0].GetUsername() != "jit-orphan" || got[0].GetDatabaseName() != "admin" ||
		got[0].GetLabels()[0].GetValue() != "jitbot" || got[0].GetX509Type() != "NONE" {
		t.Fatalf("seeded user as listed: %+v", got)
	}
	if !srv.CheckPassword(projectID, "jit-orphan", "seeded-password") {
		t.Fatal("seeded password not set")
	}
	if srv.ChangeStatus(projectID) != "APPLIED" {
		t.Fatal("seeding made the project PENDING")
	}
}

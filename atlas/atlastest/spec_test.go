package atlastest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
	"go.mongodb.org/atlas-sdk/v20250312020/auth"
)

func TestSpecIsLoadedOnce(t *testing.T) {
	spec, err := SharedSpec()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SharedSpec()
	if spec != again {
		t.Fatal("SharedSpec loaded twice")
	}
	if !strings.HasSuffix(spec.Path(), "openapi/atlas-api-transformed.yaml") {
		t.Fatalf("spec path %s", spec.Path())
	}
	if spec.Operations() < 200 {
		t.Fatalf("only %d operations: is this the Atlas spec?", spec.Operations())
	}
	for _, op := range []string{"createDatabaseUser", "listClusters", "getClusterStatus", "getGroup"} {
		if !spec.HasOperation(op) {
			t.Fatalf("spec lacks %s", op)
		}
	}
	t.Logf("spec %s: %d operations, loaded in %v", spec.Path(), spec.Operations(), spec.LoadTime())

	a, b := newServer(t, Options{}), newServer(t, Options{})
	if a.Spec() != b.Spec() {
		t.Fatal("servers do not share the spec")
	}
}

func TestLocateSpecHonoursEnv(t *testing.T) {
	t.Setenv(SpecEnv, "/nonexistent/atlas.yaml")
	if _, err := locateSpec(); err == nil || !strings.Contains(err.Error(), SpecEnv) {
		t.Fatalf("bad %s accepted: %v", SpecEnv, err)
	}
	spec, _ := SharedSpec()
	t.Setenv(SpecEnv, spec.Path())
	if p, err := locateSpec(); err != nil || p != spec.Path() {
		t.Fatalf("locateSpec = %q, %v", p, err)
	}
	t.Setenv(SpecEnv, "")
	found := false
	for _, p := range moduleCacheCandidates() {
		found = found || p == spec.Path()
	}
	if !found {
		t.Fatalf("module cache fallback does not find %s", spec.Path())
	}
}

// violationCase is a request the real Atlas would refuse; each must get a 4xx, be recorded and
// be reported to the test that sent it.
func TestRequestsBreakingTheSpecAreRejected(t *testing.T) {
	users := "/api/atlas/v2/groups/" + projectID + "/databaseUsers"
	v1 := "application/vnd.atlas.2023-01-01+json"
	cases := []struct {
		name, method, path, ct, body string
		status                       int
		mention                      string
	}{
		{"role instead of roleName", http.MethodPost, users, v1,
			`{"databaseName":"admin","groupId":"` + projectID + `","username":"u1","password":"longenough1","roles":[{"role":"read","databaseName":"sales"}]}`,
			400, "roleName"},
		{"bad groupId pattern", http.MethodGet, "/api/atlas/v2/groups/not-a-project/databaseUsers", "", "", 400, "groupId"},
		{"wrong content type", http.MethodPost, users, "application/json",
			`{"databaseName":"admin","groupId":"` + projectID + `","username":"u2","password":"longenough1","roles":[{"roleName":"read","databaseName":"sales"}]}`,
			400, "Content-Type"},
		{"unknown API version", http.MethodPost, users, "application/vnd.atlas.2099-01-01+json",
			`{"databaseName":"admin","groupId":"` + projectID + `","username":"u3","password":"longenough1","roles":[{"roleName":"read","databaseName":"sales"}]}`,
			400, "Content-Type"},
		{"missing roles", http.MethodPost, users, v1,
			`{"databaseName":"admin","groupId":"` + projectID + `","username":"u4","password":"longenough1"}`, 400, "roles"},
		{"bad date-time", http.MethodPost, users, v1,
			`{"databaseName":"admin","groupId":"` + projectID + `","username":"u5","password":"longenough1","roles":[],"deleteAfterDate":"tomorrow"}`,
			400, "deleteAfterDate"},
		{"itemsPerPage over 500", http.MethodGet, users + "?itemsPerPage=501", "", "", 400, "itemsPerPage"},
		{"unknown path", http.MethodGet, "/api/atlas/v2/groups/" + projectID + "/nonsense", "", "", 404, "not an operation"},
		{"unknown method", http.MethodPut, users, v1, `{}`, 405, "not an operation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			srv := newServer(t, Options{T: ft})
			resp, body := rawDo(t, srv, tc.method, tc.path, tc.ct, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(body, `"errorCode"`) {
				t.Fatalf("not an Atlas error body (%s): %s", ct, body)
			}
			v := srv.SpecViolations()
			if len(v) != 1 || !strings.HasPrefix(v[0], "request ") || !strings.Contains(v[0], tc.mention) {
				t.Fatalf("violations %q, want one mentioning %q", v, tc.mention)
			}
			if errs := ft.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "spec violation") {
				t.Fatalf("reporter got %q", errs)
			}
			if len(srv.Users(projectID)) != 0 {
				t.Fatal("a rejected request changed state")
			}
		})
	}
}

func TestSDKRequestsBreakingTheSpec(t *testing.T) {
	ft := &fakeT{}
	srv := newServer(t, Options{T: ft})
	api := defaultClient(t, srv).DatabaseUsersApi
	ctx := context.Background()

	u := newUser("jit-bad-scope")
	u.Scopes = &[]admin.UserScope{{Name: "bad name!", Type: "CLUSTER"}}
	_, _, err := api.CreateDatabaseUser(ctx, projectID, u).Execute()
	wantCode(t, err, http.StatusBadRequest, "VALIDATION_ERROR")

	u = newUser("jit-short-pw")
	u.Password = admin.PtrString("short")
	_, _, err = api.CreateDatabaseUser(ctx, projectID, u).Execute()
	wantCode(t, err, http.StatusBadRequest, "VALIDATION_ERROR")

	u = newUser("jit-nil-roles")
	u.Roles = nil // the SDK sends "roles":null
	_, _, err = api.CreateDatabaseUser(ctx, projectID, u).Execute()
	wantCode(t, err, http.StatusBadRequest, "VALIDATION_ERROR")

	if n := len(srv.SpecViolations()); n != 3 || len(ft.Errors()) != 3 {
		t.Fatalf("%d violations, %d reports", n, len(ft.Errors()))
	}
	// The SDK's own correct requests are clean.
	before := len(srv.SpecViolations())
	if _, _, err := api.CreateDatabaseUser(ctx, projectID, newUser("jit-good")).Execute(); err != nil {
		t.Fatal(err)
	}
	if len(srv.SpecViolations()) != before {
		t.Fatalf("a correct SDK request was flagged: %q", srv.SpecViolations()[before:])
	}
}

func TestUnimplementedOperation501(t *testing.T) {
	ft := &fakeT{}
	srv := newServer(t, Options{T: ft, Roles: []string{RoleProjectOwner}})
	_, resp, err := defaultClient(t, srv).MaintenanceWindowsApi.GetMaintenanceWindow(context.Background(), projectID).Execute()
	wantCode(t, err, http.StatusNotImplemented, "NOT_IMPLEMENTED")
	if resp.StatusCode != 501 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if u := srv.Unimplemented(); len(u) != 1 || !strings.Contains(u[0], "getMaintenanceWindow") {
		t.Fatalf("Unimplemented = %q", u)
	}
	if len(ft.Errors()) != 1 || len(srv.SpecViolations()) != 0 {
		t.Fatalf("reports %q, violations %q", ft.Errors(), srv.SpecViolations())
	}
}

func TestLookaheadPatternsNeedRegexp2(t *testing.T) {
	// The IP access list schema uses (?!...), which Go's RE2 cannot compile: a request that
	// reaches those patterns must validate, and only then reach the handler.
	ft := &fakeT{}
	srv := newServer(t, Options{T: ft, Roles: []string{RoleProjectOwner}})
	entries := []admin.NetworkPermissionEntry{{IpAddress: admin.PtrString("192.0.2.10"), Comment: admin.PtrString("jit")}}
	if _, _, err := defaultClient(t, srv).ProjectIPAccessListApi.CreateAccessListEntry(context.Background(), projectID, &entries).Execute(); err != nil {
		t.Fatal(err)
	}
	if v := srv.SpecViolations(); len(v) != 0 {
		t.Fatalf("lookahead pattern broke validation: %q", v)
	}
}

func TestResponseValidationCatchesLeaks(t *testing.T) {
	spec, err := SharedSpec()
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/atlas/v2/groups/"+projectID+"/databaseUsers/admin/u", nil)
	route, params, err := spec.findRoute(r)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/vnd.atlas.2023-01-01+json"}}
	good := `{"databaseName":"admin","username":"u","roles":[{"roleName":"read","databaseName":"sales"}]}`
	if err := spec.validateResponse(context.Background(), r, route, params, 200, h, []byte(good)); err != nil {
		t.Fatalf("good response rejected: %v", err)
	}
	leak := `{"databaseName":"admin","username":"u","password":"hunter22hunter","roles":[]}`
	if err := spec.validateResponse(context.Background(), r, route, params, 200, h, []byte(leak)); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("password leak not caught: %v", err)
	}
	if err := spec.validateResponse(context.Background(), r, route, params, 418, h, []byte(good)); err == nil {
		t.Fatal("undeclared status not caught")
	}
}

// BenchmarkValidateRequest measures the per-request cost of spec validation alone.
func BenchmarkValidateRequest(b *testing.B) {
	spec, err := SharedSpec()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"databaseName":"admin","groupId":"` + projectID + `","username":"jit-bench","password":"longenough1",` +
		`"roles":[{"roleName":"read","databaseName":"sales","collectionName":"orders"}],"scopes":[{"name":"Cluster0","type":"CLUSTER"}],` +
		`"labels":[{"key":"managed-by","value":"jitbot"}],"deleteAfterDate":"2030-01-02T03:04:05Z"}`)
	r := httptest.NewRequest(http.MethodPost, "/api/atlas/v2/groups/"+projectID+"/databaseUsers", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		route, params, err := spec.findRoute(r)
		if err != nil {
			b.Fatal(err)
		}
		if err := spec.validateRequest(ctx, r, body, route, params); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindRoute measures routing alone (part of BenchmarkValidateRequest).
func BenchmarkFindRoute(b *testing.B) {
	spec, err := SharedSpec()
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/api/atlas/v2/groups/"+projectID+"/databaseUsers", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := spec.findRoute(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSDKCall measures one authenticated SDK round trip (OAuth: one request per call).
func BenchmarkSDKCall(b *testing.B) {
	srv, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.AddProject(projectID, "bench")
	srv.AddCluster(projectID, Cluster{Name: cluster0})
	ctx := context.WithValue(context.Background(), auth.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	c, err := admin.NewClient(admin.UseBaseURL(srv.URL()), admin.UseOAuthAuth(ctx, DefaultClientID, DefaultClientSecret))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ClustersApi.GetClusterStatus(context.Background(), projectID, cluster0).Execute(); err != nil {
			b.Fatal(err)
		}
	}
}

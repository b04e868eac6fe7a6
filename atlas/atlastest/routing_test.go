package atlastest

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"testing"
)

// The routing-only spec declares each implemented operation as the SDK's
// spec does (method, path, roles, success status and media type), and
// every operation the simulator implements.
func TestRoutingSpecAgreesWithTheSpec(t *testing.T) {
	real, err := SharedSpec()
	if err != nil {
		t.Fatal(err)
	}
	routing, err := RoutingSpec()
	if err != nil {
		t.Fatal(err)
	}
	if routing.Checked() || !real.Checked() {
		t.Fatalf("Checked: routing %v, real %v", routing.Checked(), real.Checked())
	}
	var routed []string
	for _, op := range routedOps() {
		routed = append(routed, op.id)
		want, ok := real.ops[op.id]
		if !ok {
			t.Errorf("%s is not in the spec", op.id)
			continue
		}
		if got := routing.ops[op.id]; got.method != want.method || got.path != want.path || !slices.Equal(got.roles, want.roles) {
			t.Errorf("%s: routed as %+v, the spec says %+v", op.id, got, want)
		}
		resp := real.doc.Paths.Value(op.path).GetOperation(op.method).Responses.Status(op.status)
		if resp == nil || resp.Value == nil || resp.Value.Content[op.mediaType] == nil {
			t.Errorf("%s: the spec has no %d answer in %s", op.id, op.status, op.mediaType)
		}
	}
	var implemented []string
	for id := range (&Server{}).handlers() {
		implemented = append(implemented, id)
	}
	sort.Strings(routed)
	sort.Strings(implemented)
	if !slices.Equal(routed, implemented) {
		t.Errorf("routed %v, implemented %v", routed, implemented)
	}
}

// Without the spec file the simulator still serves the SDK: users are
// created, read and deleted; nothing is checked, nothing is reported.
func TestRoutingSpecServesTheSDK(t *testing.T) {
	spec, err := RoutingSpec()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, Options{Spec: spec})
	c := defaultClient(t, srv)
	ctx := context.Background()
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("u1")).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ClustersApi.GetCluster(ctx, projectID, cluster0).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.DatabaseUsersApi.GetDatabaseUser(ctx, projectID, "admin", "u1").Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "u1").Execute(); err != nil {
		t.Fatal(err)
	}
	if n := srv.CountCalls("deleteDatabaseUser"); n != 1 {
		t.Fatalf("deletes: %d", n)
	}
	// An operation the simulator does not implement is reported as such,
	// not as a spec violation it cannot judge.
	rep := &fakeT{}
	quiet := newServer(t, Options{Spec: spec, T: rep})
	resp, _ := rawDo(t, quiet, http.MethodGet, "/api/atlas/v2/groups/"+projectID+"/alerts", "", "")
	if resp.StatusCode != http.StatusNotFound || len(quiet.SpecViolations()) != 0 || len(quiet.Unimplemented()) != 1 {
		t.Fatalf("status %d, violations %v, unimplemented %v", resp.StatusCode, quiet.SpecViolations(), quiet.Unimplemented())
	}
}

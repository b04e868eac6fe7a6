package atlastest

import (
	"context"
	"maps"
	"net/http"
	"testing"
)

// TestCreatesCountsEachNamesCreates: a create retried onto an existing
// user (409) creates nothing; a user deleted and created again counts
// twice; users of another project are not counted.
func TestCreatesCountsEachNamesCreates(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	for _, name := range []string{"jit-once", "jit-twice"} {
		if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser(name)).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-once")).Execute()
	wantCode(t, err, http.StatusConflict, "USER_ALREADY_EXISTS")
	if _, err := c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "jit-twice").Execute(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-twice")).Execute(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"jit-once": 1, "jit-twice": 2}
	if got := srv.Creates(projectID); !maps.Equal(got, want) {
		t.Fatalf("Creates = %v, want %v", got, want)
	}
	if got := srv.Creates("000000000000000000000000"); len(got) != 0 {
		t.Fatalf("another project: %v", got)
	}
}

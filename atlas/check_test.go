package atlas

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
)

func TestCheck(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			if err := e.prov.Check(e.ctx, "prod"); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if users := e.srv.Users(projectID); len(users) != 0 {
				t.Fatalf("Check left users behind: %+v", users)
			}
			e.wantCalls(map[string]int{"getGroup": 1, "listClusters": 1, "listDatabaseUsers": 1, "createDatabaseUser": 1, "deleteDatabaseUser": 1})
			var created string
			for _, c := range e.srv.Calls() {
				if c.OperationID == "deleteDatabaseUser" && !c.Challenge {
					created = c.Path[strings.LastIndex(c.Path, "/")+1:]
				}
			}
			if !strings.HasPrefix(created, "jit-check-") {
				t.Fatalf("the test user was %q", created)
			}
			if err := e.prov.Ping(e.ctx, "prod"); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			e.noViolations()
		})
	}
}

func TestCheckReadOnlyCredentials(t *testing.T) {
	e := newEnv(t, withDigest, withRoles(atlastest.RoleReadOnly))
	err := e.prov.Check(e.ctx, "prod")
	wantError(t, err, flows.EFORBIDDEN, "Project Database Access Admin (and Project Read Only for discovery)")
	if !strings.Contains(err.Error(), "create a test database user") {
		t.Fatalf("the error does not say which step failed: %v", err)
	}
	if users := e.srv.Users(projectID); len(users) != 0 {
		t.Fatalf("users: %+v", users)
	}
	// Read-only is still enough to be ready.
	if err := e.prov.Ping(e.ctx, "prod"); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestCheckBadCredentials(t *testing.T) {
	e := newEnv(t, withIntegration(func(in *Integration) { in.ClientSecret = "mdb_sa_sk_nope" }))
	err := e.prov.Check(e.ctx, "prod")
	wantError(t, err, flows.EFORBIDDEN, "Atlas rejected jitbot's credentials for integration prod (check the service account")
	if !strings.Contains(err.Error(), "read the project") {
		t.Fatalf("the error does not say which step failed: %v", err)
	}
	wantError(t, e.prov.Ping(e.ctx, "prod"), flows.EFORBIDDEN, "rejected")
}

package atlastest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

func externalUser(name, field, value string) *admin.CloudDatabaseUser {
	u := admin.NewCloudDatabaseUser(ExternalDatabase, projectID, []admin.DatabaseUserRole{{RoleName: "read", DatabaseName: "sales"}}, name)
	switch field {
	case "oidc":
		u.OidcAuthType = admin.PtrString(value)
	case "iam":
		u.AwsIAMType = admin.PtrString(value)
	}
	return u
}

func TestPasswordlessUsers(t *testing.T) {
	srv := newServer(t, Options{})
	api := defaultClient(t, srv).DatabaseUsersApi
	ctx := context.Background()

	for _, u := range []*admin.CloudDatabaseUser{
		externalUser("0oa1b2c3d4/alice@example.com", "oidc", "USER"),
		externalUser("arn:aws:iam::123456789012:role/dba-alice", "iam", "ROLE"),
		externalUser("arn:aws:iam::123456789012:user/alice", "iam", "USER"),
	} {
		created, _, err := api.CreateDatabaseUser(ctx, projectID, u).Execute()
		if err != nil {
			t.Fatalf("create %s: %v", u.Username, err)
		}
		if created.GetDatabaseName() != ExternalDatabase || created.Password != nil {
			t.Fatalf("created %+v", created)
		}
		// The name holds a slash: the SDK escapes it, and the user is found by it.
		got, _, err := api.GetDatabaseUser(ctx, projectID, ExternalDatabase, u.Username).Execute()
		if err != nil || got.GetUsername() != u.Username {
			t.Fatalf("get %s: %+v %v", u.Username, got, err)
		}
		snap, ok := srv.User(projectID, u.Username)
		if !ok || snap.HasPassword || snap.DatabaseName != ExternalDatabase {
			t.Fatalf("stored %+v", snap)
		}
		// No password can be given to it later, and its method cannot change.
		upd := &admin.CloudDatabaseUser{DatabaseName: ExternalDatabase, GroupId: projectID, Username: u.Username, Roles: u.Roles, Password: admin.PtrString("correct horse battery")}
		_, _, err = api.UpdateDatabaseUser(ctx, projectID, ExternalDatabase, u.Username, upd).Execute()
		wantCode(t, err, http.StatusBadRequest, "CANNOT_SET_PASSWORD_FOR_AUTH_MECHANISM")
		upd = &admin.CloudDatabaseUser{DatabaseName: ExternalDatabase, GroupId: projectID, Username: u.Username, Roles: u.Roles, X509Type: admin.PtrString("MANAGED")}
		_, _, err = api.UpdateDatabaseUser(ctx, projectID, ExternalDatabase, u.Username, upd).Execute()
		wantCode(t, err, http.StatusBadRequest, "INVALID_ATTRIBUTE")
		if _, err := api.DeleteDatabaseUser(ctx, projectID, ExternalDatabase, u.Username).Execute(); err != nil {
			t.Fatalf("delete %s: %v", u.Username, err)
		}
	}

	refused := []struct {
		u    *admin.CloudDatabaseUser
		code string
		says string
	}{
		{externalUser("alice@example.com", "oidc", "USER"), "ATLAS_INVALID_USERNAME", "<identity provider id>/<name>"},
		{externalUser("arn:aws:iam::123456789012:user/alice", "iam", "ROLE"), "ATLAS_INVALID_USERNAME", "ARN"},
		{externalUser("dba-alice", "iam", "USER"), "ATLAS_INVALID_USERNAME", "ARN"},
		{func() *admin.CloudDatabaseUser {
			u := externalUser("0oa1b2c3d4/alice@example.com", "oidc", "USER")
			u.DatabaseName = "admin"
			return u
		}(), "INVALID_ATTRIBUTE", "$external"},
		{externalUser("0oa1b2c3d4/dbas", "oidc", "IDP_GROUP"), "INVALID_ATTRIBUTE", "admin"},
		{func() *admin.CloudDatabaseUser {
			u := externalUser("0oa1b2c3d4/alice@example.com", "oidc", "USER")
			u.Password = admin.PtrString("correct horse battery")
			return u
		}(), "CANNOT_SET_PASSWORD_FOR_AUTH_MECHANISM", "password"},
		{func() *admin.CloudDatabaseUser {
			u := externalUser("0oa1b2c3d4/alice@example.com", "oidc", "USER")
			u.AwsIAMType = admin.PtrString("ROLE")
			return u
		}(), "ATLAS_INVALID_AUTH_SETTINGS", "one way"},
		{func() *admin.CloudDatabaseUser {
			u := newUser("jit-scram")
			u.DatabaseName = ExternalDatabase
			return u
		}(), "INVALID_ATTRIBUTE", "SCRAM users authenticate against admin"},
	}
	for _, c := range refused {
		_, _, err := api.CreateDatabaseUser(ctx, projectID, c.u).Execute()
		if e := wantCode(t, err, http.StatusBadRequest, c.code); !strings.Contains(e.GetDetail(), c.says) {
			t.Errorf("%s: %q does not say %q", c.u.Username, e.GetDetail(), c.says)
		}
	}
	if n := len(srv.Users(projectID)); n != 0 {
		t.Fatalf("%d users left", n)
	}
	if v := srv.SpecViolations(); len(v) != 0 {
		t.Fatalf("violations: %q", v)
	}
}

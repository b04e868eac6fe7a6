package atlastest

import (
	"context"
	"slices"
	"testing"
)

// TestPeopleActingInTheUI: a person's changes of roles and what they create
// land in the event logs with them as the actor (username, userId), and the
// roles and objects named, as listGroupEvents and listOrgEvents answer them.
func TestPeopleActingInTheUI(t *testing.T) {
	srv := newOrgServer(t, Options{})
	if _, err := srv.AddOrgUser(orgA, OrgUser{Username: "carol@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AsUser("boss@example.com", payments, "carol@example.com", []string{RoleReadOnly, RoleClusterManager}, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AsUser("boss@example.com", payments, "carol@example.com", nil, []string{RoleClusterManager}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AsUser("boss@example.com", payments, "carol@example.com", []string{"GROUP_NOPE"}, nil); err == nil {
		t.Fatal("an unknown role was given")
	}
	if got := srv.ProjectRoles(payments, "carol@example.com"); !slices.Equal(got, []string{RoleReadOnly}) {
		t.Fatalf("roles: %v", got)
	}
	if err := srv.RecordUserEvent(UserEvent{ProjectID: payments, Type: EventDatabaseUserAdded, Username: "carol@example.com", DBUser: "app"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.RecordUserEvent(UserEvent{OrgID: orgA, Type: EventAPIKeyCreated, Username: "carol@example.com", APIKey: "abcdefgh"}); err != nil {
		t.Fatal(err)
	}

	c := digestClient(t, srv, orgKey, orgPriv)
	ctx := context.Background()
	res, _, err := c.EventsApi.ListGroupEvents(ctx, payments).IncludeRaw(true).Execute()
	if err != nil {
		t.Fatal(err)
	}
	evs := res.GetResults()
	if len(evs) != 3 || evs[0].GetEventTypeName() != EventDatabaseUserAdded || evs[0].GetDbUserUsername() != "app" ||
		evs[0].GetUsername() != "carol@example.com" || evs[0].GetUserId() == "" || evs[0].GetPublicKey() != "" {
		t.Fatalf("newest event: %+v", evs)
	}
	raw := evs[1].GetRaw()
	if evs[1].GetEventTypeName() != EventUserRolesChanged || evs[1].GetUsername() != "boss@example.com" ||
		evs[1].GetTargetUsername() != "carol@example.com" || raw.GetDescription() != "USER_ROLES_CHANGED_AUDIT -GROUP_CLUSTER_MANAGER" {
		t.Fatalf("role change: %+v %q", evs[1], raw.GetDescription())
	}
	if evs[2].GetEventTypeName() != EventJoinedGroup {
		t.Fatalf("first event: %s", evs[2].GetEventTypeName())
	}
	org, _, err := c.EventsApi.ListOrgEvents(ctx, orgA).Execute()
	if err != nil || len(org.GetResults()) != 1 || org.GetResults()[0].GetTargetPublicKey() != "abcdefgh" {
		t.Fatalf("organization events: %+v, %v", org, err)
	}
	if v := srv.SpecViolations(); len(v) != 0 {
		t.Fatalf("spec violations: %v", v)
	}
}

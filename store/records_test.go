package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/internal/record"
)

// TestRecordsWrittenBeforeKindsReadAsDatabaseUsers: a request stored before
// grants had kinds and several roles (no kind, one role under "role", its
// database user under "username") reads as the database user it was.
func TestRecordsWrittenBeforeKindsReadAsDatabaseUsers(t *testing.T) {
	db := openTemp(t)
	old := `{"id":"old0000001","requester":"alice@example.com","integration":"prod","cluster":"Cluster0",` +
		`"database":"sales","collection":"orders","role":"readWrite","duration":3600000000000,"flow":"prod-write",` +
		`"quorum":1,"max_duration":28800000000000,"state":"active","created_at":"2026-11-23T09:00:00Z",` +
		`"updated_at":"2026-11-23T09:01:00Z","username":"jit-alice-old0000001","expires_at":"2026-11-23T10:01:00Z"}`
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).Put([]byte("old0000001"), []byte(old))
	}); err != nil {
		t.Fatal(err)
	}
	r, err := db.Get(context.Background(), "old0000001")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != flows.KindDatabaseUser || !slices.Equal(r.Roles, []string{"readWrite"}) || r.Principal != "jit-alice-old0000001" ||
		r.Resource.String() != "prod/Cluster0/sales/orders" {
		t.Fatalf("an old record read as kind %q, roles %q, principal %q, resource %s", r.Kind, r.Roles, r.Principal, r.Resource)
	}
}

// TestRecordsKeepTheirShape: a request with one role is stored as records
// always were (role, username), so an older jitbot still reads it; several
// roles and the kind round-trip.
func TestRecordsKeepTheirShape(t *testing.T) {
	one := flowstest.NewRequest("one0000001", "alice@example.com", flowstest.T0)
	one.Principal = "jit-alice-one0000001"
	raw, err := record.EncodeRequest(one)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"database_user"`, `"role":"read"`, `"username":"jit-alice-one0000001"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the record lacks %s: %s", want, raw)
		}
	}
	if strings.Contains(string(raw), `"roles"`) {
		t.Errorf("a one-role record has roles: %s", raw)
	}

	db := openTemp(t)
	two := flowstest.NewRequest("two0000001", "bob@example.com", flowstest.T0)
	two.Kind, two.Roles = "test_token", []string{"read", "readWrite"}
	if _, _, err := db.Create(context.Background(), two, flows.Event{Type: flows.EventSubmitted, RequestID: two.ID, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(context.Background(), two.ID)
	if err != nil || got.Kind != "test_token" || !slices.Equal(got.Roles, two.Roles) {
		t.Fatalf("round trip: kind %q roles %q, %v", got.Kind, got.Roles, err)
	}
}

// TestRecordsKeepAddressesAndAuth: a network access request keeps its
// address, and a passwordless database user how it signs in.
func TestRecordsKeepAddressesAndAuth(t *testing.T) {
	db := openTemp(t)
	nw := flowstest.NewRequest("net0000001", "alice@example.com", flowstest.T0)
	nw.Kind, nw.Roles = flows.KindAccessListEntry, []string{flows.RoleConnect}
	nw.Resource = flows.Resource{Integration: "prod", Address: "203.0.113.7/32"}
	oidc := flowstest.NewRequest("oid0000001", "bob@example.com", flowstest.T0)
	oidc.Auth, oidc.Principal = flows.AuthOIDC, "0oa1b2c3d4/bob@example.com"
	for _, r := range []*flows.Request{nw, oidc} {
		if _, _, err := db.Create(context.Background(), r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: flowstest.T0}, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Get(context.Background(), nw.ID)
	if err != nil || got.Resource != nw.Resource || got.Resource.String() != "prod/203.0.113.7/32" || got.Kind != flows.KindAccessListEntry {
		t.Fatalf("network access: %+v, %v", got, err)
	}
	if got, err = db.Get(context.Background(), oidc.ID); err != nil || got.Auth != flows.AuthOIDC || got.Principal != oidc.Principal {
		t.Fatalf("OIDC user: %+v, %v", got, err)
	}
}

// TestRecordsKeepTheProjectAndTheIds: a request of an organization-wide
// integration keeps its project and the Atlas ids that key its grant; a
// record without them (any written before) stores none of the new keys.
func TestRecordsKeepTheProjectAndTheIds(t *testing.T) {
	db := openTemp(t)
	r := flowstest.NewRequest("org0000001", "alice@example.com", flowstest.T0)
	r.Resource = flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: "6c0000000000000000000001",
		Cluster: "Cluster0", ClusterID: "6e0000000000000000000001", Database: "sales", Collection: "orders"}
	if _, _, err := db.Create(context.Background(), r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(context.Background(), r.ID)
	if err != nil || got.Resource != r.Resource {
		t.Fatalf("round trip: %+v, %v", got.Resource, err)
	}
	raw, err := record.EncodeRequest(flowstest.NewRequest("one0000001", "alice@example.com", flowstest.T0))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"project"`, `"project_id"`, `"cluster_id"`} {
		if strings.Contains(string(raw), key) {
			t.Errorf("a record of one project has %s: %s", key, raw)
		}
	}
}

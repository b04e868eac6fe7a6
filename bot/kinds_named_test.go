package bot

import (
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// TestEveryCardNamesItsKind: the approver's card, the requester's summary
// and the credentials message say which kind of access a request is, for
// every kind jitbot grants (issue 13 item 8).
func TestEveryCardNamesItsKind(t *testing.T) {
	acme := flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: "6c0000000000000000000001"}
	from := acme
	from.Address = "198.51.100.7/32"
	for _, tt := range []struct {
		kind        flows.Kind
		target      flows.Resource
		roles       []string
		title, says string // the Access field of the request cards, and of the credentials
	}{
		{flows.KindDatabaseUser, flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}, []string{"read"},
			"Database user", "Database user: read on prod/Cluster0/sales"},
		{flows.KindAtlasUI, acme, []string{"GROUP_READ_ONLY"}, "Atlas UI access", "Atlas UI access: GROUP_READ_ONLY on acme/payments-prod"},
		{flows.KindAccessListEntry, flows.Resource{Integration: "prod", Address: "198.51.100.7/32"}, []string{flows.RoleConnect},
			"Network access", "network access from 198.51.100.7/32 to prod"},
		{flows.KindServiceAccount, from, []string{"GROUP_READ_ONLY"},
			"Service account", "a service account with GROUP_READ_ONLY on acme/payments-prod, used from 198.51.100.7/32"},
		{flows.KindAPIKey, from, []string{"GROUP_READ_ONLY"},
			"Programmatic API key", "an API key with GROUP_READ_ONLY on acme/payments-prod, used from 198.51.100.7/32"},
	} {
		r := activeRequest()
		r.Kind, r.Resource, r.Roles = tt.kind, tt.target, tt.roles
		v := Viewer{Email: "bob@example.com"}
		if got := field(ApprovalCard(r, v), "Access"); got != tt.title {
			t.Errorf("%s: the approval card says %q, want %q", tt.kind, got, tt.title)
		}
		// A grant used from an address is where its roles are; network
		// access is the address.
		wantRes := "acme/payments-prod"
		switch tt.kind {
		case flows.KindDatabaseUser:
			wantRes = "prod/Cluster0/sales"
		case flows.KindAccessListEntry:
			wantRes = "prod/198.51.100.7/32"
		}
		if got := field(ApprovalCard(r, v), "Resource"); got != wantRes {
			t.Errorf("%s: the approval card's resource is %q, want %q", tt.kind, got, wantRes)
		}
		creds := flows.Credentials{Fields: []flows.CredentialField{{Key: "x", Label: "X", Value: "y"}}}
		c := CredentialsCard(r, creds, false, Viewer{Email: r.Requester})
		if got := field(c, "Access"); got != tt.says {
			t.Errorf("%s: the credentials message says %q, want %q", tt.kind, got, tt.says)
		}
	}
	// In an integration of one project the project is the integration
	// alone: the address is not mistaken for the target.
	r := activeRequest()
	r.Kind, r.Resource, r.Roles = flows.KindServiceAccount, flows.Resource{Integration: "prod", Address: "203.0.113.7/32"}, []string{"GROUP_READ_ONLY"}
	if got := field(ApprovalCard(r, Viewer{Email: "bob@example.com"}), "Resource"); got != "prod" {
		t.Errorf("a service account of a one-project integration: the resource is %q, want prod", got)
	}
	// A passwordless user says how it signs in beside its kind.
	r = activeRequest()
	r.Auth = flows.AuthOIDC
	if fs := kindFields(r); len(fs) != 2 || fs[0].Value != "Database user" || fs[1].Value != "OIDC (no password)" {
		t.Errorf("a passwordless user: %+v", fs)
	}
}

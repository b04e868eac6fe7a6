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
		creds := flows.Credentials{Fields: []flows.CredentialField{{Key: "x", Label: "X", Value: "y"}}}
		c := CredentialsCard(r, creds, false, Viewer{Email: r.Requester})
		if got := field(c, "Access"); got != tt.says {
			t.Errorf("%s: the credentials message says %q, want %q", tt.kind, got, tt.says)
		}
	}
	// A passwordless user says how it signs in beside its kind.
	r := activeRequest()
	r.Auth = flows.AuthOIDC
	if fs := kindFields(r); len(fs) != 2 || fs[0].Value != "Database user" || fs[1].Value != "OIDC (no password)" {
		t.Errorf("a passwordless user: %+v", fs)
	}
}

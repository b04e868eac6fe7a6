package atlas

import (
	"slices"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// TestOrgOwnerValidate: the Organization Owner credential of API keys is
// one whole pair or nothing.
func TestOrgOwnerValidate(t *testing.T) {
	fe := func(path, msg string) flows.FieldError { return flows.FieldError{Path: path, Message: msg} }
	in := func(o OrgOwner) Integration {
		return Integration{Name: "prod", ProjectID: projectID, API: API{ClientID: "id", ClientSecret: "s"}, OrgOwner: o}
	}
	for _, tt := range []struct {
		name string
		in   Integration
		want []flows.FieldError
	}{
		{"none", in(OrgOwner{}), nil},
		{"a service account", in(OrgOwner{ClientID: "owner", ClientSecretFile: "/run/owner"}), nil},
		{"an API key", in(OrgOwner{PublicKey: "pub", PrivateKey: "priv"}), nil},
		{"both", in(OrgOwner{ClientID: "owner", ClientSecret: "s", PublicKey: "pub"}),
			[]flows.FieldError{fe("org_owner", "use a service account (client_id, client_secret) or an API key pair (public_key, private_key), not both")}},
		{"a secret alone", in(OrgOwner{ClientSecret: "s"}), []flows.FieldError{fe("org_owner.client_id", "required with client_secret")}},
		{"a public key alone", in(OrgOwner{PublicKey: "pub"}), []flows.FieldError{fe("org_owner.private_key", "required with public_key")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Validate(); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

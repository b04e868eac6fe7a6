package atlas

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestIntegrationValidate(t *testing.T) {
	fe := func(path, msg string) flows.FieldError { return flows.FieldError{Path: path, Message: msg} }
	const credentials = "credentials required: a service account (client_id, client_secret; recommended) or an API key pair (public_key, private_key)"
	const notBoth = "use a service account (client_id, client_secret) or an API key pair (public_key, private_key), not both"
	in := func(api API) Integration {
		return Integration{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", API: api}
	}
	tests := []struct {
		name string
		in   Integration
		want []flows.FieldError
	}{
		{"service account", in(API{ClientID: "id", ClientSecret: "s"}), nil},
		{"API key", in(API{PublicKey: "pub", PrivateKey: "priv"}), nil},
		{"secrets from files", in(API{ClientID: "id", ClientSecretFile: "/run/secret"}), nil},
		{"no credentials", in(API{BaseURL: "https://cloud.mongodbgov.com"}), []flows.FieldError{fe("atlas", credentials)}},
		{"both", in(API{ClientID: "id", ClientSecret: "s", PrivateKeyFile: "/run/key"}), []flows.FieldError{fe("atlas", notBoth)}},
		{"client id alone", in(API{ClientID: "id"}), []flows.FieldError{fe("atlas.client_secret", "required")}},
		{"client secret file alone", in(API{ClientSecretFile: "/run/secret"}), []flows.FieldError{fe("atlas.client_id", "required with client_secret")}},
		{"public key alone", in(API{PublicKey: "pub"}), []flows.FieldError{fe("atlas.private_key", "required")}},
		{"private key alone", in(API{PrivateKey: "priv"}), []flows.FieldError{fe("atlas.public_key", "required with private_key")}},
		{"rate limit", in(API{ClientID: "id", ClientSecret: "s", RateLimit: &RateLimit{Capacity: 0, Refill: 1, Per: "1x"}}), []flows.FieldError{
			fe("atlas.rate_limit.per", `duration "1x": unknown unit "x"; use m, h or d`), fe("atlas.rate_limit", "capacity and refill must be at least 1"),
		}},
		{"organization", Integration{Name: "acme", OrganizationID: "6b0000000000000000000001", API: API{ClientID: "id", ClientSecret: "s"},
			Databases: map[string]map[string][]string{"payments-prod/Cluster0": {"sales": nil}, "Cluster0": {"sales": nil}}}, nil},
		{"organization and project", Integration{Name: "acme", ProjectID: projectID, OrganizationID: "6b0000000000000000000001", API: API{ClientID: "id", ClientSecret: "s"}},
			[]flows.FieldError{fe("organization_id", "set project_id (one project) or organization_id (every project of an organization), not both")}},
		{"bad organization id", Integration{Name: "acme", OrganizationID: "acme", API: API{ClientID: "id", ClientSecret: "s"}},
			[]flows.FieldError{fe("organization_id", `"acme" is not an Atlas organization id (24 hexadecimal characters)`)}},
		{"project hints in a project", Integration{Name: "prod", ProjectID: projectID, API: API{ClientID: "id", ClientSecret: "s"},
			Databases: map[string]map[string][]string{"payments-prod/Cluster0": {"sales": nil}}},
			[]flows.FieldError{fe("databases.payments-prod/Cluster0", "project/cluster keys are for an organization-wide integration (organization_id); name the cluster alone")}},
		{"bad project in a hint", Integration{Name: "acme", OrganizationID: "6b0000000000000000000001", API: API{ClientID: "id", ClientSecret: "s"},
			Databases: map[string]map[string][]string{"pay#ments/Cluster0": {"sales": nil}}},
			[]flows.FieldError{fe("databases.pay#ments/Cluster0", `project "pay#ments": Atlas project names are letters, digits, single spaces between words and - _ . ( ) , : & @ + '`)}},
		{"catalog hints", Integration{Name: "prod", API: API{ClientID: "id", ClientSecret: "s"}, Databases: map[string]map[string][]string{
			"Cluster0": {"admin": nil}, "Cluster1": {"sales": {"ok", "d$"}},
		}}, []flows.FieldError{
			fe("databases.Cluster0", `database "admin" is a system database; jitbot does not grant access to it`),
			fe("databases.Cluster1.sales", `collection "d$": MongoDB collection names cannot contain $`),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Hints are a map: their problems come in no particular order.
			byPath := func(a, b flows.FieldError) int { return strings.Compare(a.Path, b.Path) }
			got, want := tt.in.Validate(), slices.Clone(tt.want)
			slices.SortStableFunc(got, byPath)
			slices.SortStableFunc(want, byPath)
			if !slices.Equal(got, want) {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestRateLimitBucket(t *testing.T) {
	tests := []struct {
		name string
		rl   *RateLimit
		want flows.RateLimit
		ok   bool
	}{
		{"none", nil, flows.RateLimit{}, false},
		{"a minute by default", &RateLimit{Capacity: 10, Refill: 5}, flows.RateLimit{Capacity: 10, Refill: 5, Per: time.Minute}, true},
		{"per", &RateLimit{Capacity: 100, Refill: 100, Per: "1h"}, flows.RateLimit{Capacity: 100, Refill: 100, Per: time.Hour}, true},
		{"no capacity", &RateLimit{Refill: 5}, flows.RateLimit{}, false},
		{"bad per", &RateLimit{Capacity: 1, Refill: 1, Per: "soon"}, flows.RateLimit{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := tt.rl.Bucket(); got != tt.want || ok != tt.ok {
				t.Fatalf("Bucket() = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestNewAgreesWithValidate: what Validate accepts (with the secrets read
// from their files, as config.Load leaves them), New builds; what it
// refuses, New refuses with the same words. Hints that name no cluster were
// once refused by New alone.
func TestNewAgreesWithValidate(t *testing.T) {
	ok := Integration{Name: "acme", OrganizationID: "6b0000000000000000000001", API: API{BaseURL: "http://127.0.0.1:1", ClientID: "id", ClientSecret: "s"}}
	tests := []struct {
		name string
		dbs  map[string]map[string][]string
		want string // "" when both accept
	}{
		{"hints", map[string]map[string][]string{"Cluster0": {"sales": nil}, "payments/Cluster1": nil}, ""},
		{"no cluster", map[string]map[string][]string{"": nil}, "databases.: the cluster is empty: a hint names the cluster whose databases it lists"},
		{"no cluster in a project", map[string]map[string][]string{"payments/": {}}, "databases.payments/: the cluster is empty"},
		{"no project", map[string]map[string][]string{"/Cluster0": nil}, "databases./Cluster0: the project is empty"},
		{"a bad cluster without databases", map[string]map[string][]string{"payments/Cluster 0": nil}, `databases.payments/Cluster 0: cluster "Cluster 0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			in.Databases = tt.dbs
			var said string
			for _, fe := range in.Validate() {
				said += fe.Path + ": " + fe.Message
			}
			p, err := New(t.Context(), Config{Integrations: []Integration{in}})
			if err == nil {
				p.Close()
			}
			switch {
			case tt.want == "" && (said != "" || err != nil):
				t.Fatalf("refused: Validate %q, New %v", said, err)
			case tt.want == "":
			case !strings.HasPrefix(said, tt.want) || err == nil || err.Error() != `atlas: integration "acme": `+said:
				t.Fatalf("want %q from both\nValidate: %q\nNew: %v", tt.want, said, err)
			}
		})
	}
}

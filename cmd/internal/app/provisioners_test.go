package app

import (
	"context"
	"testing"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/flows"
)

// TestEveryKindHasItsProvisioner: serve registers a provisioner for every
// kind jitbot grants, the programmatic ones included, each with the
// capabilities its kind needs (a secret to reissue; a secret that expires).
func TestEveryKindHasItsProvisioner(t *testing.T) {
	p, err := atlas.New(context.Background(), atlas.Config{Integrations: []atlas.Integration{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6",
		API: atlas.API{BaseURL: "http://127.0.0.1:1", ClientID: "mdb_sa_id_000000000000000000000000", ClientSecret: "s"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	provs := provisioners(p)
	for _, k := range []flows.Kind{flows.KindDatabaseUser, flows.KindAccessListEntry, flows.KindAtlasUI, flows.KindServiceAccount, flows.KindAPIKey} {
		if provs[k] == nil {
			t.Errorf("no provisioner for %s", k)
		}
	}
	if _, ok := provs[flows.KindServiceAccount].(flows.SecretLifetime); !ok {
		t.Error("the service account provisioner does not say when its secrets expire")
	}
	if _, ok := provs[flows.KindAPIKey].(flows.Reissuer); !ok {
		t.Error("the API key provisioner cannot reissue")
	}
}

package flows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// noteProvisioner hands out what the Atlas adapter does when no connection
// string fits the cluster's connectivity: an empty string and a note.
type noteProvisioner struct{ *flowstest.Provisioner }

const connNote = "No connection string: cluster Cluster0 is reached through private endpoint vpce-0zzz (its tag jitbot-connection=private-endpoint:vpce-0zzz), which Atlas does not list for it (it lists vpce-0aaa). Ask the cluster's owners to fix the tag."

func (p noteProvisioner) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if _, err := p.Provisioner.Create(ctx, g); err != nil {
		return flows.Credentials{}, err
	}
	c := flows.DatabaseUserCredentials(g.Principal, flows.NewSecret("pw"), "")
	c.Instructions = connNote
	return c, nil
}

// TestRequesterSeesConnectionNote: the requester's credentials say why
// there is no connection string, then the integration's access details,
// whose $CONNECTION_STRING shows as missing rather than as "".
func TestRequesterSeesConnectionNote(t *testing.T) {
	f := newFixture(t)
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: noteProvisioner{f.prov}}, Catalog: f.catalog,
		Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour)
	r, err = f.decide(r.ID, "owner@example.com", true, "")
	if err != nil {
		t.Fatal(err)
	}
	kept := f.secrets.Kept(r.ID)
	if len(kept) != 1 {
		t.Fatalf("kept %+v", kept)
	}
	c := kept[0].Credentials
	want := connNote + "\n\n" + `mongosh "<connection string>" --username ` + r.Principal
	if c.Instructions != want {
		t.Fatalf("instructions:\n%s\nwant:\n%s", c.Instructions, want)
	}
	if strings.Contains(c.Instructions, `""`) {
		t.Fatalf("an empty connection string in %q", c.Instructions)
	}
}

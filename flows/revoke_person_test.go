package flows_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestRevokePersonEndsAllTheirLiveAccess(t *testing.T) {
	f := newFixture(t)
	a := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 4*time.Hour, "owner@example.com")
	p := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour)
	other := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")

	ended, err := f.svc.RevokePerson(f.ctx, "Carol@example.com", "identity no longer proven: refused by the provider")
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != 2 {
		t.Fatalf("ended %v, want the active grant and the pending request", ended)
	}
	for id, want := range map[flows.RequestID]flows.State{a.ID: flows.StateRevoked, p.ID: flows.StateCancelled, other.ID: flows.StateActive} {
		r, err := f.svc.Get(f.ctx, id, "admin@example.com")
		if err != nil || r.State != want {
			t.Fatalf("%s: %v %v, want %s", id, r.State, err, want)
		}
		if id == a.ID && (r.EndedBy != flows.SystemActor || r.EndReason != "identity no longer proven: refused by the provider") {
			t.Fatalf("revoked by %q for %q", r.EndedBy, r.EndReason)
		}
	}
	if users := f.prov.Users(); len(users) != 1 {
		t.Fatalf("Atlas users %v: only dave's should remain", users)
	}
	// Nothing left: a second call ends nothing.
	if again, err := f.svc.RevokePerson(f.ctx, "carol@example.com", "again"); err != nil || len(again) != 0 {
		t.Fatalf("again: %v %v", again, err)
	}
}

package flows_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	live := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	gone := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	denied := f.mustSubmit("erin@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if _, err := f.decide(denied.ID, "owner@example.com", false, "no"); err != nil {
		t.Fatal(err)
	}
	// An orphan of no request, one of a denied request, and a missing user.
	f.prov.AddUser(flows.Grant{Principal: "jit-zed-zzzzzzzzzz", RequestID: "zzzzzzzzzz", Integration: "prod"})
	f.prov.AddUser(flows.Grant{Principal: string("jit-erin-" + denied.ID), RequestID: denied.ID, Integration: "prod"})
	if err := f.prov.Delete(f.ctx, flows.Grant{Principal: gone.Principal}); err != nil {
		t.Fatal(err)
	}
	reps, err := f.svc.Reconcile(f.ctx)
	if err != nil || len(reps) != 1 {
		t.Fatal(reps, err)
	}
	rep := reps[0]
	slices.Sort(rep.OrphansDeleted)
	if !slices.Equal(rep.OrphansDeleted, []string{string("jit-erin-" + denied.ID), "jit-zed-zzzzzzzzzz"}) || !slices.Equal(rep.Missing, []flows.RequestID{gone.ID}) {
		t.Fatalf("report: %+v", rep)
	}
	if !slices.Equal(f.prov.Users(), []string{live.Principal}) {
		t.Fatalf("users left: %v", f.prov.Users())
	}
	if n := len(f.notes.Of(flows.EventOrphanDeleted)); n != 2 {
		t.Fatalf("orphan notices: %d", n)
	}
	if n := f.notes.Of(flows.EventGrantMissing); len(n) != 1 || n[0].To[0] != "admin@example.com" {
		t.Fatalf("missing notice: %+v", n)
	}
}

package flows_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestRevokeWhileAtlasCreatesTheUser: a revocation that lands while Atlas is
// still creating the user must not finish before the user exists, or the
// user outlives its request (an orphan only the hourly reconcile would find).
// Found by the crash and duplicate-delivery scenarios' orphan check.
func TestRevokeWhileAtlasCreatesTheUser(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.prov.OnCall = func(op string, g flows.Grant) {
		if op == "create" {
			f.prov.OnCall = nil
			got, err := f.svc.Revoke(f.ctx, g.RequestID, "owner@example.com", "wrong cluster")
			if err != nil || got.State != flows.StateRevoking {
				t.Errorf("revoke during the create: %v %+v", err, got)
			}
			// The sweep must not start the delete while the create holds its lease.
			if rep := f.sweepAt(f.clock.Now()); rep.Revocations != 0 {
				t.Errorf("the sweep started a revocation during the create: %+v", rep)
			}
		}
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	got := f.get(r.ID)
	if got.State != flows.StateRevoked || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s, Atlas users %v", got.State, f.prov.Users())
	}
	if n := f.notes.Of(flows.EventActivated); len(n) != 0 {
		t.Fatal("credentials of a revoked grant must not be sent")
	}
}

// TestRevokeWhileProvisioningSurvivesACrash: when the process dies during
// the create, Resume removes the user at once, lease or no lease.
func TestRevokeWhileProvisioningSurvivesACrash(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if _, err := f.svc.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true}); err != nil {
		t.Fatal(err)
	}
	// Pretend the process died while provisioning (the lease still held, the
	// user made) and was revoked meanwhile.
	if _, err := f.store.Update(f.ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
		r.State, r.NextAttemptAt = flows.StateProvisioning, f.clock.Now().Add(2*time.Minute)
		ev, err := r.StartRevoking(f.clock.Now(), "owner@example.com", flows.StateRevoked, "")
		if r.NextAttemptAt != f.clock.Now().Add(2*time.Minute) {
			t.Errorf("the revocation does not wait for the provisioning lease: next attempt %s", r.NextAttemptAt)
		}
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	if len(f.prov.Users()) != 1 {
		t.Fatalf("Atlas users %v", f.prov.Users())
	}
	if _, err := f.svc.Resume(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.get(r.ID); got.State != flows.StateRevoked || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s, Atlas users %v", got.State, f.prov.Users())
	}
}

package flows_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestRevokeEarly(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 4*time.Hour, "owner@example.com")
	if _, err := f.svc.Revoke(f.ctx, r.ID, "mallory@example.com", ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("outsider revoke: %v", err)
	}
	got, err := f.svc.Revoke(f.ctx, r.ID, "carol@example.com", "done early")
	if err != nil || got.State != flows.StateRevoked || got.EndedBy != "carol@example.com" {
		t.Fatalf("revoke: %+v %v", got, err)
	}
	if len(f.prov.Users()) != 0 {
		t.Fatal("the Atlas user was not deleted")
	}
	if _, err := f.svc.Revoke(f.ctx, r.ID, "carol@example.com", ""); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("second revoke: %v", err)
	}
	n := f.notes.Of(flows.EventRevoked)
	if len(n) != 1 || n[0].Event.Message != "done early" {
		t.Fatalf("revoke notice: %+v", n)
	}
	// Approvers and admins may revoke too.
	r2 := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got, err := f.svc.Revoke(f.ctx, r2.ID, "owner@example.com", ""); err != nil || got.State != flows.StateRevoked {
		t.Fatalf("approver revoke: %v", err)
	}
	r3 := f.active("erin@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got, err := f.svc.Revoke(f.ctx, r3.ID, "admin@example.com", ""); err != nil || got.State != flows.StateRevoked {
		t.Fatalf("admin revoke: %v", err)
	}
	// Revoking a pending request cancels it.
	r4 := f.mustSubmit("frank@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if got, err := f.svc.Revoke(f.ctx, r4.ID, "frank@example.com", ""); err != nil || got.State != flows.StateCancelled {
		t.Fatalf("revoke pending: %+v %v", got, err)
	}
}

func TestRevokeWhileProvisioning(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.prov.OnCall = func(op string, g flows.Grant) {
		if op == "wait" {
			f.prov.OnCall = nil
			if _, err := f.svc.Revoke(f.ctx, g.RequestID, "owner@example.com", "wrong cluster"); err != nil {
				t.Errorf("revoke during provisioning: %v", err)
			}
		}
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	got := f.get(r.ID)
	if got.State != flows.StateRevoked || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s users %v", got.State, f.prov.Users())
	}
	if n := f.notes.Of(flows.EventActivated); len(n) != 0 {
		t.Fatal("credentials of a revoked grant must not be sent")
	}
}

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
		r.State, r.NextAttemptAt = flows.StateProvisioning, f.clock.Now().Add(10*time.Second)
		ev, err := r.StartRevoking(f.clock.Now(), "owner@example.com", flows.StateRevoked, "")
		if r.NextAttemptAt != f.clock.Now().Add(10*time.Second) {
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

// TestRevokeBeforeProvisioningStarted: a request revoked while approved (a
// crash between the approval and the provisioning, say) has no Atlas user
// and no username yet; its revocation must finish without asking Atlas to
// delete a nameless user, which the adapter refuses, forever.
func TestRevokeBeforeProvisioningStarted(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.prov.Fail = func(op string, g flows.Grant) error {
		if g.Principal == "" {
			return flows.Errorf(flows.EINTERNAL, "refusing to manage Atlas user %q", g.Principal)
		}
		return nil
	}
	// The process died right after the approval was recorded.
	if _, err := f.store.Update(f.ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.Approve("owner@example.com", f.clock.Now())
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Revoke(f.ctx, r.ID, "carol@example.com", "not needed after all")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != flows.StateRevoked {
		t.Fatalf("state %s (%s)", got.State, got.LastError)
	}
	for _, c := range f.prov.Calls() {
		if c.Op == "delete" || c.Op == "create" {
			t.Errorf("Atlas was asked to %s %q", c.Op, c.Principal)
		}
	}
	if _, err := f.svc.Resume(f.ctx); err != nil || f.get(r.ID).State != flows.StateRevoked {
		t.Fatalf("after resume: %s %v", f.get(r.ID).State, err)
	}
}

func TestRevocationRetriesForeverAndAlerts(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	atlasDown := true
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "delete" && atlasDown {
			return unavailable(op)
		}
		return nil
	}
	now := r.ExpiresAt
	for range 8 {
		f.sweepAt(now)
		now = now.Add(2 * time.Minute)
	}
	got := f.get(r.ID)
	if got.State != flows.StateRevokeFailed || f.prov.Count("delete") != 8 {
		t.Fatalf("state %s deletes %d", got.State, f.prov.Count("delete"))
	}
	alerts := f.notes.Of(flows.EventRevokeFailed)
	if len(alerts) != 1 || !slices.Equal(alerts[0].To, []string{"admin@example.com", "carol@example.com"}) {
		t.Fatalf("alert: %+v", alerts)
	}
	atlasDown = false
	f.sweepAt(now)
	if got := f.get(r.ID); got.State != flows.StateExpired || len(f.prov.Users()) != 0 {
		t.Fatalf("after Atlas recovers: %s", got.State)
	}
}

// A leader that dies after its sweep claimed a revocation (the claim
// committed, the delete's outcome never recorded) leaves it to the next
// leader's sweep once the revocation's own lease runs out (10 s), not the
// provisioning lease (15 s): the failover bound counts from the death.
func TestADeadSweepsRevocationIsRetriedWhenItsLeaseRunsOut(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	dying, die := context.WithCancel(f.ctx)
	f.prov.Fail = func(op string, g flows.Grant) error {
		if op == "delete" {
			die() // the process is gone before the delete or its outcome is recorded
			return errors.New("killed")
		}
		return nil
	}
	f.clock.Set(r.ExpiresAt)
	_, _ = f.svc.Sweep(dying, r.ExpiresAt)
	f.prov.Fail = nil
	if got := f.get(r.ID); got.State != flows.StateRevoking || len(f.prov.Users()) != 1 {
		t.Fatalf("after the death: state %s, Atlas users %v", got.State, f.prov.Users())
	}
	if rep := f.sweepAt(r.ExpiresAt.Add(5 * time.Second)); rep.Revocations != 0 || len(f.prov.Users()) != 1 {
		t.Fatalf("a sweep within the lease took the revocation over: %+v", rep)
	}
	rep := f.sweepAt(r.ExpiresAt.Add(10 * time.Second))
	if got := f.get(r.ID); rep.Revocations != 1 || got.State != flows.StateExpired || len(f.prov.Users()) != 0 {
		t.Fatalf("once the lease ran out: %+v, state %s, Atlas users %v", rep, got.State, f.prov.Users())
	}
}

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

// TestRevokeBeforeProvisioningStarted: a request revoked while approved (a
// crash between the approval and the provisioning, say) has no Atlas user
// and no username yet; its revocation must finish without asking Atlas to
// delete a nameless user, which the adapter refuses, forever.
func TestRevokeBeforeProvisioningStarted(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.prov.Fail = func(op string, g flows.Grant) error {
		if g.Username == "" {
			return flows.Errorf(flows.EINTERNAL, "refusing to manage Atlas user %q", g.Username)
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
			t.Errorf("Atlas was asked to %s %q", c.Op, c.Username)
		}
	}
	if _, err := f.svc.Resume(f.ctx); err != nil || f.get(r.ID).State != flows.StateRevoked {
		t.Fatalf("after resume: %s %v", f.get(r.ID).State, err)
	}
}

// TestResumeRevokesBeforeItProvisions: after a crash, interrupted
// revocations are finished before interrupted provisionings, which may wait
// long on Atlas (and, in a crash loop, never finish).
func TestResumeRevokesBeforeItProvisions(t *testing.T) {
	f := newFixture(t)
	revoked := f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	waiting := f.mustSubmit("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	// The process died in the middle of both: one revoking, one provisioning.
	mustUpdate := func(id string, step func(r *flows.Request) (flows.Event, error)) {
		t.Helper()
		if _, err := f.store.Update(f.ctx, id, func(r *flows.Request) ([]flows.Event, error) {
			ev, err := step(r)
			return []flows.Event{ev}, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	now := f.clock.Now()
	mustUpdate(revoked.ID, func(r *flows.Request) (flows.Event, error) {
		return r.StartRevoking(now, "carol@example.com", flows.StateRevoked, "")
	})
	mustUpdate(waiting.ID, func(r *flows.Request) (flows.Event, error) { return r.Approve("owner@example.com", now) })
	mustUpdate(waiting.ID, func(r *flows.Request) (flows.Event, error) {
		return r.StartProvisioning(now, now.Add(2*time.Minute), flows.Username(r.Requester, r.ID), now.Add(2*time.Hour), time.Time{})
	})
	before := len(f.prov.Calls())
	if n, err := f.svc.Resume(f.ctx); err != nil || n != 2 {
		t.Fatalf("resumed %d: %v", n, err)
	}
	var ops []string
	for _, c := range f.prov.Calls()[before:] {
		ops = append(ops, c.Op)
	}
	if len(ops) < 2 || ops[0] != "delete" {
		t.Fatalf("Atlas calls of the resume: %v; the revocation must come first", ops)
	}
	if f.get(revoked.ID).State != flows.StateRevoked || f.get(waiting.ID).State != flows.StateActive {
		t.Fatalf("after resume: %s %s", f.get(revoked.ID).State, f.get(waiting.ID).State)
	}
}

// TestResumeLeavesThisProcesssLeasesAlone: Resume may run while the sweeps
// already work (so expiries never wait for it); it takes over only leases
// left by a dead process, never one a live attempt of this process holds.
func TestResumeLeavesThisProcesssLeasesAlone(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.clock.Advance(time.Minute) // well after this service started
	creates := 0
	f.prov.OnCall = func(op string, g flows.Grant) {
		if op != "create" {
			return
		}
		if creates++; creates == 1 {
			if _, err := f.svc.Resume(f.ctx); err != nil {
				t.Errorf("resume: %v", err)
			}
		}
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	if creates != 1 || f.get(r.ID).State != flows.StateActive {
		t.Fatalf("%d creates, state %s: Resume took over a live attempt", creates, f.get(r.ID).State)
	}
}

// TestSweepEndsNeverWaitForProvisioning: the two sweeps a scheduler runs
// apart split the work, so a provisioning attempt waiting long for Atlas
// to apply a user holds up no expiry.
func TestSweepEndsNeverWaitForProvisioning(t *testing.T) {
	f := newFixture(t)
	expiring := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")

	// A second grant whose first create fails: it waits for a retry.
	f.prov.Fail = func(op string, g flows.Grant) error {
		if op == "create" {
			return unavailable(op)
		}
		return nil
	}
	retried := f.mustSubmit("dave@example.com", "prod/Cluster0/sales/orders", "read", time.Hour)
	if _, err := f.decide(retried.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	if r := f.get(retried.ID); r.State != flows.StateProvisioning || r.NextAttemptAt.After(expiring.ExpiresAt) {
		t.Fatalf("the failed create left %s, next attempt %s", r.State, r.NextAttemptAt)
	}
	f.prov.Fail = nil

	// The retry waits for Atlas to apply until the test lets it go.
	waiting, release := make(chan struct{}), make(chan struct{})
	f.prov.OnCall = func(op string, g flows.Grant) {
		if op == "wait" && g.RequestID == retried.ID {
			close(waiting)
			<-release
		}
	}
	at := expiring.ExpiresAt
	f.clock.Set(at)
	type result struct {
		rep flows.SweepReport
		err error
	}
	provisioned := make(chan result, 1)
	go func() {
		rep, err := f.svc.SweepFor(f.ctx, at, flows.SweepProvisioning)
		provisioned <- result{rep, err}
	}()
	<-waiting

	ends, err := f.svc.SweepFor(f.ctx, at, flows.SweepEnds)
	if err != nil {
		t.Fatal(err)
	}
	if ends.Revocations != 1 || ends.Provisioned != 0 || f.get(expiring.ID).State != flows.StateExpired {
		t.Fatalf("ends sweep: %+v, expiring grant %s", ends, f.get(expiring.ID).State)
	}
	close(release)
	res := <-provisioned
	if res.err != nil || res.rep.Provisioned != 1 || res.rep.Revocations != 0 || f.get(retried.ID).State != flows.StateActive {
		t.Fatalf("provisioning sweep: %+v %v, retried grant %s", res.rep, res.err, f.get(retried.ID).State)
	}
	if n := f.prov.Count("delete"); n != 1 {
		t.Fatalf("%d deletes, want 1", n)
	}
}

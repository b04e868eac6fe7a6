package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestPendingTTL(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.sweepAt(t0.Add(59 * time.Minute))
	if f.get(r.ID).State != flows.StatePending {
		t.Fatal("timed out early")
	}
	rep := f.sweepAt(t0.Add(time.Hour))
	if rep.TimedOut != 1 || f.get(r.ID).State != flows.StateTimedOut {
		t.Fatalf("not timed out: %+v", rep)
	}
	if n := f.notes.Of(flows.EventTimedOut); len(n) != 1 || n[0].To[0] != "carol@example.com" {
		t.Fatalf("requester not told: %+v", n)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("late approval: %v", err)
	}
}

func TestBackstopIsClampedToAWeekAndMovedForward(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) { s.Flows[0].MaxDuration = "6d23h" })
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 6*24*time.Hour+23*time.Hour, "owner@example.com")
	limit := t0.Add(flows.Week - 10*time.Minute)
	if !r.BackstopAt.Equal(limit) {
		t.Fatalf("backstop %v, want clamped to %v", r.BackstopAt, limit)
	}
	f.sweepAt(t0.Add(24 * time.Hour))
	got := f.get(r.ID)
	if !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) || !got.BackstopRefreshAt.IsZero() {
		t.Fatalf("backstop %v refresh %v (expires %v)", got.BackstopAt, got.BackstopRefreshAt, got.ExpiresAt)
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

package flows_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
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

// manyGetter is a store that reads many requests at once, and counts how.
type manyGetter struct {
	*flowstest.Store
	many, one atomic.Int64 // the sweep reads one at a time concurrently
	fail      error
	callOff   context.CancelFunc // when set, GetMany calls the caller off first
}

func (s *manyGetter) GetMany(ctx context.Context, ids []flows.RequestID) ([]*flows.Request, error) {
	s.many.Add(1)
	if s.callOff != nil {
		s.callOff()
		return nil, fmt.Errorf("get %d requests: %w", len(ids), ctx.Err())
	}
	if s.fail != nil {
		return nil, s.fail
	}
	out := make([]*flows.Request, len(ids))
	for i, id := range ids {
		r, err := s.Store.Get(ctx, id)
		if err == nil {
			out[i] = r
		}
	}
	return out, nil
}

func (s *manyGetter) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	s.one.Add(1)
	return s.Store.Get(ctx, id)
}

// grantsOnManyGetter is a service on a manyGetter store with n grants
// approved and active at t0, due an hour later.
func grantsOnManyGetter(t *testing.T, n int) (*manyGetter, *flowstest.Provisioner, *flowstest.Clock, *flows.Service, []flows.RequestID) {
	t.Helper()
	st := &manyGetter{Store: flowstest.NewStore()}
	prov := flowstest.NewProvisioner()
	clock := flowstest.NewClock(t0)
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, flows.Deps{
		Store: st, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Catalog: testCatalog(),
		Secrets: &flowstest.Secrets{}, Notifier: &flowstest.Notifier{}, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []flows.RequestID
	for i := range n {
		res, _ := flows.ParseResource(fmt.Sprintf("prod/Cluster0/sales/c%d", i))
		r, err := svc.Submit(t.Context(), flows.SubmitInput{Requester: fmt.Sprintf("u%d@example.com", i), Resource: res,
			Roles: flows.ParseRoles("read"), Duration: time.Hour, Reason: "INC-1", Origin: "slack"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Decide(t.Context(), flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return st, prov, clock, svc, ids
}

// A sweep reads what is due in one GetMany when the store has it (etcd:
// a transaction per 128, not a round trip each), and one at a time when
// that fails.
func TestSweepReadsDueRequestsTogether(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			st, prov, clock, svc, ids := grantsOnManyGetter(t, 5)
			if failing {
				st.fail = errors.New("etcd is slow")
			}
			st.many.Store(0)
			st.one.Store(0)
			clock.Set(t0.Add(time.Hour))
			rep, err := svc.Sweep(context.Background(), t0.Add(time.Hour))
			if err != nil || rep.Due != 5 || len(prov.Users()) != 0 {
				t.Fatalf("sweep: %+v %v, Atlas users %v", rep, err, prov.Users())
			}
			for _, id := range ids {
				if r, _ := st.Store.Get(context.Background(), id); r.State != flows.StateExpired {
					t.Fatalf("%s: %s", id, r.State)
				}
			}
			many, one := st.many.Load(), st.one.Load()
			if wantOne := map[bool]int64{false: 0, true: 5}[failing]; many != 1 || one < wantOne || !failing && one != 0 {
				t.Fatalf("read with %d GetMany and %d Get", many, one)
			}
		})
	}
}

// A sweep called off while it reads what is due (its leader deposed) does
// not read the requests one at a time, each failing the same way: it
// stops, and the next leader's sweep finds them due.
func TestSweepCalledOffWhileReading(t *testing.T) {
	st, prov, clock, svc, _ := grantsOnManyGetter(t, 3)
	ctx, cancel := context.WithCancel(t.Context())
	st.callOff = cancel
	st.one.Store(0)
	clock.Set(t0.Add(time.Hour))
	_, _ = svc.Sweep(ctx, t0.Add(time.Hour))
	if n := st.one.Load(); n != 0 {
		t.Fatalf("%d requests read one at a time after the sweep was called off", n)
	}
	if users := prov.Users(); len(users) != 3 {
		t.Fatalf("Atlas users after a sweep called off: %v, want the 3 left for the next sweep", users)
	}
	st.callOff = nil
	if rep, err := svc.Sweep(t.Context(), t0.Add(time.Hour)); err != nil || rep.Due != 3 || len(prov.Users()) != 0 {
		t.Fatalf("the next sweep: %+v %v, Atlas users %v", rep, err, prov.Users())
	}
}

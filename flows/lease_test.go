package flows_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// cutOffStore is a replica's view of a shared store that can be cut off
// (the replica partitioned from it, or too slow to reach it): its writes
// then fail as unavailable.
type cutOffStore struct {
	flows.Store
	cut atomic.Bool
}

func (s *cutOffStore) Update(ctx context.Context, id flows.RequestID, fn func(r *flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	if s.cut.Load() {
		return nil, flows.Errorf(flows.EUNAVAILABLE, "the store cannot be reached")
	}
	return s.Store.Update(ctx, id, fn)
}

// TestAProvisioningLeaseIsHeldWhileAtlasWorksAndLostWithItsHolder: a
// provisioning attempt holds its request on a short lease (15 s), renewed
// while it waits on Atlas, so that another replica's sweep takes the
// request over soon after the attempt's replica dies (it waited two
// minutes before: the HA test's request left provisioning by a killed
// leader), and never while the attempt lives. An attempt that lost its
// lease records nothing when it finishes: the one that took over made the
// user again, with another password, and only that one is issued.
func TestAProvisioningLeaseIsHeldWhileAtlasWorksAndLostWithItsHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t) // its service is replica B, which sweeps
		viewA := &cutOffStore{Store: f.store}
		a, err := flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, flows.Deps{
			Store: viewA, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov}, Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		// Atlas takes its time to apply each attempt's user.
		applied := []chan struct{}{make(chan struct{}), make(chan struct{})}
		var waits atomic.Int32
		f.prov.OnCall = func(op string, _ flows.Grant) {
			if op == "wait" {
				if i := waits.Add(1) - 1; int(i) < len(applied) {
					<-applied[i]
				}
			}
		}
		passes := func(d time.Duration) { // the fake clock and the bubble's timers together
			for range int(d / time.Second) {
				f.clock.Advance(time.Second)
				time.Sleep(time.Second)
				synctest.Wait()
			}
		}
		r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
		decided := make(chan error, 1)
		go func() {
			_, err := a.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true})
			decided <- err
		}()
		synctest.Wait() // A waits for Atlas to apply its user

		passes(time.Minute)
		go func() { // a sweep that took over would wait on Atlas
			if _, err := f.svc.Sweep(f.ctx, f.clock.Now()); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait()
		if got := f.get(r.ID); got.State != flows.StateProvisioning || got.Attempts != 1 || f.prov.Count("create") != 1 {
			t.Fatalf("a minute into A's attempt: %s, attempt %d, %d creates: the sweep took over a live attempt", got.State, got.Attempts, f.prov.Count("create"))
		}

		// A is cut off from the store: its renewals fail, its lease runs
		// out, and B's sweep takes the request over.
		viewA.cut.Store(true)
		passes(20 * time.Second)
		sweep := make(chan struct{})
		go func() {
			defer close(sweep)
			if _, err := f.svc.Sweep(f.ctx, f.clock.Now()); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait() // B waits for Atlas to apply its user
		if got := f.get(r.ID); got.State != flows.StateProvisioning || got.Attempts != 2 || f.prov.Count("create") != 2 {
			t.Fatalf("20 s after A lost the store: %s, attempt %d, %d creates: not taken over", got.State, got.Attempts, f.prov.Count("create"))
		}

		// A reaches the store again and its apply finishes: it records
		// nothing, and the request waits for B.
		viewA.cut.Store(false)
		close(applied[0])
		if err := <-decided; err != nil {
			t.Fatalf("A's decision: %v", err)
		}
		if got := f.get(r.ID); got.State != flows.StateProvisioning || got.Attempts != 2 || len(f.secrets.Kept(r.ID)) != 0 {
			t.Fatalf("after A's attempt ended: %s, attempt %d, %d secrets kept: A recorded its stale attempt", got.State, got.Attempts, len(f.secrets.Kept(r.ID)))
		}
		close(applied[1])
		<-sweep
		got := f.get(r.ID)
		kept := f.secrets.Kept(r.ID)
		if got.State != flows.StateActive || len(kept) != 1 || len(f.notes.Of(flows.EventActivated)) != 1 {
			t.Fatalf("after B's attempt: %s, %d secrets kept, %d activations", got.State, len(kept), len(f.notes.Of(flows.EventActivated)))
		}
		// The password issued is B's, the one Atlas holds now.
		if pw := kept[0].Credentials.Secrets()[0].Reveal(); !strings.HasSuffix(pw, "-2") {
			t.Fatalf("issued %q, not the password of the second create", pw)
		}
	})
}

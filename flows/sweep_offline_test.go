package flows_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// downStore is a store that can be made unreachable: every call fails as
// a cluster without a quorum does.
type downStore struct {
	*flowstest.Store
	down atomic.Bool
}

var errNoQuorum = errors.New("no quorum")

func (s *downStore) fail() error {
	if s.down.Load() {
		return flows.StoreUnreachable(errNoQuorum)
	}
	return nil
}

func (s *downStore) Ping(context.Context) error { return s.fail() }

func (s *downStore) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, id)
}

func (s *downStore) Find(ctx context.Context, q flows.Query) ([]*flows.Request, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Find(ctx, q)
}

func (s *downStore) Expiring(ctx context.Context, t time.Time, limit int) ([]*flows.Request, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Expiring(ctx, t, limit)
}

func (s *downStore) Due(ctx context.Context, t time.Time, limit int) ([]flows.RequestID, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Due(ctx, t, limit)
}

func (s *downStore) UpdateMany(ctx context.Context, ids []flows.RequestID, fn func(r *flows.Request) ([]flows.Event, error)) ([]*flows.Request, []error, error) {
	if err := s.fail(); err != nil {
		return nil, nil, err
	}
	return s.Store.UpdateMany(ctx, ids, fn)
}

func (s *downStore) Update(ctx context.Context, id flows.RequestID, fn func(r *flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Update(ctx, id, fn)
}

// While the store cannot be reached, a replica deletes the grants its last
// due list says are due (once each; a failed delete again next tick), and
// records them when the store is back: revoking then expired, with when
// the delete was made; a grant extended after the last read is recorded
// as ended at its old expiry, saying why. The sweeps then have nothing
// left to delete.
func TestOfflineRevocation(t *testing.T) {
	f := newFixture(t)
	store := &downStore{Store: f.store}
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, flows.Deps{
		Store: store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov}, Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	carol := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	erin := f.active("erin@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	dave := f.active("dave@example.com", "prod/Cluster0/sales/orders", "read", 3*time.Hour, "owner@example.com")
	rev := svc.OfflineRevoker()
	tick := func(at time.Time) flows.OfflineReport {
		t.Helper()
		f.clock.Set(at)
		rep, err := rev.Tick(f.ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// The store answers: the due list is read, nothing is deleted.
	if rep := tick(carol.ExpiresAt.Add(-10 * time.Minute)); rep.StoreDown || rep.Listed != 2 || rep.Deleted != 0 {
		t.Fatalf("with the store up: %+v", rep)
	}
	// Erin's grant is extended after the last read.
	if _, err := f.store.Update(f.ctx, erin.ID, func(r *flows.Request) ([]flows.Event, error) {
		r.ExpiresAt = r.ExpiresAt.Add(time.Hour)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}

	store.down.Store(true)
	if rep := tick(carol.ExpiresAt.Add(-5 * time.Minute)); !rep.StoreDown || rep.Deleted != 0 {
		t.Fatalf("down, nothing due yet: %+v", rep)
	}
	var fails atomic.Int64
	f.prov.Fail = func(op string, g flows.Grant) error {
		if op == "delete" && g.RequestID == carol.ID && fails.Add(1) == 1 {
			return unavailable(op)
		}
		return nil
	}
	if rep := tick(carol.ExpiresAt); !rep.StoreDown || rep.Deleted != 1 || rep.Failed != 1 {
		t.Fatalf("down, two due, one delete failing: %+v", rep)
	}
	if rep := tick(carol.ExpiresAt.Add(5 * time.Second)); rep.Deleted != 1 || rep.Failed != 0 {
		t.Fatalf("down, the failed delete again: %+v", rep)
	}
	if rep := tick(carol.ExpiresAt.Add(10 * time.Second)); rep.Deleted != 0 {
		t.Fatalf("down, a delete repeated: %+v", rep)
	}
	for _, r := range []*flows.Request{carol, erin} {
		if _, ok := f.prov.User(r.Principal); ok {
			t.Fatalf("%s still in Atlas while the store is down", r.Principal)
		}
		if f.get(r.ID).State != flows.StateActive {
			t.Fatal("the store changed while it was down")
		}
	}
	if _, ok := f.prov.User(dave.Principal); !ok {
		t.Fatal("a grant not due was deleted")
	}

	store.down.Store(false)
	back := carol.ExpiresAt.Add(time.Minute)
	if rep := tick(back); rep.StoreDown || rep.Recorded != 2 {
		t.Fatalf("the store back: %+v", rep)
	}
	for _, r := range []*flows.Request{carol, erin} {
		got := f.get(r.ID)
		if got.State != flows.StateExpired {
			t.Fatalf("%s is %s once the store is back", r.ID, got.State)
		}
		f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated, flows.EventRevoking, flows.EventExpired)
	}
	var expired []flows.Notice
	for _, n := range f.notes.Of(flows.EventExpired) {
		if !strings.Contains(n.Event.Message, "while jitbot's store could not be reached") {
			t.Errorf("the expiry of %s does not say the delete was made while the store was down: %q", n.Event.RequestID, n.Event.Message)
		}
		expired = append(expired, n)
	}
	if len(expired) != 2 {
		t.Fatalf("%d expiries announced, want 2", len(expired))
	}
	for _, n := range f.notes.Of(flows.EventRevoking) {
		if n.Event.RequestID == erin.ID && !strings.Contains(n.Event.Message, "came too late") {
			t.Errorf("erin's extension lost to the outage is not explained: %q", n.Event.Message)
		}
	}
	// Recorded once: another tick, and the sweeps, delete nothing more.
	if rep := tick(back.Add(flows.OfflineRefresh)); rep.Recorded != 0 || rep.Deleted != 0 {
		t.Fatalf("after recording: %+v", rep)
	}
	f.sweepAt(back.Add(time.Minute))
	deletes := 0
	for _, c := range f.prov.Calls() {
		if c.Op == "delete" {
			deletes++
		}
	}
	if deletes != 3 { // carol twice (one failed), erin once
		t.Fatalf("%d deletes, want 3", deletes)
	}
	if _, ok := f.prov.User(dave.Principal); !ok || f.get(dave.ID).State != flows.StateActive {
		t.Fatal("dave's grant, not due, was touched")
	}
}

// A store that answers has nothing revoked behind its back, and a store
// error other than unreachability is reported, not taken for an outage.
func TestOfflineRevocationNeedsAnOutage(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	rev := f.svc.OfflineRevoker()
	for _, at := range []time.Time{r.ExpiresAt.Add(-time.Minute), r.ExpiresAt.Add(time.Minute)} {
		f.clock.Set(at)
		if rep, err := rev.Tick(f.ctx, at); err != nil || rep.StoreDown || rep.Deleted != 0 {
			t.Fatalf("store up: %+v %v", rep, err)
		}
	}
	if _, ok := f.prov.User(r.Principal); !ok {
		t.Fatal("deleted with the store up: that is the sweep's job")
	}
	if flows.IsStoreUnreachable(errors.New("x")) || !flows.IsStoreUnreachable(flows.StoreUnreachable(errNoQuorum)) ||
		flows.ErrorCode(flows.StoreUnreachable(errNoQuorum)) != flows.EUNAVAILABLE {
		t.Fatal("the class of a store that cannot be reached")
	}
}

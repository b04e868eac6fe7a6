package flows_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// otherReplicaFirst is a replica's view of a shared store in which,
// when this replica is about to write a new request, another replica's
// submission (then) runs to its end first.
type otherReplicaFirst struct {
	flows.Store
	once sync.Once
	then func()
}

func (s *otherReplicaFirst) CreateChecked(ctx context.Context, r *flows.Request, ev flows.Event, key string, check func([]*flows.Request) error) (*flows.Request, bool, error) {
	s.once.Do(s.then)
	return s.Store.CreateChecked(ctx, r, ev, key, check)
}

// replicaA is a second service on f's store, under spec, in whose view
// of the store then runs just before it writes a new request (f's own
// service is replica B).
func replicaA(t *testing.T, f *fixture, spec flows.PolicySpec, then func()) *flows.Service {
	t.Helper()
	a, err := flows.NewService(flows.Config{Policy: mustCompile(t, spec)}, flows.Deps{
		Store: &otherReplicaFirst{Store: f.store, then: then}, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov},
		Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestASubmissionInAnotherReplicaIsCheckedAsTheRequestIsWritten: two
// replicas take one person's two submissions of the same access at once.
// Each process lets one submission of a person run at a time, but not
// across processes: replica B writes the same access while replica A's
// submission is on its way to the store. A's request must be refused as
// the duplicate it is, by the check the store makes as it writes, not
// written beside B's.
func TestASubmissionInAnotherReplicaIsCheckedAsTheRequestIsWritten(t *testing.T) {
	f := newFixture(t)
	a := replicaA(t, f, testPolicy(), func() { f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour) })
	res, err := flows.ParseResource("prod/Cluster0/sales/customers")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Submit(f.ctx, flows.SubmitInput{Requester: "carol@example.com", Resource: res, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-7 debugging", Origin: "slack"})
	if flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(flows.ErrorMessage(err), "you already have request") {
		t.Fatalf("replica A's submission of what B wrote meanwhile: want the duplicate refused, got %v", err)
	}
	live, err := f.store.Find(f.ctx, flows.Query{Requester: "carol@example.com", States: flows.LiveStates()})
	if err != nil || len(live) != 1 {
		t.Fatalf("carol's requests under way: want B's alone, got %d (%v)", len(live), err)
	}
}

// TestBreakGlassInTwoReplicasAtOnce: one person breaks glass on two
// targets through two replicas at once. Replica A found no use in the
// window; replica B's use is written before A's request. A's must be
// refused by the once-per-window rule as its request is written.
func TestBreakGlassInTwoReplicasAtOnce(t *testing.T) {
	f := newFixture(t, withBreakGlass)
	spec := testPolicy()
	withBreakGlass(&spec, nil)
	a := replicaA(t, f, spec, func() {
		if _, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", 30*time.Minute, "INC-9 primary down"); err != nil {
			t.Errorf("replica B's use: %v", err)
		}
	})
	res, err := flows.ParseResource("prod/Cluster0/sales/customers")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Submit(f.ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: res, Roles: []string{"readWrite"},
		Duration: 30 * time.Minute, Reason: "INC-9 primary down", Origin: "slack", BreakGlass: true})
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(flows.ErrorMessage(err), "allows it once per") {
		t.Fatalf("replica A's use while B's was written: want it refused once per window, got %v", err)
	}
	uses := 0
	all, err := f.store.Find(f.ctx, flows.Query{Requester: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.BreakGlass != nil {
			uses++
		}
	}
	if uses != 1 {
		t.Fatalf("break-glass uses written: %d, want B's alone", uses)
	}
}

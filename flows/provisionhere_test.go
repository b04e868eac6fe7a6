package flows_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// A replica that does not lead leaves a grant with a secret approved for
// the leader's sweep, which provisions it where its message is sent from;
// one that leads, and any replica for a grant without a secret (a
// passwordless user), provisions at once.
func TestOnlyTheLeaderCreatesSecrets(t *testing.T) {
	var leading atomic.Bool
	st := flowstest.NewStore()
	prov := flowstest.NewProvisioner()
	clock := flowstest.NewClock(t0)
	svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, passwordlessPolicy())}, flows.Deps{
		Store: st, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Catalog: testCatalog(),
		Secrets: &flowstest.Secrets{}, Notifier: &flowstest.Notifier{}, Clock: clock, Leading: leading.Load,
	})
	if err != nil {
		t.Fatal(err)
	}
	approve := func(requester, resource string) *flows.Request {
		t.Helper()
		res, err := flows.ParseResource(resource)
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.Submit(t.Context(), flows.SubmitInput{Requester: requester, Resource: res, Roles: flows.ParseRoles("read"),
			Duration: time.Hour, Reason: "INC-1", Origin: "slack"})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = svc.Decide(t.Context(), flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true}); err != nil {
			t.Fatal(err)
		}
		return r
	}

	elsewhere := approve("alice@example.com", "prod/Cluster0/sales/orders")
	if elsewhere.State != flows.StateApproved || prov.Count("create") != 0 {
		t.Fatalf("approved on a replica that does not lead: %s, %d creates; want it left approved", elsewhere.State, prov.Count("create"))
	}
	oidc := approve("bob@example.com", "prod/Cluster0/hr")
	if oidc.State != flows.StateActive || prov.Count("create") != 1 {
		t.Fatalf("a passwordless user approved there: %s, %d creates; want it provisioned at once", oidc.State, prov.Count("create"))
	}
	leading.Store(true)
	here := approve("carol@example.com", "prod/Cluster0/sales/invoices")
	if here.State != flows.StateActive || prov.Count("create") != 2 {
		t.Fatalf("approved on the leader: %s, %d creates; want it provisioned at once", here.State, prov.Count("create"))
	}
	// The leader's sweep provisions the one left.
	if _, err := svc.SweepFor(t.Context(), clock.Now(), flows.SweepProvisioning); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Get(t.Context(), elsewhere.ID); err != nil || r.State != flows.StateActive || prov.Count("create") != 3 {
		t.Fatalf("after the leader's sweep: %+v %v, %d creates", r, err, prov.Count("create"))
	}
}

package flows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// Reconcile reads the requests of what jitbot holds in one GetMany when
// the store has it (etcd: thousands of round trips at every change of
// leader before), and one at a time when that fails: a failed read never
// makes a live grant look orphaned.
func TestReconcileReadsHeldRequestsTogether(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			ctx := context.Background()
			st := &manyGetter{Store: flowstest.NewStore()}
			prov := flowstest.NewProvisioner()
			svc, err := flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, flows.Deps{
				Store: st, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Catalog: testCatalog(),
				Secrets: &flowstest.Secrets{}, Notifier: &flowstest.Notifier{}, Clock: flowstest.NewClock(t0),
			})
			if err != nil {
				t.Fatal(err)
			}
			var live []string
			for i := range 3 {
				res, _ := flows.ParseResource(fmt.Sprintf("prod/Cluster0/sales/c%d", i))
				r, err := svc.Submit(ctx, flows.SubmitInput{Requester: fmt.Sprintf("u%d@example.com", i), Resource: res,
					Roles: flows.ParseRoles("read"), Duration: time.Hour, Reason: "INC-1", Origin: "slack"})
				if err != nil {
					t.Fatal(err)
				}
				r, err = svc.Decide(ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true})
				if err != nil || r.State != flows.StateActive {
					t.Fatalf("decide: %+v %v", r, err)
				}
				live = append(live, r.Principal)
			}
			prov.AddUser(flows.Grant{Principal: "jit-zed-zzzzzzzzzz", RequestID: "zzzzzzzzzz", Integration: "prod"})
			if failing {
				st.fail = errors.New("etcd is slow")
			}
			st.many.Store(0)
			st.one.Store(0)
			reps, err := svc.Reconcile(ctx)
			if err != nil || len(reps) != 1 || !slices.Equal(reps[0].OrphansDeleted, []string{"jit-zed-zzzzzzzzzz"}) {
				t.Fatalf("reconcile: %+v %v", reps, err)
			}
			slices.Sort(live)
			if got := prov.Users(); !slices.Equal(got, live) {
				t.Fatalf("Atlas users after reconcile: %v, want the live grants' %v", got, live)
			}
			many, one := st.many.Load(), st.one.Load()
			if wantOne := map[bool]int64{false: 0, true: 4}[failing]; many != 1 || one != wantOne {
				t.Fatalf("read with %d GetMany and %d Get, want 1 and %d", many, one, wantOne)
			}
		})
	}
}

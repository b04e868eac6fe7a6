package atlas

import (
	"strconv"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestServiceLifecycle runs the real flows.Service on this adapter against
// the simulator: submit, approve, credentials once applied, expiry, and the
// user gone, with the Atlas calls DESIGN §8 budgets for one grant.
func TestServiceLifecycle(t *testing.T) {
	e := newEnv(t, withSim(func(so *atlastest.Options) { so.ApplyAfterPolls = 2 }))
	policy, err := flows.Compile(flows.PolicySpec{
		Groups: map[string][]string{"dba": {"dba@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{{Name: "prod-read", Integration: "prod", Requesters: []string{"*"},
			Resources: []string{"Cluster0/sales/*"}, Roles: []string{"read"}, MaxDuration: "8h",
			Approvers: []string{"owners"}, Approvals: 1, RequireReason: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store, secrets := flowstest.NewStore(), &flowstest.Secrets{}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: e.prov}, Catalog: e.prov.Catalog(), Secrets: secrets, Clock: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The catalog is warm in a running bot; the budget is about the grant.
	if _, err := e.prov.Catalog().Clusters(e.ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()

	res, _ := flows.ParseResource("prod/Cluster0/sales/orders")
	r, err := svc.Submit(e.ctx, flows.SubmitInput{Requester: "carol@example.com", Resource: res, Roles: []string{"read"},
		Duration: time.Hour, Reason: "INC-123 debugging", Origin: "slack"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if r.State != flows.StatePending || len(r.Approvers) != 3 {
		t.Fatalf("submitted: %+v", r)
	}
	r, err = svc.Decide(e.ctx, flows.DecideInput{RequestID: r.ID, Actor: "alice@example.com", Approve: true})
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	kept := secrets.Kept(r.ID)
	if len(kept) != 1 || !kept[0].Issued.Equal(r.CredentialsIssuedAt) {
		t.Fatalf("credentials not kept for the requester: %+v", kept)
	}
	creds := kept[0].Credentials
	if !e.srv.CheckPassword(projectID, r.Principal, password(creds)) {
		t.Fatal("the delivered password does not work")
	}
	if want := `mongosh "mongodb+srv://cluster0.jitbot.mongodb.net" --username ` + r.Principal; creds.Instructions != want {
		t.Fatalf("access details: %q", creds.Instructions)
	}
	u := e.user(r.Principal)
	if !u.DeleteAfterDate.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("deleteAfterDate %v, want expiry + 1h grace (%v)", u.DeleteAfterDate, r.ExpiresAt.Add(time.Hour))
	}

	e.clock.Set(r.ExpiresAt)
	if _, err := svc.Sweep(e.ctx, r.ExpiresAt); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if r, _ = store.Get(e.ctx, r.ID); r.State != flows.StateExpired {
		t.Fatalf("after the sweep: %s", r.State)
	}
	if _, ok := e.srv.User(projectID, r.Principal); ok {
		t.Fatal("the user outlived its grant")
	}
	e.wantCalls(map[string]int{
		"createDatabaseUser": 1, "deleteDatabaseUser": 1, "getClusterStatus": 3,
		"listClusters": 0, "listDatabaseUsers": 0, "getCluster": 0, "getDatabaseUser": 0, "updateDatabaseUser": 0,
	})
	if n := len(e.srv.Calls()); n != 5 { // no token fetch either: the warm-up fetched it
		t.Fatalf("%d HTTP requests: %+v", n, e.srv.Calls())
	}

	// Reconcile finds nothing left to clean up.
	reps, err := svc.Reconcile(e.ctx)
	if err != nil || len(reps) != 1 || reps[0].Managed != 0 || len(reps[0].OrphansDeleted) != 0 || len(reps[0].Errors) != 0 {
		t.Fatalf("Reconcile: %+v, %v", reps, err)
	}
	e.noViolations()
}

// TestServiceReconcileDeletesOrphans: a jitbot-labelled user no request holds
// is found through ManagedGrants and deleted.
func TestServiceReconcileDeletesOrphans(t *testing.T) {
	e := newEnv(t)
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{"dba@example.com"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: flowstest.NewStore(), Provisioners: flows.Provisioners{flows.KindDatabaseUser: e.prov}, Catalog: e.prov.Catalog(),
		Secrets: &flowstest.Secrets{}, Clock: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	orphan := e.grant("orphan0001")
	e.create(orphan)
	if err := e.srv.AddUser(projectID, atlastest.User{Username: "app"}, "app-password"); err != nil {
		t.Fatal(err)
	}
	reps, err := svc.Reconcile(e.ctx)
	if err != nil || len(reps) != 1 || len(reps[0].OrphansDeleted) != 1 || reps[0].OrphansDeleted[0] != orphan.Principal {
		t.Fatalf("Reconcile: %+v, %v", reps, err)
	}
	if users := e.srv.Users(projectID); len(users) != 1 || users[0].Username != "app" {
		t.Fatalf("users left: %+v", users)
	}
}

// BenchmarkGrantLifecycle measures one grant's Atlas side: create, wait until
// applied (one PENDING poll), delete, against the simulator on loopback.
func BenchmarkGrantLifecycle(b *testing.B) {
	for _, m := range authMethods {
		b.Run(m.name, func(b *testing.B) {
			e := newEnv(b, m.opt,
				withSim(func(so *atlastest.Options) { so.ApplyAfterPolls = 1 }),
				withConfig(func(cfg *Config) { cfg.Log = nil }))
			if _, err := e.prov.Catalog().Clusters(e.ctx, "prod"); err != nil {
				b.Fatal(err)
			}
			e.srv.ResetCalls()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				g := e.grant("bench" + strconv.Itoa(i))
				if _, err := e.prov.Create(e.ctx, g); err != nil {
					b.Fatal(err)
				}
				if err := e.prov.WaitApplied(e.ctx, g); err != nil {
					b.Fatal(err)
				}
				if err := e.prov.Delete(e.ctx, g); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			calls := e.srv.Calls()
			api := 0
			for _, c := range calls {
				if c.Principal != "" && !c.Challenge && c.OperationID != "oauthToken" {
					api++
				}
			}
			b.ReportMetric(float64(api)/float64(b.N), "atlas-calls/grant")
			b.ReportMetric(float64(len(calls))/float64(b.N), "http-requests/grant")
			b.ReportMetric(float64(e.srv.CountCalls("createDatabaseUser"))/float64(b.N), "creates/grant")
			b.ReportMetric(float64(e.srv.CountCalls("deleteDatabaseUser"))/float64(b.N), "deletes/grant")
			e.sleeps.reset()
		})
	}
}

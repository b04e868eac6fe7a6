package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
)

// TestSweepOf100DueGrantsCostsAtMostTenCommits is DESIGN §8's row on real
// bbolt, counted exactly (bbolt's transaction id), not timed: 100 grants
// due at once (rate limit off) are revoked in at most 10 fsyncs for the
// whole sweep: bbolt makes two per commit, so at most 5 commits.
func TestSweepOf100DueGrantsCostsAtMostTenCommits(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	svc := benchService(t, db, flowstest.NewClock(flowstest.T0))
	addExpiring(t, db, "due", 100, flowstest.T0)
	before := store.Commits(db)
	rep, err := svc.Sweep(ctx, flowstest.T0)
	if err != nil || rep.Revocations != 100 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	commits := store.Commits(db) - before
	t.Logf("%d commits (%d fsyncs) for a sweep of 100 due grants", commits, 2*commits)
	if 2*commits > 10 {
		t.Fatalf("%d commits, %d fsyncs; want at most 10 fsyncs", commits, 2*commits)
	}
	expired, err := db.Find(ctx, flows.Query{States: []flows.State{flows.StateExpired}})
	if err != nil || len(expired) != 100 {
		t.Fatalf("%d expired, %v; want 100", len(expired), err)
	}
}

// TestEscalationSurvivesARestart: the next reminder and escalation of a
// pending request are data on bbolt, not timers: a process that dies
// after the request is made and comes back after both were due (the file
// reopened as a kill -9 leaves it: only what was committed) escalates it
// at its first sweep, with its audit event, and schedules the next
// reminder from then.
func TestEscalationSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	policy, err := flows.Compile(flows.PolicySpec{
		Groups:       map[string][]string{"dba": {"dba@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6"}},
		Flows: []flows.FlowSpec{{Name: "f", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0"},
			Roles: []string{"read"}, Approvers: []string{"user:owner@example.com"}, PendingTTL: "1h", RemindAfter: "10m",
			Escalation: []flows.EscalationSpec{{After: "20m", Approvers: []string{"group:dba"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := flowstest.NewClock(flowstest.T0)
	service := func(db *store.DB) *flows.Service {
		svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
			Store: db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Secrets: &flowstest.Secrets{}, Clock: clock,
			Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {{Name: "Cluster0"}}}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := service(db).Submit(ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"},
		Roles: []string{"read"}, Reason: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Set(flowstest.T0.Add(25 * time.Minute))
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := service(db).Sweep(ctx, clock.Now())
	if err != nil || rep.Nudged != 1 {
		t.Fatalf("first sweep after the restart: %+v %v", rep, err)
	}
	got, err := db.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tier != 1 || !slices.Contains(got.Approvers, "dba@example.com") || !got.RemindApproversAt.Equal(flowstest.T0.Add(35*time.Minute)) {
		t.Fatalf("after the sweep: tier %d, approvers %v, next reminder %v", got.Tier, got.Approvers, got.RemindApproversAt)
	}
	escalated, err := db.Find(ctx, flows.Query{Approver: "dba@example.com", States: []flows.State{flows.StatePending}})
	if err != nil || len(escalated) != 1 {
		t.Fatalf("the escalated approver's index: %d %v", len(escalated), err)
	}
	var events []flows.EventType
	if err := db.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.RequestID == r.ID {
			events = append(events, rec.Event.Type)
			if rec.Event.Type == flows.EventEscalated && rec.Event.Tier != 1 {
				t.Errorf("escalated event with tier %d", rec.Event.Tier)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(events, []flows.EventType{flows.EventSubmitted, flows.EventEscalated}) {
		t.Fatalf("audit: %v", events)
	}
}

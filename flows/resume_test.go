package flows_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func TestResumeAfterCrash(t *testing.T) {
	for _, tt := range []struct {
		state     flows.State
		userThere bool
		want      flows.State
		creds     bool
	}{
		{flows.StateApproved, false, flows.StateActive, true},
		{flows.StateProvisioning, false, flows.StateActive, true},
		{flows.StateProvisioning, true, flows.StateActive, true}, // crashed after Atlas made the user
		{flows.StateRevoking, true, flows.StateExpired, false},
		{flows.StateRevoking, false, flows.StateExpired, false}, // crashed after Atlas deleted it
		{flows.StateRevokeFailed, true, flows.StateExpired, false},
	} {
		t.Run(fmt.Sprintf("%s user=%v", tt.state, tt.userThere), func(t *testing.T) {
			f := newFixture(t)
			r := flowstest.NewRequest("crash1", "carol@example.com", t0)
			r.Resource.Collection = "customers"
			r.Approvers = []string{"owner@example.com"}
			r.State = tt.state
			r.Approvals = []flows.Decision{{By: "owner@example.com", At: t0, Approve: true}}
			if tt.state != flows.StateApproved {
				// The dead process held a lease that has not run out.
				r.Principal, r.NextAttemptAt, r.Attempts, r.EndState = "jit-carol-crash1", t0.Add(10*time.Second), 1, flows.StateExpired
			}
			if _, _, err := f.store.Create(f.ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
				t.Fatal(err)
			}
			if tt.userThere {
				f.prov.AddUser(flows.Grant{Principal: "jit-carol-crash1", RequestID: "crash1", Integration: "prod"})
			}
			n, err := f.svc.Resume(f.ctx)
			if err != nil || n != 1 {
				t.Fatalf("resume: %d %v", n, err)
			}
			got := f.get("crash1")
			if got.State != tt.want {
				t.Fatalf("state %s, want %s", got.State, tt.want)
			}
			if tt.want == flows.StateActive {
				if _, ok := f.prov.User("jit-carol-crash1"); !ok {
					t.Fatal("user missing after resume")
				}
			} else if len(f.prov.Users()) != 0 {
				t.Fatalf("users left: %v", f.prov.Users())
			}
			if sent := len(f.notes.Of(flows.EventActivated)) == 1; sent != tt.creds {
				t.Fatalf("credentials sent=%v, want %v", sent, tt.creds)
			}
		})
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
	mustUpdate := func(id flows.RequestID, step func(r *flows.Request) (flows.Event, error)) {
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
		return r.StartProvisioning(now, now.Add(15*time.Second), flows.DatabaseUser().Principal(r.Requester, r.ID), now.Add(2*time.Hour), time.Time{})
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

// TestResumeProvisionsSideBySide: the provisionings a crash interrupted
// are finished several at a time, not each after the last one's wait for
// Atlas to apply it: here each wait holds until all three are waiting.
func TestResumeProvisionsSideBySide(t *testing.T) {
	f := newFixture(t)
	var ids []flows.RequestID
	for _, who := range []string{"carol@example.com", "dave@example.com", "erin@example.com"} {
		r := f.mustSubmit(who, "prod/Cluster0/sales/customers", "read", time.Hour)
		now := f.clock.Now()
		if _, err := f.store.Update(f.ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
			a, err := r.Approve("owner@example.com", now)
			if err != nil {
				return nil, err
			}
			p, err := r.StartProvisioning(now, now.Add(15*time.Second), flows.DatabaseUser().Principal(r.Requester, r.ID), now.Add(2*time.Hour), time.Time{})
			return []flows.Event{a, p}, err
		}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	var mu sync.Mutex
	waiting := 0
	all := make(chan struct{})
	f.prov.OnCall = func(op string, _ flows.Grant) {
		if op != "wait" {
			return
		}
		mu.Lock()
		if waiting++; waiting == len(ids) {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Errorf("a wait for Atlas held alone: the provisionings were resumed one after another")
		}
	}
	if n, err := f.svc.Resume(f.ctx); err != nil || n != len(ids) {
		t.Fatalf("resumed %d: %v", n, err)
	}
	for _, id := range ids {
		if got := f.get(id); got.State != flows.StateActive {
			t.Fatalf("%s after resume: %s (%s)", id, got.State, got.LastError)
		}
	}
}

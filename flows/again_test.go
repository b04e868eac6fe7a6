package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestRequestAgain: the requester of an ended request asks again for the
// same thing through the policy in force; anyone else is answered as for
// an unknown id; what the policy no longer allows is refused, saying so.
func TestRequestAgain(t *testing.T) {
	f := newFixture(t)
	old := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour, "owner@example.com")
	if _, err := f.svc.Revoke(f.ctx, old.ID, "carol@example.com", ""); err != nil {
		t.Fatal(err)
	}
	f.sweepAt(f.clock.Now().Add(time.Minute))
	if st := f.get(old.ID).State; st != flows.StateRevoked {
		t.Fatalf("the old request is %s", st)
	}
	unknown := "there is no request " + string(old.ID) + " that you can see"
	tests := []struct {
		name  string
		actor string
		code  flows.Code
		want  string
	}{
		{"an approver", "owner@example.com", flows.ENOTFOUND, unknown},
		{"an admin", "admin@example.com", flows.ENOTFOUND, unknown},
		{"a stranger", "mallory@example.com", flows.ENOTFOUND, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Again(f.ctx, old.ID, tt.actor); flows.ErrorCode(err) != tt.code || flows.ErrorMessage(err) != tt.want {
				t.Fatalf("again: %v", err)
			}
			if _, err := f.svc.SubmitAgain(f.ctx, old.ID, tt.actor, "slack", ""); flows.ErrorCode(err) != tt.code || flows.ErrorMessage(err) != tt.want {
				t.Fatalf("submit again: %v", err)
			}
		})
	}
	if _, err := f.svc.SubmitAgain(f.ctx, "nosuch0001", "carol@example.com", "slack", ""); flows.ErrorMessage(err) != "there is no request nosuch0001 that you can see" {
		t.Fatalf("an unknown id: %v", err)
	}

	in, err := f.svc.Again(f.ctx, old.ID, "carol@example.com")
	if err != nil || in.Resource.String() != "prod/Cluster0/sales/customers" || !slices.Equal(in.Roles, []string{"read"}) ||
		in.Duration != 2*time.Hour || in.Reason != old.Reason || in.Resource.ClusterID != "" {
		t.Fatalf("again: %+v %v", in, err)
	}
	r, err := f.svc.SubmitAgain(f.ctx, old.ID, "carol@example.com", "teams", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == old.ID || r.State != flows.StatePending || r.Flow != "prod-read" || r.Origin != "teams" || r.Duration != 2*time.Hour ||
		r.Reason != old.Reason || !slices.Equal(r.Approvers, old.Approvers) {
		t.Fatalf("the new request: %+v", r)
	}
	if again, err := f.svc.SubmitAgain(f.ctx, old.ID, "carol@example.com", "teams", "key-1"); err != nil || again.ID != r.ID {
		t.Fatalf("a replayed delivery made another request: %v %v", again, err)
	}
	if _, err := f.svc.SubmitAgain(f.ctx, old.ID, "carol@example.com", "slack", "key-2"); flows.ErrorCode(err) != flows.ECONFLICT ||
		!strings.HasPrefix(flows.ErrorMessage(err), "asking again for read on prod/Cluster0/sales/customers as in request "+string(old.ID)+": you already have request "+string(r.ID)) {
		t.Fatalf("while the new one is pending: %v", err)
	}
	if _, err := f.svc.Cancel(f.ctx, r.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	// The policy in force judges it: prod-read now allows 1h at most.
	spec := testPolicy()
	spec.Flows[0].MaxDuration = "1h"
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SubmitAgain(f.ctx, old.ID, "carol@example.com", "slack", "key-3"); flows.ErrorCode(err) != flows.EINVALID ||
		!strings.Contains(err.Error(), "2h is longer than the 1h that access flow prod-read allows") {
		t.Fatalf("against the policy in force: %v", err)
	}
	recent, err := f.svc.Recent(f.ctx, "carol@example.com")
	if err != nil || len(recent) != 1 || recent[0].ID != old.ID {
		t.Fatalf("recent: %v %v", recent, err)
	}
}

package flows_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestSubmitRoutesToTheClusterOwners(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 0)
	if r.State != flows.StatePending || r.Flow != "prod-read" || r.Duration != time.Hour || !slices.Equal(r.Approvers, []string{"owner@example.com"}) {
		t.Fatalf("request: %+v", r)
	}
	if !r.PendingUntil.Equal(t0.Add(time.Hour)) {
		t.Fatalf("pending TTL: %v", r.PendingUntil)
	}
	n := f.notes.Of(flows.EventSubmitted)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"owner@example.com"}) || n[0].Credentials != nil {
		t.Fatalf("approvers not told: %+v", n)
	}
	f.wantEvents(r.ID, flows.EventSubmitted)
	if f.prov.Count("create") != 0 {
		t.Fatal("nothing is provisioned before approval")
	}
}

func TestOwnersFallBackToIntegrationOwners(t *testing.T) {
	f := newFixture(t)
	untagged := f.mustSubmit("carol@example.com", "prod/Untagged/logs", "read", 0)
	if !slices.Equal(untagged.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("no owner tag: want the integration owners, got %v", untagged.Approvers)
	}
	// The owner asking for their own cluster is routed to the integration owners.
	own := f.mustSubmit("owner@example.com", "prod/Cluster0/sales/customers", "read", 0)
	if !slices.Equal(own.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("sole owner requesting: got %v", own.Approvers)
	}
}

func TestOwnerTagNamingAGroupIsExpanded(t *testing.T) {
	// Staging's owner tag is group:dba. The integration owners differ from
	// that group, so a fallback to them cannot pass for the expansion.
	f := newFixture(t, func(spec *flows.PolicySpec, _ *flows.Config) {
		spec.Integrations[0].Owners = []string{"admin@example.com"}
		for i := range spec.Flows {
			if spec.Flows[i].Name == "staging" {
				spec.Flows[i].AutoApprove = false
				spec.Flows[i].Approvers = []string{"owners"}
				spec.Flows[i].Requesters = []string{"*"}
			}
		}
	})
	staging := f.mustSubmit("carol@example.com", "prod/Staging/app", "read", 0)
	if staging.State != flows.StatePending || !slices.Equal(staging.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("group owners: want pending for dba1 and dba2, got %s %v", staging.State, staging.Approvers)
	}
	// A member of the group asking is left out of it.
	own := f.mustSubmit("dba1@example.com", "prod/Staging/app", "read", 0)
	if own.State != flows.StatePending || !slices.Equal(own.Approvers, []string{"dba2@example.com"}) {
		t.Fatalf("group member requesting: want pending for dba2 alone, got %s %v", own.State, own.Approvers)
	}
}

func TestSubmitRefusals(t *testing.T) {
	f := newFixture(t)
	f.mustSubmit("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	tests := []struct {
		requester, resource, role string
		d                         time.Duration
		reason                    string
		code                      flows.Code
		text                      string
	}{
		{"carol@example.com", "prod/Cluster9/sales/orders", "read", 0, "x", flows.EINVALID, `no cluster "Cluster9" in prod; its clusters are: Cluster0, Staging, Untagged`},
		{"carol@example.com", "prod/Cluster0/sales/orders", "read", 5 * time.Hour, "x", flows.EINVALID, "5h is longer than the 4h that access flow orders-read allows"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "read", 0, " ", flows.EINVALID, "requires a reason"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "readWrite", 0, "x", flows.EFORBIDDEN, "role readWrite is not offered"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "atlasAdmin", 0, "x", flows.EINVALID, "every database"},
		{"alice@example.com", "prod/Staging/app/events", "dbAdmin", 0, "x", flows.EINVALID, `cannot be limited to collection "events"`},
		{"owner@example.com", "prod/Cluster0/sales/orders", "read", 0, "x", flows.EFORBIDDEN, "nobody but you could approve"},
		{"not an email", "prod/Cluster0/sales/orders", "read", 0, "x", flows.EINVALID, "not an email"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "read", 0, strings.Repeat("x", 501), flows.EINVALID, "keep it under 500"},
		{"dave@example.com", "prod/Cluster0/sales/customers", "read", 0, "x", flows.ECONFLICT, "you already have request"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			before := len(f.store.Events())
			_, err := f.submit(tt.requester, tt.resource, tt.role, tt.d, tt.reason)
			if flows.ErrorCode(err) != tt.code || !strings.Contains(flows.ErrorMessage(err), tt.text) {
				t.Fatalf("want %s %q, got %v", tt.code, tt.text, err)
			}
			if len(f.store.Events()) != before {
				t.Fatal("a refused request must write nothing")
			}
		})
	}
	f.catalog.Err = errors.New("dial tcp: connection refused")
	if _, err := f.submit("carol@example.com", "prod/Cluster0/sales/customers", "read", 0, "x"); flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("catalog down: %v", err)
	}
}

func TestQuorumTooLargeForTheApprovers(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[1].Approvers = []string{"owners"} // prod-write needs 2 of the owners
	})
	_, err := f.submit("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", 0, "x")
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "needs 2 approvals but only 1 people") {
		t.Fatalf("got %v", err)
	}
}

func TestReplayedSubmitMakesOneRequest(t *testing.T) {
	f := newFixture(t)
	res, _ := flows.ParseResource("prod/Cluster0/sales/customers")
	in := flows.SubmitInput{Requester: "carol@example.com", Resource: res, Roles: []string{"read"}, Reason: "x", IdempotencyKey: "trigger-42"}
	var ids []string
	for range 4 {
		r, err := f.svc.Submit(f.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(r.ID))
	}
	if len(slices.Compact(ids)) != 1 {
		t.Fatalf("replays made several requests: %v", ids)
	}
	if n := len(f.notes.Of(flows.EventSubmitted)); n != 1 {
		t.Fatalf("approvers were told %d times", n)
	}
}

func TestAutoApprove(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("alice@example.com", "prod/Staging/app", "readWrite", 30*time.Minute)
	if r.State != flows.StateActive {
		t.Fatalf("state %s", r.State)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventAutoApproved, flows.EventProvisioning, flows.EventActivated)
	if len(f.notes.Of(flows.EventSubmitted)) != 0 {
		t.Fatal("nobody needs to approve an auto-approved request")
	}
}

// TestLiveRequestsPerPersonAreCapped: one person cannot have more than
// MaxLiveRequests under way; the refusal says what to do, records nothing,
// and a request that ends frees its place.
func TestLiveRequestsPerPersonAreCapped(t *testing.T) {
	f := newFixture(t, func(_ *flows.PolicySpec, cfg *flows.Config) { cfg.MaxLiveRequests = 3 })
	first := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 0)
	f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", 0)
	f.mustSubmit("carol@example.com", "prod/Untagged/logs", "read", 0)
	events := len(f.store.Events())
	_, err := f.submit("carol@example.com", "prod/Untagged/metrics", "read", 0, "INC-1")
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(flows.ErrorMessage(err), "you have 3 requests under way, the most one person may have") {
		t.Fatalf("a fourth live request: %v", err)
	}
	if n := len(f.store.Events()); n != events {
		t.Fatalf("a refused request recorded %d events", n-events)
	}
	// Someone else is not affected.
	f.mustSubmit("dave@example.com", "prod/Untagged/metrics", "read", 0)
	if _, err := f.svc.Cancel(f.ctx, first.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	f.mustSubmit("carol@example.com", "prod/Untagged/metrics", "read", 0)
}

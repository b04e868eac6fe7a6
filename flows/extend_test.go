package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestExtendWithinAndBeyondMax(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour, "owner@example.com")
	if _, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", 7*time.Hour); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "at most 6h") {
		t.Fatalf("beyond max: %v", err)
	}
	if _, err := f.svc.Extend(f.ctx, r.ID, "owner@example.com", time.Hour); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("extend by another: %v", err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}
	got := f.get(r.ID)
	if !got.ExpiresAt.Equal(r.ExpiresAt.Add(time.Hour)) || !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("extended: expires %v backstop %v", got.ExpiresAt, got.BackstopAt)
	}
	if u, _ := f.prov.User(r.Principal); !u.BackstopAt.Equal(got.BackstopAt) {
		t.Fatalf("Atlas backstop not moved: %v", u.BackstopAt)
	}
	if f.prov.Count("create") != 1 {
		t.Fatal("extending must never re-create the user")
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated, flows.EventExtended, flows.EventBackstopMoved)
}

func TestExtensionNeedsApprovalWhenTheFlowSays(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	r, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
	if err != nil || r.Extension == nil || !r.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("extension request: %+v %v", r, err)
	}
	n := f.notes.Of(flows.EventExtensionRequested)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"owner@example.com"}) {
		t.Fatalf("approver not asked: %+v", n)
	}
	if p, _ := f.svc.Pending(f.ctx, "owner@example.com"); len(p) != 1 {
		t.Fatal("the extension waits for the owner")
	}
	r, err = f.svc.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true, Extension: 1})
	if err != nil || !f.get(r.ID).ExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("approve extension: %v", err)
	}
}

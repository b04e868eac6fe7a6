package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestProvisioningRetriesThenSucceeds(t *testing.T) {
	f := newFixture(t)
	fails := 2
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "create" && fails > 0 {
			fails--
			return unavailable(op)
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateProvisioning || r.LastError != "Atlas is unavailable" {
		t.Fatalf("after a failed create: %+v", r)
	}
	for i := 0; i < 10 && f.get(r.ID).State != flows.StateActive; i++ {
		f.sweepAt(f.clock.Now().Add(time.Minute))
	}
	if got := f.get(r.ID); got.State != flows.StateActive || f.prov.Count("create") != 3 {
		t.Fatalf("state %s creates %d", got.State, f.prov.Count("create"))
	}
}

func TestProvisioningGivesUpOnPermanentErrors(t *testing.T) {
	f := newFixture(t)
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "create" {
			return flows.Errorf(flows.ECONFLICT, "the Atlas project has reached its limit of 100 database users")
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateFailed {
		t.Fatalf("state %s", r.State)
	}
	n := f.notes.Of(flows.EventProvisionFailed)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"admin@example.com", "carol@example.com"}) || !strings.Contains(n[0].Event.Message, "100 database users") {
		t.Fatalf("failure notice: %+v", n)
	}
	if f.prov.Count("delete") != 0 {
		t.Fatal("a refused create must not lead to a delete: the name may belong to someone else")
	}
}

func TestAFailedApplyRemovesTheUserItMade(t *testing.T) {
	f := newFixture(t)
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "wait" {
			return flows.Errorf(flows.EFORBIDDEN, "Atlas rejected jitbot's credentials")
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateFailed || f.prov.Count("delete") != 1 || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s deletes %d users %v", r.State, f.prov.Count("delete"), f.prov.Users())
	}
}

func TestApplyDelayedRetriesWithNewCredentials(t *testing.T) {
	f := newFixture(t)
	waits := 0
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "wait" {
			waits++
			if waits == 1 {
				return flows.ErrNotApplied
			}
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateProvisioning || len(f.notes.Of(flows.EventApplyDelayed)) != 1 {
		t.Fatalf("after a slow apply: %s", r.State)
	}
	f.sweepAt(f.clock.Now().Add(time.Minute))
	if got := f.get(r.ID); got.State != flows.StateActive {
		t.Fatalf("state %s", got.State)
	}
	if n, kept := f.notes.Of(flows.EventActivated), f.secrets.Kept(r.ID); len(n) != 1 || len(kept) != 1 || !kept[0].Issued.Equal(n[0].Request.CredentialsIssuedAt) {
		t.Fatal("credentials must be sent exactly once, after APPLIED")
	}
}

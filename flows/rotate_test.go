package flows_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestAFailingObserverChangesNothing: the Notifier only observes; the
// credentials are kept for the outbox whatever it answers, and no event is
// recorded on its account.
func TestAFailingObserverChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.notes.Err = errors.New("metrics: broken")
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got := f.eventTypes(r.ID); got[len(got)-1] != flows.EventActivated {
		t.Fatalf("events: %v", got)
	}
	if kept := f.secrets.Kept(r.ID); len(kept) != 1 || !kept[0].Issued.Equal(r.CredentialsIssuedAt) {
		t.Fatalf("kept: %+v", kept)
	}
}

// TestRotateKeepsTheNewSecret: only the requester rotates; the new secret is
// kept under the rotation's time, which the request records, and the old
// one stays apart from it.
func TestRotateKeepsTheNewSecret(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if _, err := f.svc.Rotate(f.ctx, r.ID, "owner@example.com"); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("only the requester gets credentials: %v", err)
	}
	f.clock.Advance(time.Minute)
	rotated, err := f.svc.Rotate(f.ctx, r.ID, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	kept := f.secrets.Kept(r.ID)
	if len(kept) != 2 || !kept[1].Issued.Equal(rotated.CredentialsIssuedAt) || kept[0].Issued.Equal(kept[1].Issued) {
		t.Fatalf("kept %+v, issued at %v", kept, rotated.CredentialsIssuedAt)
	}
	first, second := kept[0].Credentials.Secrets()[0].Reveal(), kept[1].Credentials.Secrets()[0].Reveal()
	if first == "" || second == "" || first == second {
		t.Fatal("want a new, non-empty password")
	}
	if n := f.notes.Of(flows.EventCredentialsRotated); len(n) != 1 || n[0].Credentials != nil || !slices.Equal(n[0].To, []string{"carol@example.com"}) {
		t.Fatalf("rotation notice: %+v", n)
	}
}

// TestReissueLost: credentials lost before their message went out are
// reissued once for the grant as it stands; a stale issue time, or a grant
// that ended, reissues nothing.
func TestReissueLost(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	issued := r.CredentialsIssuedAt
	f.clock.Advance(time.Minute)
	if err := f.svc.ReissueLost(f.ctx, r.ID, issued); err != nil {
		t.Fatal(err)
	}
	if kept := f.secrets.Kept(r.ID); len(kept) != 2 {
		t.Fatalf("kept %d secrets, want 2", len(kept))
	}
	// The first issue is stale now: asking again for it reissues nothing.
	if err := f.svc.ReissueLost(f.ctx, r.ID, issued); err != nil {
		t.Fatal(err)
	}
	if kept := f.secrets.Kept(r.ID); len(kept) != 2 {
		t.Fatalf("a stale reissue made a secret: %d kept", len(kept))
	}
	if got := f.eventTypes(r.ID); got[len(got)-1] != flows.EventCredentialsRotated || got[len(got)-2] == flows.EventCredentialsRotated {
		t.Fatalf("events: %v", got)
	}
}

// TestCredentialsUndeliverableRevokes: a grant whose credentials can never
// reach its requester is revoked by jitbot, saying why; one that ended
// already is left alone.
func TestCredentialsUndeliverableRevokes(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	got, err := f.svc.CredentialsUndeliverable(f.ctx, r.ID, "slack: account_inactive")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != flows.StateRevoked {
		t.Fatalf("state %s", got.State)
	}
	if _, ok := f.prov.User(r.Principal); ok {
		t.Fatal("the user is still in Atlas")
	}
	evs := f.store.Events()
	var revoking *flows.Event
	for i := range evs {
		if evs[i].RequestID == r.ID && evs[i].To == flows.StateRevoking {
			revoking = &evs[i]
		}
	}
	if revoking == nil || revoking.Actor != flows.SystemActor || revoking.Message != "the credentials could not be delivered: slack: account_inactive" {
		t.Fatalf("revocation event: %+v", revoking)
	}
	if _, err := f.svc.CredentialsUndeliverable(f.ctx, r.ID, "again"); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("an ended grant: %v", err)
	}
}

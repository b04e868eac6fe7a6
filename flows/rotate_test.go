package flows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestUndeliveredCredentialsAreRecordedAndCanBeReissued(t *testing.T) {
	f := newFixture(t)
	f.notes.Err, f.notes.ErrType = errors.New("slack: channel_not_found"), flows.EventActivated
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got := f.eventTypes(r.ID); got[len(got)-1] != flows.EventCredentialsUndelivered {
		t.Fatalf("events: %v", got)
	}
	if n := f.notes.Of(flows.EventCredentialsUndelivered); len(n) != 1 || n[0].To[0] != "admin@example.com" {
		t.Fatalf("admins not told: %+v", n)
	}
	f.notes.Err = nil
	if _, err := f.svc.Rotate(f.ctx, r.ID, "owner@example.com"); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("only the requester gets credentials: %v", err)
	}
	if _, err := f.svc.Rotate(f.ctx, r.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	n := f.notes.Of(flows.EventCredentialsRotated)
	if len(n) != 1 || n[0].Credentials == nil || len(n[0].Credentials.Secrets()) != 1 || n[0].Credentials.Secrets()[0].Reveal() == "" {
		t.Fatalf("rotated credentials: %+v", n)
	}
}

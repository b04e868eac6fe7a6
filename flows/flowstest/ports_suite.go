package flowstest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitbot/jitbot/flows"
)

// Backend is a store that serves every storage port, as jitbot's backends
// do (bbolt in store, the memory Store here).
type Backend interface {
	flows.Store
	flows.AuditLog
	flows.ChatState
	flows.Inbox
	flows.Outbox
	flows.AuditReader
}

// OpenBackend opens an empty backend for one test.
type OpenBackend func(t *testing.T) Backend

// AuditSuite checks the flows.AuditLog port. tamper must change the content
// of record seq behind the backend's back without fixing its hash.
func AuditSuite(t *testing.T, open OpenBackend, tamper func(t *testing.T, b Backend, seq uint64)) {
	ctx := context.Background()
	ev := func(i int) flows.Event {
		return flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: T0.Add(time.Duration(i) * time.Second), Message: "finding"}
	}
	records := func(t *testing.T, b Backend, since time.Time) []flows.AuditRecord {
		t.Helper()
		var out []flows.AuditRecord
		if err := b.Audit(ctx, since, func(r flows.AuditRecord) error { out = append(out, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("an empty log verifies", func(t *testing.T) {
		b := open(t)
		sum, err := b.VerifyAudit(ctx)
		if err != nil || sum.Records != 0 || sum.Head != "" {
			t.Fatalf("empty log: %+v %v", sum, err)
		}
	})

	t.Run("transitions and findings are chained in order", func(t *testing.T) {
		b := open(t)
		r := NewRequest("aaaa", "alice@example.com", T0)
		if _, _, err := b.Create(ctx, r, submitted(r), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
			r.State = flows.StateCancelled
			return []flows.Event{{Type: flows.EventCancelled, RequestID: r.ID, Actor: r.Requester, At: T0.Add(time.Second), From: flows.StatePending, To: flows.StateCancelled}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.AppendEvents(ctx, ev(2), ev(3)); err != nil {
			t.Fatal(err)
		}
		recs := records(t, b, time.Time{})
		var types []flows.EventType
		prev := ""
		for i, rec := range recs {
			types = append(types, rec.Event.Type)
			if rec.Seq != uint64(i)+1 || rec.PrevHash != prev || rec.Hash == "" || rec.Hash == prev {
				t.Fatalf("record %d: seq %d prev %q hash %q (want seq %d, prev %q)", i, rec.Seq, rec.PrevHash, rec.Hash, i+1, prev)
			}
			prev = rec.Hash
		}
		want := []flows.EventType{flows.EventSubmitted, flows.EventCancelled, flows.EventOrphanDeleted, flows.EventOrphanDeleted}
		if diff := cmp.Diff(want, types); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}
		sum, err := b.VerifyAudit(ctx)
		if err != nil || sum.Records != 4 || sum.Head != prev {
			t.Fatalf("verify: %+v %v, want 4 records ending at %s", sum, err, prev)
		}
	})

	t.Run("a failed transition records nothing", func(t *testing.T) {
		b := open(t)
		r := NewRequest("aaaa", "alice@example.com", T0)
		if _, _, err := b.Create(ctx, r, submitted(r), ""); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("refused")
		if _, err := b.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
			return []flows.Event{ev(1)}, refused
		}); !errors.Is(err, refused) {
			t.Fatalf("update: %v", err)
		}
		if n := len(records(t, b, time.Time{})); n != 1 {
			t.Fatalf("%d records after a refused update, want 1", n)
		}
	})

	t.Run("since filters by time and fn's error stops the walk", func(t *testing.T) {
		b := open(t)
		for i := range 5 {
			if err := b.AppendEvents(ctx, ev(i)); err != nil {
				t.Fatal(err)
			}
		}
		recs := records(t, b, T0.Add(3*time.Second))
		if len(recs) != 2 || recs[0].Seq != 4 || recs[1].Seq != 5 {
			t.Fatalf("since 3s: %+v", recs)
		}
		stop := errors.New("stop")
		n := 0
		err := b.Audit(ctx, time.Time{}, func(flows.AuditRecord) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 2 {
			t.Fatalf("walk stopped after %d with %v, want 2 and the fn's error", n, err)
		}
	})

	t.Run("concurrent appends make one chain", func(t *testing.T) {
		b := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 5 {
					if err := b.AppendEvents(ctx, ev(i*10+j)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if sum, err := b.VerifyAudit(ctx); err != nil || sum.Records != 40 {
			t.Fatalf("verify after concurrent appends: %+v %v", sum, err)
		}
	})

	t.Run("a changed record breaks the chain at that record", func(t *testing.T) {
		b := open(t)
		for i := range 5 {
			if err := b.AppendEvents(ctx, ev(i)); err != nil {
				t.Fatal(err)
			}
		}
		tamper(t, b, 3)
		_, err := b.VerifyAudit(ctx)
		var broken *flows.BrokenChainError
		if !errors.As(err, &broken) || broken.Seq != 3 || !strings.Contains(broken.Reason, "modified") {
			t.Fatalf("want a break at record 3 (modified), got %v", err)
		}
	})
}

// ChatStateSuite checks the flows.ChatState port.
func ChatStateSuite(t *testing.T, open OpenBackend) {
	ctx := context.Background()

	t.Run("message refs per request, oldest first", func(t *testing.T) {
		b := open(t)
		a1 := flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.1", Recipient: "bob@example.com", Kind: "approval"}
		a2 := flows.MessageRef{Platform: "teams", Conversation: "a:1", ID: "act-1", Recipient: "carol@example.com", Kind: "approval", ServiceURL: "https://smba.example/"}
		other := flows.MessageRef{Platform: "slack", Conversation: "C1", ID: "2.2", Recipient: "#db-access", Kind: "approval"}
		for _, x := range []struct {
			id  flows.RequestID
			ref flows.MessageRef
		}{{"aaaa", a1}, {"aaab", other}, {"aaaa", a2}} {
			if err := b.AddMessageRef(ctx, x.id, x.ref); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.MessageRefs(ctx, "aaaa")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]flows.MessageRef{a1, a2}, got); diff != "" {
			t.Fatalf("refs of aaaa (-want +got):\n%s", diff)
		}
		// A request id that is a prefix of another must not see its refs.
		if got, err := b.MessageRefs(ctx, "aaa"); err != nil || len(got) != 0 {
			t.Fatalf("refs of a prefix: %v %v", got, err)
		}
	})

	t.Run("a ref added again with a new kind is read last", func(t *testing.T) {
		b := open(t)
		ref := flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.1", Recipient: "bob@example.com", Kind: "approval"}
		closed := ref
		closed.Kind = "closed"
		for _, r := range []flows.MessageRef{ref, closed} {
			if err := b.AddMessageRef(ctx, "aaaa", r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.MessageRefs(ctx, "aaaa")
		if err != nil || len(got) != 2 || got[1].Kind != "closed" {
			t.Fatalf("refs: %+v %v", got, err)
		}
	})

	t.Run("contacts by platform and key", func(t *testing.T) {
		b := open(t)
		if _, err := b.Contact(ctx, "teams", "alice@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("missing contact: %v, want ENOTFOUND", err)
		}
		if err := b.PutContact(ctx, "teams", "alice@example.com", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.PutContact(ctx, "teams", "alice@example.com", []byte(`{"v":2}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Contact(ctx, "slack", "alice@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("another platform's contact: %v, want ENOTFOUND", err)
		}
		got, err := b.Contact(ctx, "teams", "alice@example.com")
		if err != nil || string(got) != `{"v":2}` {
			t.Fatalf("contact: %q %v", got, err)
		}
		got[0] = 'X' // the caller's copy
		if again, _ := b.Contact(ctx, "teams", "alice@example.com"); string(again) != `{"v":2}` {
			t.Fatalf("a caller changed the stored contact: %q", again)
		}
	})

	t.Run("deleting a contact records its events in the same step", func(t *testing.T) {
		b := open(t)
		forgotten := flows.Event{Type: flows.EventContactForgotten, Actor: "admin@example.com", At: T0, Message: "alice@example.com"}
		if err := b.DeleteContact(ctx, "teams", "alice@example.com", forgotten); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("delete of nothing: %v, want ENOTFOUND", err)
		}
		if sum, _ := b.VerifyAudit(ctx); sum.Records != 0 {
			t.Fatalf("a failed delete recorded %d events", sum.Records)
		}
		if err := b.PutContact(ctx, "teams", "alice@example.com", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteContact(ctx, "teams", "alice@example.com", forgotten); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Contact(ctx, "teams", "alice@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("contact after delete: %v", err)
		}
		var types []flows.EventType
		_ = b.Audit(ctx, time.Time{}, func(r flows.AuditRecord) error { types = append(types, r.Event.Type); return nil })
		if diff := cmp.Diff([]flows.EventType{flows.EventContactForgotten}, types); diff != "" {
			t.Fatalf("audit (-want +got):\n%s", diff)
		}
	})
}

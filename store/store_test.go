package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/internal/record"
)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "jitbot.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func auditEvents(t *testing.T, db *DB) []flows.Event {
	t.Helper()
	var evs []flows.Event
	if err := db.Audit(context.Background(), time.Time{}, func(r flows.AuditRecord) error {
		evs = append(evs, r.Event)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestStoreSuite(t *testing.T) {
	flowstest.StoreSuite(t, func(t *testing.T) (flows.Store, func() []flows.Event) {
		db := openTemp(t)
		return db, func() []flows.Event { return auditEvents(t, db) }
	})
}

func TestReopenKeepsRequestsIndexesAndAudit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := flowstest.NewRequest("reopen1", "alice@example.com", flowstest.T0)
	if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: r.CreatedAt}, "key-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.Approve("owner@example.com", flowstest.T0.Add(time.Minute))
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddMessageRef(ctx, r.ID, flows.MessageRef{Platform: "slack", Conversation: "D1", ID: "1.2", Kind: "approval"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutContact(ctx, "teams", "alice@example.com", []byte(`{"conversation":"a:1"}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Get(ctx, r.ID)
	if err != nil || got.State != flows.StateApproved || len(got.Approvals) != 1 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if found, _ := db.Find(ctx, flows.Query{IdempotencyKey: "key-1"}); len(found) != 1 {
		t.Fatal("idempotency key lost")
	}
	if ids, _ := db.Due(ctx, flowstest.T0.Add(time.Minute), 0); len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("due index lost: %v", ids)
	}
	if refs, _ := db.MessageRefs(ctx, r.ID); len(refs) != 1 || refs[0].ID != "1.2" {
		t.Fatalf("message refs lost: %+v", refs)
	}
	if c, err := db.Contact(ctx, "teams", "alice@example.com"); err != nil || !bytes.Contains(c, []byte("a:1")) {
		t.Fatalf("contact lost: %s %v", c, err)
	}
	if _, err := db.Contact(ctx, "teams", "bob@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("unknown contact: %v", err)
	}
	if sum, err := db.VerifyAudit(ctx); err != nil || sum.Records != 2 {
		t.Fatalf("audit after reopen: %+v %v", sum, err)
	}
	counts, _ := db.CountByState(ctx)
	if counts[flows.StateApproved] != 1 || counts[flows.StatePending] != 0 {
		t.Fatalf("counts: %v", counts)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another jitbot running") {
		t.Fatalf("want ErrLocked, got %v", err)
	}
}

func TestFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestSchemaVersionIsChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("9")) }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), `schema version "9"; this jitbot reads version 4 and earlier`) {
		t.Fatalf("want a schema error, got %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	raw, _ := bolt.Open(other, 0o600, nil)
	_ = raw.Close()
	if _, err := Open(other, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not a jitbot store") {
		t.Fatalf("read-only open of a foreign file: %v", err)
	}
}

func TestReadOnlyOpenWhileAnotherProcessWrites(t *testing.T) {
	// bbolt's lock is shared for readers, exclusive for writers; a read-only
	// open of a file a writer holds must wait and fail, not corrupt it.
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, 3)
	start := time.Now()
	// bbolt retries the lock every 50ms until the timeout less one retry.
	const timeout = 200 * time.Millisecond
	ro, err := Open(path, Options{ReadOnly: true, LockTimeout: timeout})
	if !errors.Is(err, ErrLocked) {
		if ro != nil {
			_ = ro.Close()
		}
		t.Fatalf("read-only open while a writer holds the file: want ErrLocked, got %v", err)
	}
	if waited := time.Since(start); waited < timeout-50*time.Millisecond {
		t.Errorf("the read-only open failed after %v, before its lock timeout", waited)
	}
	// The writer is untouched and keeps writing.
	appendN(t, db, 1)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("after the writer closes", func(t *testing.T) {
		ro, err := Open(path, Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		sum, err := ro.VerifyAudit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Records != 4 {
			t.Errorf("audit records = %d, want 4", sum.Records)
		}
	})
}

func appendN(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.AppendEvents(context.Background(), flows.Event{Type: flows.EventOrphanDeleted, RequestID: "r", Actor: "jitbot", At: flowstest.T0.Add(time.Duration(i) * time.Second), Message: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(tx *bolt.Tx) error
		seq    uint64
		reason string
	}{
		{"edit a record", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			var rec record.Audit
			_ = json.Unmarshal(b.Get(be64(3)), &rec)
			rec.Actor = "mallory@example.com"
			raw, _ := json.Marshal(rec)
			return b.Put(be64(3), raw)
		}, 3, "modified"},
		{"edit and rehash a record", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			var rec record.Audit
			_ = json.Unmarshal(b.Get(be64(3)), &rec)
			rec.Message = "covered up"
			rec.Hash = rec.Sum()
			raw, _ := json.Marshal(rec)
			return b.Put(be64(3), raw)
		}, 4, "does not link"},
		{"delete a record", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(be64(2)) }, 2, "missing"},
		{"drop the tail", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(be64(5)) }, 5, "removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTemp(t)
			appendN(t, db, 5)
			if sum, err := db.VerifyAudit(ctx); err != nil || sum.Records != 5 {
				t.Fatalf("clean log: %+v %v", sum, err)
			}
			if err := db.bolt.Update(tt.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := db.VerifyAudit(ctx)
			var broken *flows.BrokenChainError
			if !errors.As(err, &broken) || broken.Seq != tt.seq || !strings.Contains(broken.Reason, tt.reason) {
				t.Fatalf("want a break at %d (%s), got %v", tt.seq, tt.reason, err)
			}
		})
	}
}

func TestAuditExportSince(t *testing.T) {
	db := openTemp(t)
	appendN(t, db, 5)
	var seqs []uint64
	if err := db.Audit(context.Background(), flowstest.T0.Add(3*time.Second), func(r flows.AuditRecord) error {
		seqs = append(seqs, r.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0] != 4 {
		t.Fatalf("since: %v", seqs)
	}
}

// TestNeverStoresAPassword runs grants through the real service on this store
// and searches the raw file for every password handed out.
func TestNeverStoresAPassword(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", AccessDetails: "use $USERNAME"}},
		Flows: []flows.FlowSpec{{Name: "self", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0"},
			Roles: []string{"read"}, AutoApprove: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := flowstest.NewClock(flowstest.T0)
	secrets := &flowstest.Secrets{}
	prov := flowstest.NewProvisioner()
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {{Name: "Cluster0"}}}),
		Secrets: secrets, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"alice@example.com", "bob@example.com"} {
		res, _ := flows.ParseResource("prod/Cluster0/sales")
		r, err := svc.Submit(ctx, flows.SubmitInput{Requester: who, Resource: res, Roles: []string{"read"}, Duration: time.Hour})
		if err != nil || r.State != flows.StateActive {
			t.Fatalf("submit: %v %v", r, err)
		}
		if _, err := svc.Rotate(ctx, r.ID, who); err != nil {
			t.Fatal(err)
		}
	}
	var passwords []string
	for _, who := range []string{"alice@example.com", "bob@example.com"} {
		rs, err := svc.Mine(ctx, who)
		if err != nil || len(rs) != 1 {
			t.Fatalf("requests of %s: %v", who, err)
		}
		for _, k := range secrets.Kept(rs[0].ID) {
			for _, secret := range k.Credentials.Secrets() {
				passwords = append(passwords, secret.Reveal())
			}
		}
	}
	if len(passwords) != 4 {
		t.Fatalf("want 4 passwords handed out, got %d", len(passwords))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("jit-alice-")) {
		t.Fatal("the scan is not reading the store's data")
	}
	for _, pw := range passwords {
		if bytes.Contains(raw, []byte(pw)) {
			t.Fatalf("password %q found in the store file", pw)
		}
	}
}

// DeleteContact removes one platform's contact for one person, with its audit events in the
// same transaction; a contact that is not there is ENOTFOUND and audits nothing.
func TestDeleteContact(t *testing.T) {
	db, ctx := openTemp(t), context.Background()
	for _, c := range []struct{ platform, key string }{{"teams", "alice@example.com"}, {"teams", "bob@example.com"}, {"slack", "alice@example.com"}} {
		if err := db.PutContact(ctx, c.platform, c.key, []byte(`{"who":"`+c.key+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	ev := flows.Event{Type: flows.EventContactForgotten, Actor: "admin@example.com", At: flowstest.T0, Message: "forgot alice"}
	if err := db.DeleteContact(ctx, "teams", "alice@example.com", ev); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Contact(ctx, "teams", "alice@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("the deleted contact: %v", err)
	}
	for _, c := range []struct{ platform, key string }{{"teams", "bob@example.com"}, {"slack", "alice@example.com"}} {
		if got, err := db.Contact(ctx, c.platform, c.key); err != nil || !bytes.Contains(got, []byte(c.key)) {
			t.Errorf("%s contact of %s after another was deleted: %s %v", c.platform, c.key, got, err)
		}
	}
	if err := db.DeleteContact(ctx, "teams", "alice@example.com", ev); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("deleting it again: %v", err)
	}
	if evs := auditEvents(t, db); len(evs) != 1 || evs[0] != ev {
		t.Fatalf("audit: %+v", evs)
	}
	if sum, err := db.VerifyAudit(ctx); err != nil || sum.Records != 1 {
		t.Fatalf("audit chain: %+v %v", sum, err)
	}
	// Stored again, it reads back: nothing of the deleted one lingers.
	if err := db.PutContact(ctx, "teams", "alice@example.com", []byte(`{"new":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Contact(ctx, "teams", "alice@example.com"); err != nil || string(got) != `{"new":1}` {
		t.Fatalf("stored again: %s %v", got, err)
	}
}

func openBackend(t *testing.T) flowstest.Backend { return openTemp(t) }

func TestAuditSuite(t *testing.T) {
	flowstest.AuditSuite(t, openBackend, func(t *testing.T, b flowstest.Backend, seq uint64) {
		err := b.(*DB).bolt.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketAudit)
			var rec record.Audit
			if err := json.Unmarshal(bk.Get(be64(seq)), &rec); err != nil {
				return err
			}
			rec.Message = "tampered"
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			return bk.Put(be64(seq), raw)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestChatStateSuite(t *testing.T) { flowstest.ChatStateSuite(t, openBackend) }

// reopenBackend closes the store and opens its file again, as a restart does.
func reopenBackend(t *testing.T, b flowstest.Backend) flowstest.Backend {
	t.Helper()
	db := b.(*DB)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(db.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	return again
}

func TestInboxSuite(t *testing.T) { flowstest.InboxSuite(t, openBackend, reopenBackend) }

func TestOutboxSuite(t *testing.T) { flowstest.OutboxSuite(t, openBackend, reopenBackend) }

func TestAuditReaderSuite(t *testing.T) { flowstest.AuditReaderSuite(t, openBackend) }

func TestSinkCursorSuite(t *testing.T) {
	flowstest.SinkCursorSuite(t, func(t *testing.T) flowstest.SinkCursors { return openTemp(t) },
		func(t *testing.T, c flowstest.SinkCursors) flowstest.SinkCursors {
			return reopenBackend(t, c.(*DB)).(*DB)
		})
}

func TestSignInSuite(t *testing.T) {
	flowstest.SignInSuite(t, func(t *testing.T) flowstest.SignIns { return openTemp(t) },
		func(t *testing.T, s flowstest.SignIns) flowstest.SignIns {
			return reopenBackend(t, s.(*DB)).(*DB)
		})
}

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// release1 copies testdata/release-1.db, a store written by jitbot's first
// release (commit 3d26b20, schema version 1) through its store API: four
// requests (alice's expired r1, active r2 and pending r3 with a message ref;
// bob's denied r4), their audit records, and a Teams contact for alice.
func release1(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/release-1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jitbot.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpensAStoreWrittenByRelease1(t *testing.T) {
	ctx := context.Background()
	path := release1(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.Version() != 4 || !slices.Equal(db.Migrated(), []int{2, 3, 4}) {
		t.Fatalf("version %d, migrated %v; want 4 after migrating to 2, 3 and 4", db.Version(), db.Migrated())
	}
	live, err := db.Find(ctx, flows.Query{Requester: "alice@example.com", States: []flows.State{
		flows.StatePending, flows.StateApproved, flows.StateProvisioning, flows.StateActive, flows.StateRevoking, flows.StateRevokeFailed,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"r3aaaaaaaaaa", "r2aaaaaaaaaa"}, ids(live)); diff != "" {
		t.Fatalf("alice's live requests through the new index (-want +got):\n%s", diff)
	}
	all, err := db.Find(ctx, flows.Query{Requester: "alice@example.com"})
	if err != nil || len(all) != 3 {
		t.Fatalf("alice's history: %d requests, %v", len(all), err)
	}
	if r, err := db.Get(ctx, "r2aaaaaaaaaa"); err != nil || r.State != flows.StateActive || r.Principal == "" || !r.ExpiresAt.Equal(flowstest.T0.Add(2*time.Hour)) {
		t.Fatalf("active request after migration: %+v %v", r, err)
	}
	if sum, err := db.VerifyAudit(ctx); err != nil || sum.Records != 7 {
		t.Fatalf("audit chain of release 1: %+v %v", sum, err)
	}
	if refs, err := db.MessageRefs(ctx, "r3aaaaaaaaaa"); err != nil || len(refs) != 1 || refs[0].Recipient != "owner@example.com" {
		t.Fatalf("message refs: %+v %v", refs, err)
	}
	if c, err := db.Contact(ctx, "teams", "alice@example.com"); err != nil || string(c) != `{"conversation":"a:1"}` {
		t.Fatalf("contact: %q %v", c, err)
	}
	if got, _, err := db.Create(ctx, flowstest.NewRequest("r5", "carol@example.com", flowstest.T0), flows.Event{Type: flows.EventSubmitted, RequestID: "r5", At: flowstest.T0}, "slack:trigger:2"); err != nil || got.ID != "r2aaaaaaaaaa" {
		t.Fatalf("an idempotency key of release 1 must still find its request: %v %v", got, err)
	}
	checkSideEffectsAfterMigration(t, db, 7)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Version() != SchemaVersion {
		t.Fatalf("the file's version after migrating: %d, want %d", ro.Version(), SchemaVersion)
	}
	_ = ro.Close()

	// Opened again, nothing is migrated twice.
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if len(again.Migrated()) != 0 || again.Version() != SchemaVersion {
		t.Fatalf("second open migrated %v (version %d)", again.Migrated(), again.Version())
	}
}

func TestReadOnlyOpenOfRelease1ReadsWithoutTheNewIndex(t *testing.T) {
	db, err := Open(release1(t), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Version() != 1 {
		t.Fatalf("a read-only open must not migrate: version %d", db.Version())
	}
	live, err := db.Find(context.Background(), flows.Query{Requester: "alice@example.com", States: []flows.State{flows.StatePending, flows.StateActive}})
	if err != nil || len(live) != 2 {
		t.Fatalf("live requests of a version 1 file: %d, %v", len(live), err)
	}
}

// TestLiveIndexFollowsTransitions checks the live index through a request's
// life: listed while under way, gone once over, whatever the history.
func TestLiveIndexFollowsTransitions(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	for i := range 50 {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("old%02d", i)), "alice@example.com", flowstest.T0.Add(time.Duration(i)*time.Minute))
		r.State = flows.StateExpired
		if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: r.CreatedAt}, ""); err != nil {
			t.Fatal(err)
		}
	}
	r := flowstest.NewRequest("now", "alice@example.com", flowstest.T0.Add(time.Hour))
	if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: r.CreatedAt}, ""); err != nil {
		t.Fatal(err)
	}
	liveQuery := flows.Query{Requester: "alice@example.com", States: []flows.State{flows.StatePending, flows.StateActive}}
	count := func() int {
		t.Helper()
		n := 0
		if err := db.bolt.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketLive).ForEach(func(_, _ []byte) error { n++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got, _ := db.Find(ctx, liveQuery); len(got) != 1 || got[0].ID != "now" || count() != 1 {
		t.Fatalf("live: %v, index entries %d", ids(got), count())
	}
	if _, err := db.Update(ctx, "now", func(r *flows.Request) ([]flows.Event, error) {
		r.State = flows.StateCancelled
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Find(ctx, liveQuery); len(got) != 0 || count() != 0 {
		t.Fatalf("after cancel: live %v, index entries %d", ids(got), count())
	}
}

func ids(rs []*flows.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.ID)
	}
	return out
}

// checkSideEffectsAfterMigration checks what version 3 brings to a store
// written before it: an empty inbox and outbox that work, and the
// dispatcher's cursor at the audit head (head), so that the history is
// not announced again.
func checkSideEffectsAfterMigration(t *testing.T, db *DB, head uint64) {
	t.Helper()
	ctx := context.Background()
	if cur, err := db.Cursor(ctx); err != nil || cur != head {
		t.Fatalf("the dispatcher's cursor after migrating: %d %v, want the audit head %d", cur, err, head)
	}
	if recs, err := db.AuditAfter(ctx, head, 0); err != nil || len(recs) != 0 {
		t.Fatalf("audit after the cursor: %d records, %v", len(recs), err)
	}
	for what, depth := range map[string]func(context.Context) (int, time.Time, error){"inbox": db.InboxDepth, "outbox": db.OutboxDepth} {
		if n, oldest, err := depth(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("%s depth after migrating: %d %v %v", what, n, oldest, err)
		}
	}
	if first, err := db.Receive(ctx, flows.InboxItem{Key: "slack:trigger:10", ReceivedAt: flowstest.T0}); err != nil || !first {
		t.Fatalf("receive on a migrated store: %v %v", first, err)
	}
	if _, err := db.Enqueue(ctx, head+1, flows.Delivery{Conversation: "slack:dm:alice@example.com", CreatedAt: flowstest.T0}); err != nil {
		t.Fatalf("enqueue on a migrated store: %v", err)
	}
	if n, _, err := db.OutboxDepth(ctx); err != nil || n != 1 {
		t.Fatalf("outbox depth: %d %v", n, err)
	}
}

// TestMigratesVersion2 brings a version 2 file (this store with what
// version 3 added taken away, and the delivery claims version 4 dropped
// put back) to version 4.
func TestMigratesVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, 4)
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range v3Buckets() {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		for _, name := range []string{"claims", "idx_claims"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyInboxOpen, keyOutboxWaiting, keyOutboxCursor} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	// Read-only, nothing is migrated: a version 2 file has nothing waiting.
	if n, _, err := ro.OutboxDepth(context.Background()); ro.Version() != 2 || err != nil || n != 0 {
		t.Fatalf("read-only open of version 2: version %d, outbox %d %v", ro.Version(), n, err)
	}
	if p, err := ro.Pending(context.Background(), 0); err != nil || len(p) != 0 {
		t.Fatalf("pending on a read-only version 2 file: %v %v", p, err)
	}
	if n, _, err := ro.InboxDepth(context.Background()); err != nil || n != 0 {
		t.Fatalf("inbox depth on a read-only version 2 file: %d %v", n, err)
	}
	_ = ro.Close()

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Version() != 4 || !slices.Equal(db.Migrated(), []int{3, 4}) {
		t.Fatalf("version %d, migrated %v; want 4 after migrating to 3 and 4", db.Version(), db.Migrated())
	}
	checkSideEffectsAfterMigration(t, db, 4)
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("claims")) != nil || tx.Bucket([]byte("idx_claims")) != nil {
			return errors.New("the delivery claims of version 2 are still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

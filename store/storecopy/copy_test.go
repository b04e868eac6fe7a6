package storecopy_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
	"github.com/jitbot/jitbot/store/internal/record"
	"github.com/jitbot/jitbot/store/storecopy"
)

var t0 = flowstest.T0

// full is every kind of state a store holds, as jitbot writes it.
type full interface {
	storecopy.Destination
	flows.Store
	flows.ChatState
	flows.Inbox
	flows.Outbox
	PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error)
	AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error
	SinkCursor(ctx context.Context, sink string) (uint64, error)
	CountByState(ctx context.Context) (map[flows.State]int, error)
}

func fill(t *testing.T, s full) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, who := range []string{"alice@example.com", "bob@example.com", "alice@example.com"} {
		r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("r%d", i)), who, t0.Add(time.Duration(i)*time.Minute))
		_, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: who, At: r.CreatedAt}, fmt.Sprintf("idem-%d", i))
		must(err)
	}
	_, err := s.Update(ctx, "r1", func(r *flows.Request) ([]flows.Event, error) {
		r.State, r.ExpiresAt = flows.StateActive, t0.Add(2*time.Hour)
		return []flows.Event{{Type: flows.EventActivated, RequestID: r.ID, Actor: flows.SystemActor, At: t0.Add(5 * time.Minute)}}, nil
	})
	must(err)
	must(s.AppendEvents(ctx, flows.Event{Type: flows.EventAccessReview, Actor: flows.SystemActor, At: t0.Add(6 * time.Minute), Message: "review"}))
	for i := range 3 {
		must(s.AddMessageRef(ctx, "r0", flows.MessageRef{Platform: "slack", Conversation: "D1", ID: fmt.Sprintf("ts-%d", i)}))
	}
	must(s.AddMessageRef(ctx, "r1", flows.MessageRef{Platform: "teams", Conversation: "C1", ID: "a1", ServiceURL: "https://smba"}))
	must(s.PutContact(ctx, "teams", "alice@example.com", []byte(`{"aad":"1"}`)))
	for i, k := range []string{"slack:t:1", "slack:t:2", "slack:t:3"} {
		_, err := s.Receive(ctx, flows.InboxItem{Key: k, Platform: "slack", Payload: []byte("p" + k), ReceivedAt: t0.Add(time.Duration(i) * time.Second)})
		must(err)
	}
	_, err = s.FinishInbox(ctx, "slack:t:2", t0.Add(time.Minute))
	must(err)
	_, err = s.Enqueue(ctx, 3,
		flows.Delivery{Conversation: "slack:dm:alice", Platform: "slack", What: "notice", Recipient: "alice@example.com", RequestID: "r0", EventSeq: 1, CreatedAt: t0},
		flows.Delivery{Conversation: "slack:dm:olivia", Platform: "slack", What: "card", RequestID: "r0", Coalesce: "card:r0", EventSeq: 2, CreatedAt: t0, Payload: []byte("x")})
	must(err)
	must(s.PutSignIn(ctx, "binding", "slack:U1", []byte(`{"subject":"s1"}`), time.Time{}))
	must(s.PutSignIn(ctx, "link", "L1", []byte("link"), t0.Add(time.Hour)))
	must(s.AdvanceSinkCursor(ctx, "siem", 4))
}

// export is s's pieces, as comparable strings, sorted.
func export(t *testing.T, s storecopy.Store) []string {
	t.Helper()
	var out []string
	if err := s.Export(t.Context(), func(p record.Piece) error {
		out = append(out, fmt.Sprintf("%s %q %d %q", p.Kind, p.Key, p.Seq, p.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// works proves s runs on what was copied: indexes, dedupe, the outbox and
// the rest answer as they did on the source.
func works(t *testing.T, s full) {
	t.Helper()
	ctx := t.Context()
	if got, err := s.Find(ctx, flows.Query{Requester: "alice@example.com"}); err != nil || len(got) != 2 {
		t.Errorf("alice's requests: %d %v", len(got), err)
	}
	if got, err := s.Find(ctx, flows.Query{IdempotencyKey: "idem-1"}); err != nil || len(got) != 1 || got[0].ID != "r1" {
		t.Errorf("by idempotency key: %v %v", got, err)
	}
	if got, err := s.Find(ctx, flows.Query{Approver: "dba@example.com"}); err != nil || len(got) != 2 {
		t.Errorf("awaiting dba: %d %v", len(got), err)
	}
	if got, err := s.Expiring(ctx, t0.Add(3*time.Hour), 10); err != nil || len(got) != 1 || got[0].ID != "r1" {
		t.Errorf("expiring: %v %v", got, err)
	}
	if n, err := s.CountByState(ctx); err != nil || n[flows.StatePending] != 2 || n[flows.StateActive] != 1 {
		t.Errorf("counts: %v %v", n, err)
	}
	// The same idempotency key creates nothing new.
	again := flowstest.NewRequest("r9", "alice@example.com", t0)
	if got, created, err := s.Create(ctx, again, flows.Event{Type: flows.EventSubmitted, RequestID: "r9", Actor: "alice@example.com", At: t0}, "idem-0"); err != nil || created || got.ID != "r0" {
		t.Errorf("a retried create: %v %v %v", got, created, err)
	}
	refs, err := s.MessageRefs(ctx, "r0")
	if err != nil || len(refs) != 3 || refs[0].ID != "ts-0" || refs[2].ID != "ts-2" {
		t.Errorf("r0's message refs, oldest first: %v %v", refs, err)
	}
	if c, err := s.Contact(ctx, "teams", "alice@example.com"); err != nil || string(c) != `{"aad":"1"}` {
		t.Errorf("contact: %q %v", c, err)
	}
	// A finished item is still a dedupe record; the open ones are taken.
	for k, want := range map[string]bool{"slack:t:2": false, "slack:t:1": false, "slack:t:new": true} {
		if first, err := s.Receive(ctx, flows.InboxItem{Key: k, Platform: "slack", ReceivedAt: t0.Add(time.Hour)}); err != nil || first != want {
			t.Errorf("receive %s: first=%v %v, want %v", k, first, err, want)
		}
	}
	taken, err := s.TakeInbox(ctx, t0.Add(30*time.Second), time.Minute, 10)
	if err != nil || len(taken) != 2 || taken[0].Key != "slack:t:1" || string(taken[0].Payload) != "pslack:t:1" {
		t.Errorf("taken: %+v %v", taken, err)
	}
	if cur, err := s.Cursor(ctx); err != nil || cur != 3 {
		t.Errorf("outbox cursor: %d %v", cur, err)
	}
	pend, err := s.Pending(ctx, 10)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	// A newer card coalesces into the waiting one; a new delivery gets a
	// new id.
	out, err := s.Enqueue(ctx, 4,
		flows.Delivery{Conversation: "slack:dm:olivia", Platform: "slack", What: "card", RequestID: "r0", Coalesce: "card:r0", EventSeq: 4, CreatedAt: t0, Payload: []byte("y")},
		flows.Delivery{Conversation: "slack:dm:bob", Platform: "slack", What: "notice", CreatedAt: t0})
	if err != nil || len(out) != 2 || out[0].ID != pend[1].ID || out[1].ID != 3 {
		t.Errorf("enqueue after the copy: %+v %v (pending %+v)", out, err, pend)
	}
	if v, err := s.SignIn(ctx, "binding", "slack:U1", t0.AddDate(1, 0, 0)); err != nil || string(v) != `{"subject":"s1"}` {
		t.Errorf("binding: %q %v", v, err)
	}
	if _, err := s.SignIn(ctx, "link", "L1", t0.Add(2*time.Hour)); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Errorf("an expired link: %v", err)
	}
	if n, err := s.SinkCursor(ctx, "siem"); err != nil || n != 4 {
		t.Errorf("sink cursor: %d %v", n, err)
	}
	// The chain goes on from the copied head.
	if err := s.AppendEvents(ctx, flows.Event{Type: flows.EventAccessReview, Actor: flows.SystemActor, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("the chain after a new record: %v", err)
	}
}

func openBolt(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// bbolt to etcd and back: every kind of record arrives, the chain has the
// same head on both sides, and each store runs on its copy.
func TestCopyBoltToEtcdAndBack(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := openBolt(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	want := export(t, src)
	sum, err := src.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}

	cli := etcdtest.Start(t, 1).Client()
	mid, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/copy/", MaxTxnOps: 32})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := storecopy.Copy(ctx, src, mid)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Audit != sum || len(rep.Counts) != len(record.Kinds()) {
		t.Fatalf("report: %+v, want the chain %+v and every kind", rep, sum)
	}
	if got := export(t, mid); !slices.Equal(got, want) {
		t.Fatalf("etcd holds:\n%q\nthe source:\n%q", got, want)
	}

	back := openBolt(t, filepath.Join(dir, "back.db"))
	if rep, err := storecopy.Copy(ctx, mid, back); err != nil || rep.Audit != sum {
		t.Fatalf("back to bbolt: %+v %v", rep, err)
	}
	if got := export(t, back); !slices.Equal(got, want) {
		t.Fatalf("bbolt holds after the round trip:\n%q\nthe source:\n%q", got, want)
	}
	t.Run("etcd runs on its copy", func(t *testing.T) { works(t, mid) })
	t.Run("bbolt runs on its copy", func(t *testing.T) { works(t, back) })

	// Neither is empty now: a copy onto either is refused.
	other := openBolt(t, filepath.Join(dir, "other.db"))
	fill(t, other)
	if _, err := storecopy.Copy(ctx, other, mid); !errors.Is(err, storecopy.ErrNotEmpty) {
		t.Fatalf("a copy onto a store in use: %v", err)
	}
}

// A chain that does not verify is not copied, and nothing is written.
func TestCopyRefusesABrokenChain(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "src.db")
	src := openBolt(t, path)
	fill(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := binary.BigEndian.AppendUint64(nil, 2)
		var rec map[string]any
		if err := json.Unmarshal(b.Get(k), &rec); err != nil {
			return err
		}
		rec["actor"] = "mallory@example.com"
		raw, _ := json.Marshal(rec)
		return b.Put(k, raw)
	}); err != nil {
		t.Fatal(err)
	}
	_ = bdb.Close()
	src = openBolt(t, path)

	cli := etcdtest.Start(t, 1).Client()
	dst, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/broken/"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = storecopy.Copy(ctx, src, dst)
	var broken *flows.BrokenChainError
	if !errors.As(err, &broken) || broken.Seq != 2 {
		t.Fatalf("copy of a tampered chain: %v", err)
	}
	if empty, err := storecopy.Empty(ctx, dst); err != nil || !empty {
		t.Fatalf("the destination after a refused copy: empty=%v %v", empty, err)
	}
}

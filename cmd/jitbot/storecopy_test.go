package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// `jitbot store copy` moves a jitbot's store from bbolt to etcd and back:
// refused while a jitbot holds the source, and onto a store that holds
// something unless -force; the copy's chain has the source's head, and a
// jitbot serves on it with the requests it had.
func TestStoreCopyBoltToEtcdAndBack(t *testing.T) {
	c := etcdtest.Start(t, 1)
	h := rigtest.New(t, nil)
	h.Start()
	addr := h.Addr()
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-7 checkout errors")
	card := h.WaitDM(rig.Olivia, "Approve")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")
	rs, err := h.Main.Service().Requests(h.Ctx, flows.Query{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("requests: %v %v", rs, err)
	}
	id := rs[0].ID

	// A second configuration, on etcd.
	raw, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	etcdYAML := filepath.Join(filepath.Dir(h.ConfigPath), "etcd.yaml")
	onEtcd := strings.Replace(string(raw), "store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /moved/}}", c.Endpoints()[0]), 1)
	if err := os.WriteFile(etcdYAML, []byte(onEtcd), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI("store", "copy", "-from", h.StorePath(), "-to", etcdYAML)
	if code != 1 || !strings.Contains(out, "a jitbot is running on it (it holds the file's lock)") || !strings.Contains(out, "nothing was copied") {
		t.Fatalf("a copy of a store jitbot holds: %d %s", code, out)
	}
	h.Stop()
	db, err := store.Open(h.StorePath(), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := db.VerifyAudit(h.Ctx)
	_ = db.Close()
	if err != nil || sum.Records < 4 {
		t.Fatalf("the source's chain: %+v %v", sum, err)
	}

	code, out = runCLI("store", "copy", "-from", h.StorePath(), "-to", etcdYAML)
	want := fmt.Sprintf("audit log verified on both sides (%d records, head %s)", sum.Records, sum.Head)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "1 request") {
		t.Fatalf("bbolt to etcd: %d %s", code, out)
	}
	code, out = runCLI("store", "copy", "-from", h.StorePath(), "-to", etcdYAML)
	if code != 1 || !strings.Contains(out, "is not empty: pass -force") {
		t.Fatalf("a second copy onto etcd: %d %s", code, out)
	}
	code, out = runCLI("store", "copy", "-from", h.StorePath(), "-to", etcdYAML, "-force")
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("a forced copy onto etcd: %d %s", code, out)
	}

	// And back, to a new bbolt file; onto one that holds a store, -force
	// keeps it beside.
	back := filepath.Join(t.TempDir(), "back.db")
	if code, out = runCLI("store", "copy", "-from", etcdYAML, "-to", back); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("etcd to bbolt: %d %s", code, out)
	}
	if code, out = runCLI("store", "copy", "-from", etcdYAML, "-to", back, "-force"); code != 0 || !strings.Contains(out, "kept at "+back+".before-copy") {
		t.Fatalf("etcd onto a bbolt store: %d %s", code, out)
	}
	if code, out = runCLI("store", "copy", "-from", back, "-to", back); code != 1 || !strings.Contains(out, "the same store") {
		t.Fatalf("a store onto itself: %d %s", code, out)
	}

	// A jitbot serves on etcd with what was copied; while it runs, its
	// store is not copied.
	h2 := rigtest.New(t, nil)
	h2.EditConfig("store: {path: "+h2.StorePath()+"}", fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /moved/}}", c.Endpoints()[0]))
	h2.Start()
	if r, err := h2.Main.Store().Get(h2.Ctx, id); err != nil || r.State != flows.StateActive {
		t.Fatalf("the copied grant on etcd: %v %v", r, err)
	}
	if code, out = runCLI("store", "copy", "-from", etcdYAML, "-to", filepath.Join(t.TempDir(), "x.db")); code != 1 || !strings.Contains(out, "a jitbot is running on it (a replica campaigns") {
		t.Fatalf("a copy of an etcd store jitbot serves on: %d %s", code, out)
	}
	s, err := etcdstore.New(h2.Ctx, c.Client(), etcdstore.Options{Prefix: "/moved/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.VerifyAudit(h2.Ctx); err != nil || got.Records < sum.Records {
		t.Fatalf("the chain on etcd: %+v %v", got, err)
	}
}

func TestStoreCopyUsage(t *testing.T) {
	if code, out := runCLI("store", "copy", "-from", "a.db"); code != 2 || !strings.Contains(out, "-from and -to are required") {
		t.Fatalf("no -to: %d %s", code, out)
	}
	if code, out := runCLI("store", "copy", "-from", filepath.Join(t.TempDir(), "none.db"), "-to", filepath.Join(t.TempDir(), "b.db")); code != 1 || !strings.Contains(out, "the source, bbolt store") {
		t.Fatalf("a missing source: %d %s", code, out)
	}
	// A file of release 1, not migrated: its outbox cursor would be missing.
	raw, err := os.ReadFile("../../store/testdata/release-1.db")
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "release-1.db")
	if err := os.WriteFile(old, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "new.db")
	if code, out := runCLI("store", "copy", "-from", old, "-to", to); code != 1 || !strings.Contains(out, "is of schema version 1, which this jitbot copies once migrated") {
		t.Fatalf("an old file: %d %s", code, out)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Fatalf("a refused copy left %s: %v", to, err)
	}

	// A chain rewritten after the fact is refused, and the file the copy
	// made for it goes.
	tampered := filepath.Join(t.TempDir(), "tampered.db")
	db, err := store.Open(tampered, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.AppendEvents(t.Context(), flows.Event{Type: flows.EventAccessReview, Actor: flows.SystemActor, At: time.Unix(int64(i), 0), Message: "review"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	bdb, err := bolt.Open(tampered, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := binary.BigEndian.AppendUint64(nil, 2)
		return b.Put(k, []byte(strings.Replace(string(b.Get(k)), "review", "nothing to see", 1)))
	}); err != nil {
		t.Fatal(err)
	}
	_ = bdb.Close()
	if code, out := runCLI("store", "copy", "-from", tampered, "-to", to); code != 1 || !strings.Contains(out, "the source's audit chain does not verify, nothing was copied") || !strings.Contains(out, "record 2") {
		t.Fatalf("a tampered chain: %d %s", code, out)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Fatalf("a refused copy left %s: %v", to, err)
	}
}

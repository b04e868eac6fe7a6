package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/internal/record"
)

// backupTo writes db's snapshot to a new file in dir.
func backupTo(t *testing.T, db *DB, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Backups taken while writers append to the audit log are each the store
// as of one commit: every one verifies, and holds at least what was
// committed before it began.
func TestBackupUnderWritesIsConsistent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTemp(t)
	appendN(t, db, 10)

	var committed atomic.Uint64
	committed.Store(10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := flows.Event{Type: flows.EventOrphanDeleted, RequestID: "r", Actor: "writer", At: flowstest.T0.Add(time.Duration(i) * time.Second), Message: strings.Repeat("x", 200*w)}
				if err := db.AppendEvents(ctx, ev); err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
			}
		})
	}
	for committed.Load() < 100 {
		time.Sleep(time.Millisecond) // the writers are under way
	}
	start := committed.Load()
	var last uint64
	// At least 5 backups, and on until writes committed while they were
	// taken (a slow disk may take its time over a commit).
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 5 || committed.Load() == start && time.Now().Before(deadline); i++ {
		before := committed.Load()
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		n := backupTo(t, db, path)
		snap, err := VerifySnapshot(ctx, path)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		if snap.Size != n || snap.Version != SchemaVersion || snap.Records < before || snap.Records < last {
			t.Fatalf("backup %d: %+v, %d bytes written, %d records committed before it began, %d in the backup before", i, snap, n, before, last)
		}
		last = snap.Records
	}
	during := committed.Load() - start
	close(stop)
	wg.Wait()
	if during == 0 {
		t.Fatal("the writers wrote nothing while the backups were taken")
	}
}

// snapshotOf is a snapshot of a store holding n audit records, changed by
// tamper (nil: as written).
func snapshotOf(t *testing.T, n int, tamper func(tx *bolt.Tx) error) string {
	t.Helper()
	db := openTemp(t)
	appendN(t, db, n)
	if tamper != nil {
		if err := db.bolt.Update(tamper); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	backupTo(t, db, path)
	return path
}

func records(t *testing.T, path string) uint64 {
	t.Helper()
	snap, err := VerifySnapshot(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Records
}

// truncated is a copy of the file at path without its second half.
func truncated(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	half := path + ".half"
	if err := os.WriteFile(half, raw[:len(raw)/2], 0o600); err != nil {
		panic(err)
	}
	return half
}

// scribbled is a copy of the file at path with its pages after the meta
// pages overwritten by junk.
func scribbled(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	for i := 2 * os.Getpagesize(); i < len(raw); i++ {
		raw[i] = byte(i*7 + 3)
	}
	out := path + ".scribbled"
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		panic(err)
	}
	return out
}

// leftovers fails the test when Restore left a file behind in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	snap := snapshotOf(t, 7, nil)

	// Where no store is.
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.db")
	res, err := Restore(ctx, snap, path, RestoreOptions{})
	if err != nil || res.Records != 7 || res.Previous != "" || res.Version != SchemaVersion {
		t.Fatalf("restore into an empty directory: %+v %v", res, err)
	}
	leftovers(t, dir, "jitbot.db")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the restored file: %v %v", fi, err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, 1) // it runs on
	if sum, err := db.VerifyAudit(ctx); err != nil || sum.Records != 8 {
		t.Fatalf("the restored store: %+v %v", sum, err)
	}

	// Over a store a process holds: refused, whatever -force says.
	_, err = Restore(ctx, snapshotOf(t, 2, nil), path, RestoreOptions{Force: true, LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("restore over a store in use: %v", err)
	}
	leftovers(t, dir, "jitbot.db")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Over a store nobody holds: only with Force, which keeps it.
	if _, err := Restore(ctx, snapshotOf(t, 2, nil), path, RestoreOptions{}); !errors.Is(err, ErrStoreExists) || !strings.Contains(err.Error(), "jitbot.db.before-restore") {
		t.Fatalf("restore over a store without Force: %v", err)
	}
	res, err = Restore(ctx, snapshotOf(t, 2, nil), path, RestoreOptions{Force: true})
	if err != nil || res.Previous != BeforeRestore(path) || res.Records != 2 {
		t.Fatalf("restore over a store with Force: %+v %v", res, err)
	}
	leftovers(t, dir, "jitbot.db", "jitbot.db.before-restore")
	if n := records(t, path); n != 2 {
		t.Errorf("the store holds %d records, want the snapshot's 2", n)
	}
	if n := records(t, BeforeRestore(path)); n != 8 {
		t.Errorf("the old store kept holds %d records, want 8", n)
	}
	// A second restore does not overwrite the store the first one kept.
	if _, err := Restore(ctx, snapshotOf(t, 3, nil), path, RestoreOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "from an earlier restore: move it away first") {
		t.Fatalf("restore with a .before-restore there: %v", err)
	}
	if n := records(t, path); n != 2 {
		t.Errorf("a refused restore changed the store: %d records", n)
	}
	leftovers(t, dir, "jitbot.db", "jitbot.db.before-restore")
}

// A snapshot that is not a whole jitbot store of a version this jitbot
// reads is refused before anything is put in place.
func TestRestoreRefusesABadSnapshot(t *testing.T) {
	ctx := context.Background()
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	raw, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	tests := []struct {
		name, snapshot, want string
	}{
		{"edited audit record", snapshotOf(t, 5, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			var rec record.Audit
			_ = json.Unmarshal(b.Get(be64(3)), &rec)
			rec.Actor = "mallory@example.com"
			raw, _ := json.Marshal(rec)
			return b.Put(be64(3), raw)
		}), "backup.db: the audit chain does not verify: audit log broken at record 3"},
		{"truncated audit log", snapshotOf(t, 5, func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(be64(5)) }), "the audit chain does not verify"},
		{"later schema", snapshotOf(t, 1, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("99")) }), `schema version "99"`},
		{"not a jitbot store", foreign, "not a jitbot store"},
		{"not a bbolt file", garbage, "garbage.db is not a bbolt file"},
		{"truncated", truncated(snapshotOf(t, 300, nil)), "is truncated"},
		{"scribbled over", scribbled(snapshotOf(t, 300, nil)), "is damaged"},
		{"no file", filepath.Join(t.TempDir(), "none.db"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifySnapshot(ctx, tt.snapshot); err == nil {
				t.Fatal("VerifySnapshot passed it")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "jitbot.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, db, 4)
			_ = db.Close()
			_, err = Restore(ctx, tt.snapshot, path, RestoreOptions{Force: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
			leftovers(t, dir, "jitbot.db")
			if n := records(t, path); n != 4 {
				t.Errorf("the store holds %d records after a refused restore, want 4", n)
			}
		})
	}
}

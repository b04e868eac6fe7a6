package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
)

// A backup taken under load restores to a store whose audit chain
// verifies: requests go through the service and events straight into the
// store while `jitbot backup` takes its snapshot through the running
// server's admin API; `jitbot restore` then puts it in place of the store,
// which opens, verifies and serves.
func TestBackupUnderLoadRestores(t *testing.T) {
	h := rigtest.New(t, nil)
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)
	h.StartAt(addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The load: requests submitted and withdrawn through the service (each
	// a few commits and audit records), and audit events appended by
	// writers of their own, until the backups are taken.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		if ctx.Err() == nil {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}
	}
	submitted := make(chan struct{}, 1)
	for w := range 2 {
		wg.Go(func() {
			svc, requester := h.Main.Service(), rig.Requester(w).Email
			for i := 0; ctx.Err() == nil; i++ {
				r, err := svc.Submit(ctx, flows.SubmitInput{Requester: requester, Roles: []string{"read"}, Reason: fmt.Sprintf("load %d", i), Origin: "test",
					Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "sales", Collection: "orders"}})
				if err != nil {
					fail(fmt.Errorf("submit: %w", err))
					return
				}
				if _, err := svc.Cancel(ctx, r.ID, requester); err != nil {
					fail(fmt.Errorf("cancel: %w", err))
					return
				}
				select {
				case submitted <- struct{}{}:
				default:
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				ev := flows.Event{Type: flows.EventOrphanDeleted, RequestID: "load", Actor: "jitbot", At: time.Now(), Message: fmt.Sprintf("writer %d event %d", w, i)}
				if err := h.Main.Store().AppendEvents(ctx, ev); err != nil {
					fail(fmt.Errorf("append: %w", err))
					return
				}
			}
		})
	}
	<-submitted
	h.Eventually("the load to be under way", func() bool {
		sum, err := h.Main.Store().VerifyAudit(ctx)
		return err == nil && sum.Records >= 300
	})

	dir := t.TempDir()
	backup := filepath.Join(dir, "jitbot-backup.db")
	// At least 3 backups (the last one is kept), and on until the load
	// has committed while they were taken.
	var first, before, during flows.AuditSummary
	for i, deadline := 0, time.Now().Add(30*time.Second); i < 3 || during.Records == first.Records; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("nothing was written while %d backups were taken", i)
		}
		var err error
		if before, err = h.Main.Store().VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = before
		}
		code, out := runCLI("backup", "-config", h.ConfigPath, "-o", backup)
		if code != 0 || !strings.Contains(out, "written to "+backup+" from the running server") || !strings.Contains(out, "audit log verified") {
			t.Fatalf("backup %d under load: exit %d\n%s", i, code, out)
		}
		if during, err = h.Main.Store().VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v %v", fi, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("backup left files behind: %v", entries)
	}

	// While jitbot runs, restore is refused: it holds the store.
	code, out := runCLI("restore", "-config", h.ConfigPath, "-i", backup, "-force")
	if code != 1 || !strings.Contains(out, "is in use: stop jitbot") {
		t.Fatalf("restore while jitbot runs: exit %d\n%s", code, out)
	}

	cancel()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("the load failed: %v", failures)
	}
	after, err := h.Main.Store().VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.Stop()

	// jitbot is stopped: restore refuses to replace the store without
	// -force, and with it keeps the old one.
	code, out = runCLI("restore", "-config", h.ConfigPath, "-i", backup)
	if code != 1 || !strings.Contains(out, "a store is already at "+h.StorePath()+": pass -force") {
		t.Fatalf("restore over the store without -force: exit %d\n%s", code, out)
	}
	code, out = runCLI("restore", "-i", backup, "-force", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "restored "+backup+" to "+h.StorePath()) || !strings.Contains(out, "kept at "+h.StorePath()+".before-restore") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}

	// The restored store opens, its chain verifies, and it holds what was
	// committed before the backup began and no more than the whole run.
	cfg, err := h.Config()
	if err != nil {
		t.Fatal(err)
	}
	db, err := app.OpenBackend(cfg, false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := db.VerifyAudit(context.Background())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("the restored store's audit chain: %v", err)
	}
	if restored.Records < before.Records || restored.Records > after.Records {
		t.Fatalf("the restored store holds %d audit records; %d were committed before the backup began, %d by the end", restored.Records, before.Records, after.Records)
	}
	t.Logf("audit records: %d before the first backup, %d before the last, %d in it, %d after it, %d at the end", first.Records, before.Records, restored.Records, during.Records, after.Records)

	// And jitbot serves on it.
	h.StartAt(addr)
	code, out = runCLI("audit", "verify", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("audit log OK: %d records", restored.Records)) {
		t.Fatalf("audit verify on the restored store: exit %d\n%s", code, out)
	}
}

// With no server up, backup reads the store itself; -o - writes the
// snapshot to stdout and says so on stderr.
func TestBackupWithoutAServer(t *testing.T) {
	h := rigtest.New(t, nil)
	h.UseAddr(rigtest.FreePort(t))
	h.Start()
	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-1")
	h.WaitDM(rig.Olivia, "Approve")
	h.Stop()

	var stdout, stderr bytes.Buffer
	code := cli(context.Background(), []string{"backup", "-o", "-", "-config", h.ConfigPath}, &stdout, &stderr, func(string) (string, bool) { return "", false })
	if code != 0 || !strings.Contains(stderr.String(), "written to stdout from the store (no server runs)") {
		t.Fatalf("backup -o -: exit %d\n%s", code, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "piped.db")
	if err := os.WriteFile(path, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := app.VerifyBackup(context.Background(), path)
	if err != nil || info.Records == 0 || info.Size != int64(stdout.Len()) {
		t.Fatalf("the piped backup: %+v %v", info, err)
	}

	file := filepath.Join(t.TempDir(), "file.db")
	code, out := runCLI("backup", "-config", h.ConfigPath, "-o", file)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("from the store (no server runs): %d bytes", info.Size)) {
		t.Fatalf("backup -o file without a server: exit %d\n%s", code, out)
	}

	// Into an empty place, restore needs no -force.
	h.EditConfig("path: "+h.StorePath(), "path: "+filepath.Join(t.TempDir(), "new.db"))
	code, out = runCLI("restore", "-config", h.ConfigPath, "-i", file)
	if code != 0 || strings.Contains(out, "kept at") || !strings.Contains(out, fmt.Sprintf("(%d records", info.Records)) {
		t.Fatalf("restore into an empty place: exit %d\n%s", code, out)
	}

	// A backup that does not verify is not restored.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.db")
	if err := os.WriteFile(broken, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runCLI("restore", "-config", h.ConfigPath, "-i", broken, "-force")
	if code != 1 || !strings.Contains(out, "nothing was restored") {
		t.Fatalf("restore of a truncated backup: exit %d\n%s", code, out)
	}
}

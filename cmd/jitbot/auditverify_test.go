package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/auditsink"
)

// jitbot audit verify -against checks the store against a sink's copy: OK
// when they agree, the missing records when the store lost some, and the
// first changed record when the store was rewritten after streaming (a
// record changed and the chain recomputed: it verifies on its own).
func TestAuditVerifyAgainstASinksCopy(t *testing.T) {
	h := rigtest.New(t, nil) // a valid config; no server runs, so the CLI opens the store
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	write := func(path string, n int, third string) []flows.AuditRecord {
		t.Helper()
		_ = os.Remove(path)
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for i := range n {
			msg := fmt.Sprint("finding ", i)
			if i == 2 {
				msg = third
			}
			if err := db.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: at.Add(time.Duration(i) * time.Second), Message: msg}); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := db.AuditAfter(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	// What a sink received, as its receiver saved it.
	recs := write(h.StorePath(), 5, "deleted jit-mallory-1")
	var copy bytes.Buffer
	enc := json.NewEncoder(&copy)
	for _, r := range recs {
		if err := enc.Encode(auditsink.EventOf(recs[0].Hash, r)); err != nil {
			t.Fatal(err)
		}
	}
	copyPath := filepath.Join(t.TempDir(), "siem.jsonl")
	if err := os.WriteFile(copyPath, copy.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI("audit", "verify", "-against", copyPath, "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "audit log OK against the copy: 5 of 5 records compared") {
		t.Fatalf("a store and its sink's copy: exit %d, %q", code, out)
	}

	write(h.StorePath(), 3, "deleted jit-mallory-1") // the store lost its last two records
	code, out = runCLI("audit", "verify", "-against", copyPath, "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(out, "records in the copy missing from the store: 4-5") {
		t.Fatalf("a store missing records: exit %d, %q", code, out)
	}

	write(h.StorePath(), 5, "nothing to see") // record 3 rewritten, the chain recomputed
	if code, out := runCLI("audit", "verify", "-config", h.ConfigPath); code != 0 {
		t.Fatalf("the rewritten store does not verify on its own (the test would prove nothing): exit %d, %q", code, out)
	}
	code, out = runCLI("audit", "verify", "-against", copyPath, "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(out, "first mismatch at record 3") {
		t.Fatalf("a rewritten store: exit %d, %q", code, out)
	}

	code, out = runCLI("audit", "verify", "-against", filepath.Join(t.TempDir(), "nope.jsonl"), "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(out, "no such file") {
		t.Fatalf("a missing copy: exit %d, %q", code, out)
	}
}

// jitbot check reports a bad audit sink with its path and line, as serve
// would refuse it.
func TestCheckReportsBadAuditSinks(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "signing")
	if err := os.WriteFile(secret, []byte("a-signing-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1-2-Kq3", "ATLAS_CLIENT_ID": "mdb_sa_id_1", "ATLAS_CLIENT_SECRET": "mdb_sa_sk_1"}
	text := strings.Replace(policyYAML, "/run/secrets/slack-signing", secret, 1)
	lines := strings.Count(text, "\n")
	bad := text + "audit:\n  sinks:\n    - name: siem\n      webhook: {url: https://siem.example.com/jitbot, secret: short}\n    - name: logs\n      syslog: {address: logs.example.com, cert_file: /etc/jitbot/client.pem}\n"
	var out bytes.Buffer
	code := cli(context.Background(), []string{"check", "-config", writeConfig(t, bad)}, &out, &out, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{
		fmt.Sprintf(":%d: audit.sinks[0].webhook.secret: too short", lines+4),
		fmt.Sprintf(":%d: audit.sinks[1].syslog.address: \"logs.example.com\" is not a host:port", lines+6),
		fmt.Sprintf(":%d: audit.sinks[1].syslog.cert_file: cert_file and key_file go together", lines+6),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}

// With jitbot serving, audit verify -against reads the store through the
// admin API (the server holds the file).
func TestAuditVerifyAgainstThroughTheServer(t *testing.T) {
	h := rigtest.New(t, nil)
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)
	h.StartAt(addr)
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-123 checkout errors")
	var recs []flows.AuditRecord
	h.Eventually("the submission in the audit log", func() bool {
		var err error
		recs, err = h.Main.Store().AuditAfter(context.Background(), 0, 0)
		return err == nil && len(recs) > 0
	})
	dir := t.TempDir()
	save := func(name string, evs []auditsink.Event) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, ev := range evs {
			_ = enc.Encode(ev)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var evs []auditsink.Event
	for _, r := range recs {
		evs = append(evs, auditsink.EventOf(recs[0].Hash, r))
	}
	code, out := runCLI("audit", "verify", "-against", save("good.jsonl", evs), "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "audit log OK against the copy") {
		t.Fatalf("through the server: exit %d, %q", code, out)
	}
	evs[0].Hash = strings.Repeat("0", 64) // what was sent is not what the store holds
	code, out = runCLI("audit", "verify", "-against", save("other.jsonl", evs), "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(out, "first mismatch at record 1") {
		t.Fatalf("a differing copy through the server: exit %d, %q", code, out)
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/store"
)

// Scripts read grants list -json: an empty store is [], not null; and
// audit verify refuses a -since it could not honour instead of ignoring it.
func TestCLIOutputsForScripts(t *testing.T) {
	h := newHarness(t, nil) // a valid config; no server runs, so the CLI opens the store
	db, err := store.Open(filepath.Join(h.dir, "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI("grants", "list", "-json", "-config", h.cfg)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("grants list -json on an empty store: exit %d, %q", code, out)
	}
	code, out = runCLI("audit", "verify", "-since", "24h", "-config", h.cfg)
	if code != 2 || !strings.Contains(out, "-since does not apply") {
		t.Fatalf("audit verify -since: exit %d, %q", code, out)
	}
}

// jitbot grants revoke ends a grant through the running server's admin API,
// and by itself when no server runs; only an admin of the policy may, and
// the audit says which way it came.
func TestGrantsRevoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := newHarness(t, nil)
	addr := freePort(t)
	h.useAddr(addr)
	srv := startServer(t, h, addr)
	var ids []string
	for i, db := range []string{"orders", "customers"} {
		h.slash(addr, alice, "request prod/Cluster0/sales/"+db+" read 1h INC-"+db)
		card := h.waitDM(olivia, db)
		h.click(addr, olivia, card, "approve:")
		for countDMs(h, alice, "Password") < i+1 {
			h.waitDM(alice, "Password")
		}
		for _, b := range card.Buttons() {
			if id, ok := strings.CutPrefix(b.Value, "approve:"); ok {
				ids = append(ids, id)
			}
		}
	}
	if n := len(h.atlas.Users(testProject)); n != 2 || len(ids) != 2 {
		t.Fatalf("%d Atlas users and request ids %v, want 2", n, ids)
	}

	if code, out := runCLI("grants", "revoke", "-as", alice.email, "-config", h.cfg, ids[0]); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("revoke as a non-admin: exit %d %s", code, out)
	}
	code, out := runCLI("grants", "revoke", "-reason", "offboarding", "-config", h.cfg, ids[0])
	if code != 0 || !strings.Contains(out, ids[0]) {
		t.Fatalf("revoke through the admin API: exit %d %s", code, out)
	}
	h.waitDM(alice, "Access revoked")
	srv.stop()

	// The server is down: the CLI revokes against Atlas itself.
	code, out = runCLI("grants", "revoke", "-config", h.cfg, ids[1])
	if code != 0 || !strings.Contains(out, ids[1]) {
		t.Fatalf("revoke without a server: exit %d %s", code, out)
	}
	if n := len(h.atlas.Users(testProject)); n != 0 {
		t.Fatalf("%d Atlas users left after both revocations", n)
	}
	code, out = runCLI("audit", "export", "-config", h.cfg)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	for _, want := range []string{`offboarding (via the admin API)`, `via the jitbot CLI`, `"actor":"dana@example.com"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the audit lacks %q:\n%s", want, out)
		}
	}
}

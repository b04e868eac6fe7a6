package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/store"
)

// Scripts read grants list -json: an empty store is [], not null; and
// audit verify refuses a -since it could not honour instead of ignoring it.
func TestCLIOutputsForScripts(t *testing.T) {
	h := rigtest.New(t, nil) // a valid config; no server runs, so the CLI opens the store
	db, err := store.Open(h.StorePath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI("grants", "list", "-json", "-config", h.ConfigPath)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("grants list -json on an empty store: exit %d, %q", code, out)
	}
	code, out = runCLI("audit", "verify", "-since", "24h", "-config", h.ConfigPath)
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
	h := rigtest.New(t, nil)
	srv, addr := h.ServeFresh(os.Args[0], execEnv+"=1")
	var ids []string
	for i, db := range []string{"orders", "customers"} {
		h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/"+db+" read 1h INC-"+db)
		card := h.WaitDM(rig.Olivia, db)
		h.Click(addr, rig.Olivia, card, "approve:")
		h.Eventually("the credentials", func() bool { return h.CountDMs(rig.Alice, "Password") >= i+1 })
		for _, b := range card.Buttons() {
			if id, ok := strings.CutPrefix(b.Value, "approve:"); ok {
				ids = append(ids, id)
			}
		}
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 2 || len(ids) != 2 {
		t.Fatalf("%d Atlas users and request ids %v, want 2", n, ids)
	}

	if code, out := runCLI("grants", "revoke", "-as", rig.Alice.Email, "-config", h.ConfigPath, ids[0]); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("revoke as a non-admin: exit %d %s", code, out)
	}
	code, out := runCLI("grants", "revoke", ids[0], "-reason", "offboarding", "-config", h.ConfigPath) // flags after the id
	if code != 0 || !strings.Contains(out, ids[0]) {
		t.Fatalf("revoke through the admin API: exit %d %s", code, out)
	}
	h.WaitDM(rig.Alice, "Access revoked")
	srv.Stop()

	// The server is down: the CLI revokes against Atlas itself.
	code, out = runCLI("grants", "revoke", "-config", h.ConfigPath, ids[1])
	if code != 0 || !strings.Contains(out, ids[1]) {
		t.Fatalf("revoke without a server: exit %d %s", code, out)
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("%d Atlas users left after both revocations", n)
	}
	code, out = runCLI("audit", "export", "-config", h.ConfigPath)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	for _, want := range []string{`offboarding (via the admin API)`, `via the jitbot CLI`, `"actor":"dana@example.com"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the audit lacks %q:\n%s", want, out)
		}
	}
}

// With no server up, grants revoke opens the store and Atlas, nothing
// more: no listener (admin_listen taken by something else does not
// matter), no chat adapter (Slack and Teams see no call), and it says
// who will be told once a server runs.
func TestGrantsRevokeOfflineOpensOnlyTheStore(t *testing.T) {
	h := rigtest.New(t, nil)
	h.Start()
	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-1")
	card := h.WaitDM(rig.Olivia, "Approve")
	h.Click(h.Addr(), rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")
	b, _ := rig.Button(card, "approve:")
	id := strings.TrimPrefix(b.Value, "approve:")
	h.Sent() // the cards catching up with the approval are not the revoke's calls
	h.Stop()

	taken := httptest.NewServer(http.NotFoundHandler()) // not a jitbot: its /healthz is a 404
	defer taken.Close()
	h.EditConfig(`listen: "127.0.0.1:0"`, `listen: "127.0.0.1:0"`+"\nadmin_listen: "+strings.TrimPrefix(taken.URL, "http://"))
	slackCalls, teamsCalls := len(h.Slack.Calls()), len(h.BF.Calls())
	code, out := runCLI("grants", "revoke", "-config", h.ConfigPath, id)
	if code != 0 || !strings.Contains(out, "request "+id+" is revoked") || !strings.Contains(out, "will be told in Slack or Teams when jitbot next serves") {
		t.Fatalf("revoke without a server: exit %d\n%s", code, out)
	}
	if n := len(h.Slack.Calls()); n != slackCalls {
		t.Errorf("the offline revoke made %d Slack calls", n-slackCalls)
	}
	if n := len(h.BF.Calls()); n != teamsCalls {
		t.Errorf("the offline revoke made %d Bot Framework calls", n-teamsCalls)
	}
	if n := len(h.ManagedUsers()); n != 0 {
		t.Errorf("%d Atlas users left", n)
	}
}

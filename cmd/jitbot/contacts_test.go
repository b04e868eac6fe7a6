package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// boundTo returns the Entra account db's Teams contact of email is bound to, "" without one.
func boundTo(t *testing.T, db flows.ChatState, email string) string {
	t.Helper()
	data, err := db.Contact(t.Context(), teams.Platform, email)
	if flows.ErrorCode(err) == flows.ENOTFOUND {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AadObjectID string `json:"boundAadObjectId"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.AadObjectID
}

// jitbot contacts forget drops a Teams contact and its binding through the running server's
// admin API, which makes the Teams bot forget it in memory too: the new Entra account showing
// the email is accepted at once. With the server down it deletes from the store. Only an admin
// of the policy may; the audit says who, and which way it came.
func TestContactsForget(t *testing.T) {
	h := rigtest.New(t, nil)
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)
	h.StartAt(addr)
	olivia := rig.Olivia.Email

	h.TeamsSay(addr, rig.OliviaInTeams, rig.OliviaConv, "access pending")
	h.Eventually("olivia's contact is bound to her account", func() bool { return boundTo(t, h.Main.Store(), olivia) == "aad-olivia" })

	// Her mailbox moves to a new Entra account, refused while the old binding stands.
	successor := teamstest.Member{ID: "29:olivia-new", Name: "Olivia", Email: olivia, AadObjectID: "aad-olivia-new"}
	h.BF.AddMember(teamstest.AllConversations, successor)
	const successorConv = "a:olivia-new-1on1"
	h.TeamsSay(addr, successor, successorConv, "access pending")
	h.Eventually("the new account is refused", func() bool { return strings.Contains(h.Logs(), `"event":"identity_conflict"`) })

	resp, err := http.Post("http://"+addr+"/admin/contacts/teams/"+olivia+"/forget", "application/json", strings.NewReader(`{"as":"dana@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forget without the admin token: %s", resp.Status)
	}
	if code, out := runCLI("contacts", "forget", "-as", rig.Alice.Email, "-config", h.ConfigPath, olivia); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("forget as a non-admin: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.ConfigPath, "Olivia@Example.com"); code != 0 || !strings.Contains(out, "forgot the Teams contact of olivia@example.com") {
		t.Fatalf("forget through the admin API: exit %d %s", code, out)
	}
	if got := boundTo(t, h.Main.Store(), olivia); got != "" {
		t.Fatalf("the contact is still bound to %q", got)
	}
	if logs := h.Logs(); !strings.Contains(logs, "forget a Teams contact through the admin API") || !strings.Contains(logs, `"remote":"127.0.0.1:`) {
		t.Errorf("the admin API's forget was not logged with its remote address:\n%s", rig.Tail(logs, 3000))
	}
	// Nothing the running bot cached brings the old binding back.
	h.TeamsSay(addr, successor, successorConv, "access pending")
	h.Eventually("the new account binds the email", func() bool { return boundTo(t, h.Main.Store(), olivia) == "aad-olivia-new" })
	if code, out := runCLI("contacts", "forget", "-config", h.ConfigPath, "nobody@example.com"); code != 1 || !strings.Contains(out, "no Teams contact for nobody@example.com") {
		t.Fatalf("forget an unknown contact through the admin API: exit %d %s", code, out)
	}
	h.Stop()

	// The server is down: the CLI deletes from the store itself.
	if code, out := runCLI("contacts", "forget", "-as", rig.Alice.Email, "-config", h.ConfigPath, olivia); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("forget as a non-admin without a server: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.ConfigPath, olivia); code != 0 || !strings.Contains(out, "forgot the Teams contact of olivia@example.com") {
		t.Fatalf("forget without a server: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.ConfigPath, olivia); code != 1 || !strings.Contains(out, "no Teams contact for olivia@example.com") {
		t.Fatalf("forget it again: exit %d %s", code, out)
	}
	for _, bad := range [][]string{{"contacts"}, {"contacts", "drop", olivia}, {"contacts", "forget", "-config", h.ConfigPath}, {"contacts", "forget", "-config", h.ConfigPath, "not-an-email"}} {
		if code, out := runCLI(bad...); code != 2 {
			t.Errorf("%v: exit %d %s", bad, code, out)
		}
	}
	db, err := store.Open(h.StorePath(), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := boundTo(t, db, olivia); got != "" {
		t.Errorf("after the offline forget the contact is bound to %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI("audit", "export", "-config", h.ConfigPath)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	if n := strings.Count(out, `"type":"contact_forgotten"`); n != 2 {
		t.Errorf("%d contact_forgotten records, want 2:\n%s", n, out)
	}
	for _, want := range []string{`"actor":"dana@example.com"`, "forgot the Teams contact of olivia@example.com", "(via the admin API)", "(via the jitbot CLI)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the audit lacks %q:\n%s", want, out)
		}
	}
	if code, out := runCLI("audit", "verify", "-config", h.ConfigPath); code != 0 {
		t.Errorf("audit verify: %d %s", code, out)
	}
}

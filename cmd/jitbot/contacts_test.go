package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// startAt runs jitbot in this process on addr, the address of its configuration, so that the
// CLI finds its admin API. h.stop stops it.
func (h *harness) startAt(addr string) {
	h.t.Helper()
	cfg, err := config.Load(h.cfg, func(string) (string, bool) { return "", false })
	if err != nil {
		h.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.main, err = app.New(h.ctx, cfg, app.Options{Listener: ln, Log: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		h.t.Fatal(err)
	}
	h.runErr = make(chan error, 1)
	go func() { h.runErr <- h.main.Run(h.ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("the server answers", func() bool {
		code, _, err := tryGet("http://" + addr + "/healthz")
		return err == nil && code == http.StatusOK
	})
}

// eventually waits for cond, at most 20 seconds.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("waited for %s; logs:\n%s", what, tail(h.logs.String(), 3000))
		}
	}
}

// teamsAs delivers a message from m in conv to the jitbot at addr.
func (h *harness) teamsAs(addr string, m teamstest.Member, conv, text string) {
	h.t.Helper()
	resp, err := h.bf.Deliver(h.ctx, "http://"+addr+"/teams/messages", h.bf.Message(conv, m, text))
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("teams delivery: %s", resp.Status)
	}
}

// boundTo returns the Entra account db's Teams contact of email is bound to, "" without one.
func boundTo(t *testing.T, db *store.DB, email string) string {
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
	h := newHarness(t, nil)
	addr := freePort(t)
	h.useAddr(addr)
	h.startAt(addr)

	h.teamsAs(addr, oliviaTeams, oliviaConv, "access pending")
	h.eventually("olivia's contact is bound to her account", func() bool { return boundTo(t, h.main.Store(), olivia.email) == "aad-olivia" })

	// Her mailbox moves to a new Entra account, refused while the old binding stands.
	successor := teamstest.Member{ID: "29:olivia-new", Name: "Olivia", Email: olivia.email, AadObjectID: "aad-olivia-new"}
	h.bf.AddMember(teamstest.AllConversations, successor)
	const successorConv = "a:olivia-new-1on1"
	h.teamsAs(addr, successor, successorConv, "access pending")
	h.eventually("the new account is refused", func() bool { return strings.Contains(h.logs.String(), `"event":"identity_conflict"`) })

	resp, err := http.Post("http://"+addr+"/admin/contacts/teams/"+olivia.email+"/forget", "application/json", strings.NewReader(`{"as":"dana@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forget without the admin token: %s", resp.Status)
	}
	if code, out := runCLI("contacts", "forget", "-as", alice.email, "-config", h.cfg, olivia.email); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("forget as a non-admin: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.cfg, "Olivia@Example.com"); code != 0 || !strings.Contains(out, "forgot the Teams contact of olivia@example.com") {
		t.Fatalf("forget through the admin API: exit %d %s", code, out)
	}
	if got := boundTo(t, h.main.Store(), olivia.email); got != "" {
		t.Fatalf("the contact is still bound to %q", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "forget a Teams contact through the admin API") || !strings.Contains(logs, `"remote":"127.0.0.1:`) {
		t.Errorf("the admin API's forget was not logged with its remote address:\n%s", tail(logs, 3000))
	}
	// Nothing the running bot cached brings the old binding back.
	h.teamsAs(addr, successor, successorConv, "access pending")
	h.eventually("the new account binds the email", func() bool { return boundTo(t, h.main.Store(), olivia.email) == "aad-olivia-new" })
	if code, out := runCLI("contacts", "forget", "-config", h.cfg, "nobody@example.com"); code != 1 || !strings.Contains(out, "no Teams contact for nobody@example.com") {
		t.Fatalf("forget an unknown contact through the admin API: exit %d %s", code, out)
	}
	h.stop()

	// The server is down: the CLI deletes from the store itself.
	if code, out := runCLI("contacts", "forget", "-as", alice.email, "-config", h.cfg, olivia.email); code != 1 || !strings.Contains(out, "not an admin") {
		t.Fatalf("forget as a non-admin without a server: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.cfg, olivia.email); code != 0 || !strings.Contains(out, "forgot the Teams contact of olivia@example.com") {
		t.Fatalf("forget without a server: exit %d %s", code, out)
	}
	if code, out := runCLI("contacts", "forget", "-config", h.cfg, olivia.email); code != 1 || !strings.Contains(out, "no Teams contact for olivia@example.com") {
		t.Fatalf("forget it again: exit %d %s", code, out)
	}
	for _, bad := range [][]string{{"contacts"}, {"contacts", "drop", olivia.email}, {"contacts", "forget", "-config", h.cfg}, {"contacts", "forget", "-config", h.cfg, "not-an-email"}} {
		if code, out := runCLI(bad...); code != 2 {
			t.Errorf("%v: exit %d %s", bad, code, out)
		}
	}
	db, err := store.Open(filepath.Join(h.dir, "jitbot.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := boundTo(t, db, olivia.email); got != "" {
		t.Errorf("after the offline forget the contact is bound to %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI("audit", "export", "-config", h.cfg)
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
	if code, out := runCLI("audit", "verify", "-config", h.cfg); code != 0 {
		t.Errorf("audit verify: %d %s", code, out)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

func runCLI(args ...string) (int, string) {
	var out bytes.Buffer
	code := cli(context.Background(), args, &out, &out, func(string) (string, bool) { return "", false })
	return code, out.String()
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("store: {}\nflows:\n  - name: x\n    max_duration: 9d\n    colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing command"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"check", "-config", filepath.Join(dir, "none.yaml")}, 1, "no configuration at " + filepath.Join(dir, "none.yaml")},
		{[]string{"check", "-config", broken}, 1, `broken.yaml:5: unknown key "colour" (in a flow)`},
		{[]string{"grants"}, 2, "want list or revoke"},
		{[]string{"grants", "list", "-state", "happy", "-config", broken}, 2, `unknown state "happy"`},
		{[]string{"audit", "export", "-since", "yesterday", "-config", broken}, 2, "-since \"yesterday\""},
		{[]string{"demo", "-speed", "-1"}, 2, "-speed must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := runCLI(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, out)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	h := rigtest.New(t, nil)
	code, out := runCLI("check", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "OK (1 integration(s), 1 flow(s))") {
		t.Fatalf("check: %d %s", code, out)
	}
	code, out = runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 0 || !strings.Contains(out, "integration prod: OK") {
		t.Fatalf("check -online: %d %s", code, out)
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("the online check left %d users behind", n)
	}
	h.Atlas.Inject(atlastest.Fault{OperationID: "getGroup", Kind: atlastest.FaultServerError})
	code, out = runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 1 || !strings.Contains(out, "integration prod: FAILED") {
		t.Fatalf("check -online with Atlas failing: %d %s", code, out)
	}
}

func TestServeRefusesAnUnreachableAtlas(t *testing.T) {
	h := rigtest.New(t, nil)
	dead := "http://" + rigtest.FreePort(t)
	h.EditConfig(h.Atlas.URL(), dead)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	code := cli(ctx, []string{"serve", "-config", h.ConfigPath}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 1 || !strings.Contains(out.String(), "atlas integration prod at "+dead+" is not reachable") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

// TestServeSurvivesSIGTERMHalfway runs `jitbot serve` as a real process
// against the simulators, stops it with SIGTERM in the middle of journeys
// (once while waiting for approval, once while Atlas is creating the user),
// restarts it, and checks each journey completes with nothing lost or doubled.
func TestServeSurvivesSIGTERMHalfway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := rigtest.New(t, nil)
	srv, addr := h.ServeFresh(os.Args[0], execEnv+"=1")

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9")
	card := h.WaitDM(rig.Olivia, "Approve")
	srv.Stop() // waiting for approval

	srv = h.Serve(os.Args[0], addr, execEnv+"=1")
	h.Click(addr, rig.Olivia, card, "approve:")
	creds := h.WaitDM(rig.Alice, "Password")

	// While the server runs, the CLI goes through its admin API.
	code, out := runCLI("grants", "list", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("grants list through the admin API: %d %s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if !strings.Contains(creds.AllText(), id) {
		t.Fatalf("grants list shows %s; credentials:\n%s", id, creds.AllText())
	}

	// Second journey: SIGTERM while Atlas is slow to create the user.
	// (Atlas takes 3 seconds to create the user, twice: the transport may retry.)
	h.Atlas.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultLatency, Latency: 3 * time.Second, Times: 2})
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/customers read 1h INC-10")
	card2 := h.WaitDM(rig.Olivia, "customers")
	h.Click(addr, rig.Olivia, card2, "approve:")
	h.WaitCalls("createDatabaseUser", 2)
	srv.Stop()
	h.Atlas.ClearFaults()
	srv = h.Serve(os.Args[0], addr, execEnv+"=1")
	h.Eventually("the interrupted grant completes", func() bool { return h.CountDMs(rig.Alice, "Password") >= 2 })
	// A duplicate of the resumed provisioning would still be at work: let
	// Slack and Atlas go quiet for longer than a sweep interval, so the
	// restarted server's sweeps have had their turn too.
	quiet := func() {
		t.Helper()
		atlasCalls := func() (int64, error) { return int64(len(h.Atlas.Calls())), nil }
		if err := rig.WaitQuiet(h.Ctx, app.SweepInterval+time.Second, time.Minute, h.Slack, atlasCalls); err != nil {
			t.Fatalf("%v:\n%s", err, srv.Logs())
		}
	}
	quiet()
	if n := h.CountDMs(rig.Alice, "Password"); n != 2 {
		t.Fatalf("%d credentials DMs for 2 grants", n)
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 2 {
		t.Fatalf("%d Atlas users for 2 grants", n)
	}

	// Revoke the first grant from Slack and stop for good.
	h.Slash(addr, rig.Alice, "revoke "+id+" done")
	h.WaitDM(rig.Alice, "Access revoked")
	srv.Stop()

	// With the server down the CLI opens the store itself.
	code, out = runCLI("audit", "verify", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	code, out = runCLI("audit", "export", "-config", h.ConfigPath)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	var types []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if i := strings.Index(sc.Text(), `"type":"`); i >= 0 {
			types = append(types, strings.SplitN(sc.Text()[i+8:], `"`, 2)[0])
		}
	}
	for _, want := range []string{"submitted", "approved", "activated", "revoking", "revoked"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Fatalf("audit lacks %s: %v", want, types)
		}
	}
	// Over both servers' whole lives, each grant was activated once and
	// its credentials sent once.
	activations := 0
	for _, typ := range types {
		if typ == "activated" {
			activations++
		}
	}
	if activations != 2 {
		t.Fatalf("%d activations in the audit for 2 grants: %v", activations, types)
	}
	// (The revocation took the password out of the first DM: count the
	// posts, not the messages as they are now.)
	posts := 0
	for _, c := range h.Slack.CallsTo("chat.postMessage") {
		if strings.Contains(string(c.Body), "Password") {
			posts++
		}
	}
	if posts != 2 {
		t.Fatalf("%d credentials posted for 2 grants, after the server stopped", posts)
	}
	if n := h.Atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		t.Fatalf("deletes: %d", n)
	}
}

func TestSecondServerOnTheSameStoreFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := rigtest.New(t, nil)
	srv, _ := h.ServeFresh(os.Args[0], execEnv+"=1")
	defer srv.Stop()
	// A second server that started serving would run until the context
	// ends: the deadline only keeps that from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := cli(ctx, []string{"serve", "-config", h.ConfigPath}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 1 || !strings.Contains(out.String(), "in use by another process") || strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

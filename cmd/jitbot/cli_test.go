package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
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
	h := newHarness(t, nil)
	code, out := runCLI("check", "-config", h.cfg)
	if code != 0 || !strings.Contains(out, "OK (1 integration(s), 1 flow(s))") {
		t.Fatalf("check: %d %s", code, out)
	}
	code, out = runCLI("check", "-config", h.cfg, "-online")
	if code != 0 || !strings.Contains(out, "integration prod: OK") {
		t.Fatalf("check -online: %d %s", code, out)
	}
	if n := len(h.atlas.Users(testProject)); n != 0 {
		t.Fatalf("the online check left %d users behind", n)
	}
	h.atlas.Inject(atlasDown())
	code, out = runCLI("check", "-config", h.cfg, "-online")
	if code != 1 || !strings.Contains(out, "integration prod: FAILED") {
		t.Fatalf("check -online with Atlas failing: %d %s", code, out)
	}
}

func TestServeRefusesAnUnreachableAtlas(t *testing.T) {
	h := newHarness(t, nil)
	raw, _ := os.ReadFile(h.cfg)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(h.cfg, []byte(strings.Replace(string(raw), h.atlas.URL(), dead, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	code := cli(ctx, []string{"serve", "-config", h.cfg}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 1 || !strings.Contains(out.String(), "atlas integration prod at "+dead+" is not reachable") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

// server is `jitbot serve` as a subprocess.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

// freePort returns a loopback address nothing listens on (yet).
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// useAddr makes the configuration listen on a fixed address, so the
// subprocess can be found again after a restart.
func (h *harness) useAddr(addr string) {
	raw, err := os.ReadFile(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg, []byte(strings.Replace(string(raw), `listen: "127.0.0.1:0"`, fmt.Sprintf("listen: %q", addr), 1)), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func startServer(t *testing.T, h *harness, addr string) *server {
	t.Helper()
	s := &server{t: t, addr: addr, logs: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(os.Args[0], "serve", "-config", h.cfg, "-log-format", "json")
	s.cmd.Env = append(os.Environ(), execEnv+"=1")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, err := tryGet("http://" + addr + "/healthz"); err == nil && code == 200 {
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("jitbot serve exited early: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("jitbot serve did not come up:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("jitbot serve did not exit cleanly on SIGTERM: %v\n%s", err, s.logs.String())
		}
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Fatalf("jitbot serve did not stop within 40s of SIGTERM:\n%s", s.logs.String())
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
	h := newHarness(t, nil)
	addr := freePort(t)
	h.useAddr(addr)
	srv := startServer(t, h, addr)

	h.slash(addr, alice, "request prod/Cluster0/sales/orders read 1h INC-9")
	card := h.waitDM(olivia, "Approve")
	srv.stop() // waiting for approval

	srv = startServer(t, h, addr)
	h.click(addr, olivia, card, "approve:")
	creds := h.waitDM(alice, "Password")

	// While the server runs, the CLI goes through its admin API.
	code, out := runCLI("grants", "list", "-config", h.cfg)
	if code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("grants list through the admin API: %d %s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if !strings.Contains(creds.AllText(), id) {
		t.Fatalf("grants list shows %s; credentials:\n%s", id, creds.AllText())
	}

	// Second journey: SIGTERM while Atlas is slow to create the user.
	h.atlas.Inject(slowCreate())
	h.slash(addr, alice, "request prod/Cluster0/sales/customers read 1h INC-10")
	card2 := h.waitDM(olivia, "customers")
	h.click(addr, olivia, card2, "approve:")
	waitCalls(t, h, "createDatabaseUser", 2)
	srv.stop()
	h.atlas.ClearFaults()
	srv = startServer(t, h, addr)
	deadline := time.Now().Add(30 * time.Second)
	for countDMs(h, alice, "Password") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the interrupted grant was never completed:\n%s", srv.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A duplicate of the resumed provisioning would still be at work: let
	// Slack and Atlas go quiet for longer than a sweep interval, so the
	// restarted server's sweeps have had their turn too.
	quiet := func() {
		t.Helper()
		atlasCalls := func() (int64, error) { return int64(len(h.atlas.Calls())), nil }
		if err := waitQuiet(h.ctx, app.SweepInterval+time.Second, time.Minute, h.slack, atlasCalls); err != nil {
			t.Fatalf("%v:\n%s", err, srv.logs.String())
		}
	}
	quiet()
	if n := countDMs(h, alice, "Password"); n != 2 {
		t.Fatalf("%d credentials DMs for 2 grants", n)
	}
	if n := len(h.atlas.Users(testProject)); n != 2 {
		t.Fatalf("%d Atlas users for 2 grants", n)
	}

	// Revoke the first grant from Slack and stop for good.
	h.slash(addr, alice, "revoke "+id+" done")
	h.waitDM(alice, "Access revoked")
	srv.stop()

	// With the server down the CLI opens the store itself.
	code, out = runCLI("audit", "verify", "-config", h.cfg)
	if code != 0 || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	code, out = runCLI("audit", "export", "-config", h.cfg)
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
	for _, c := range h.slack.CallsTo("chat.postMessage") {
		if strings.Contains(string(c.Body), "Password") {
			posts++
		}
	}
	if posts != 2 {
		t.Fatalf("%d credentials posted for 2 grants, after the server stopped", posts)
	}
	if n := h.atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		t.Fatalf("deletes: %d", n)
	}
}

func countDMs(h *harness, user demoPerson, needle string) int {
	n := 0
	for _, m := range h.slack.DMs(user.id) {
		if strings.Contains(m.AllText(), needle) {
			n++
		}
	}
	return n
}

func waitCalls(t *testing.T, h *harness, op string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		count := 0
		for _, c := range h.atlas.Calls() {
			if c.OperationID == op && !c.Challenge {
				count++
			}
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d %s calls, saw %d", n, op, count)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSecondServerOnTheSameStoreFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := newHarness(t, nil)
	addr := freePort(t)
	h.useAddr(addr)
	srv := startServer(t, h, addr)
	defer srv.stop()
	// A second server that started serving would run until the context
	// ends: the deadline only keeps that from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := cli(ctx, []string{"serve", "-config", h.cfg}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 1 || !strings.Contains(out.String(), "in use by another process") || strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

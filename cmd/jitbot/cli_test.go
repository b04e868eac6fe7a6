package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
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
		{[]string{"check", "-config", broken}, 1, `broken.yaml:5: flows[0].colour: unknown key`},
		{[]string{"grants"}, 2, "want list or revoke"},
		{[]string{"grants", "list", "-state", "happy", "-config", broken}, 2, `unknown state "happy"`},
		{[]string{"audit", "export", "-since", "yesterday", "-config", broken}, 2, "-since \"yesterday\""},
		{[]string{"demo", "-speed", "-1"}, 2, "-speed must be 0 or more"},
		{[]string{"bench", "-quick"}, 2, "bench has moved out of the jitbot binary: run `go run ./cmd/jitbot-bench -quick` in jitbot's source tree"},
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
	if code != 0 || !strings.Contains(out, "integration prod: OK") ||
		!strings.Contains(out, "slack: OK (workspace ") || !strings.Contains(out, "a member of #db-access ("+rig.ApprovalsChannel+")") ||
		!strings.Contains(out, "teams: OK (app ") || strings.Contains(out, "WARNING") {
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

// TestCheckOnlineChat: `jitbot check -online` fails on a Slack token that
// does not work and on Teams credentials that get no token, naming each.
func TestCheckOnlineChat(t *testing.T) {
	h := rigtest.New(t, nil)
	h.EditConfig(h.Slack.BotToken(), "xoxb-revoked")
	h.EditConfig(h.BF.AppPassword(), "not-the-password")
	code, out := runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 1 || !strings.Contains(out, "integration prod: OK") ||
		!strings.Contains(out, "slack: FAILED: the bot token does not work: auth.test: invalid_auth") ||
		!strings.Contains(out, "teams: FAILED: the app id and password get no bot token") ||
		!strings.Contains(out, "slack failed the online check") {
		t.Fatalf("check -online with a revoked Slack token and a wrong Teams password: %d %s", code, out)
	}
	if strings.Contains(out, "xoxb-revoked") || strings.Contains(out, "not-the-password") {
		t.Errorf("the check printed a secret:\n%s", out)
	}
}

// serve runs on when an Atlas integration does not answer at start-up (it
// is degraded, and said so in the log and by `jitbot status`), while
// `jitbot check -online` fails loudly for it: that is its job.
func TestServeRunsWithAnUnreachableAtlas(t *testing.T) {
	h := rigtest.New(t, nil)
	dead := "http://" + rigtest.FreePort(t)
	h.EditConfig(h.Atlas.URL(), dead)
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out rigtest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli(ctx, []string{"serve", "-config", h.ConfigPath}, &out, &out, func(string) (string, bool) { return "", false })
	}()
	h.Eventually("serve to be ready", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, out.String())
		default:
		}
		code, _ := rig.HTTPGet(ctx, "http://"+addr+"/readyz")
		return code == 200
	})
	h.Eventually("the integration to be degraded", func() bool {
		return strings.Contains(out.String(), `"msg":"dependency down at start-up: serving on, retrying in the background (this integration is degraded; the others are unaffected)"`)
	})
	if !strings.Contains(out.String(), `"level":"WARN"`) || !strings.Contains(out.String(), `"integration":"prod"`) {
		t.Fatalf("serve's log:\n%s", out.String())
	}
	code, status := runCLI("status", "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(status, "ready (takes webhooks)") || !regexp.MustCompile(`atlas prod +degraded since \S+ +.*connection refused`).MatchString(status) ||
		!strings.Contains(status, "1 Atlas integration(s) degraded") {
		t.Fatalf("status: exit %d\n%s", code, status)
	}
	code, status = runCLI("status", "-config", h.ConfigPath, "-json")
	if code != 1 || !strings.Contains(status, `"integration": "prod"`) || !strings.Contains(status, `"state": "degraded"`) || !strings.Contains(status, `"ready": true`) {
		t.Fatalf("status -json: exit %d\n%s", code, status)
	}

	code, check := runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 1 || !strings.Contains(check, "integration prod: FAILED") || !strings.Contains(check, "1 integration(s) failed the online check") {
		t.Fatalf("check -online with Atlas unreachable: exit %d\n%s", code, check)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after SIGTERM:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// jitbot status needs a running server.
func TestStatusWithoutAServer(t *testing.T) {
	h := rigtest.New(t, nil)
	h.UseAddr(rigtest.FreePort(t))
	code, out := runCLI("status", "-config", h.ConfigPath)
	if code != 1 || !strings.Contains(out, "no jitbot server answers") {
		t.Fatalf("exit %d\n%s", code, out)
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

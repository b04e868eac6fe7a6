package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

const uncheckedNote = "NOTE: Atlas calls are NOT checked against the OpenAPI spec in this run"

// TestDemo runs the main job as `jitbot demo` would and checks every step happened.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	code := cli(context.Background(), []string{"demo"}, &out, &out, func(string) (string, bool) { return "", false })
	checkDemo(t, code, out.String())
	if strings.Contains(out.String(), "NOT checked") || !strings.Contains(out.String(), "each checked against the Atlas OpenAPI spec") {
		t.Fatalf("with the spec at hand the transcript must say the calls are checked:\n%s", out.String())
	}
}

func checkDemo(t *testing.T, code int, out string) {
	t.Helper()
	if code != 0 || !strings.Contains(out, "RESULT: all 12 steps happened.") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "(hidden in this transcript)") {
		t.Fatal("the transcript must not print the password")
	}
	// It reads as a conversation: what people see, not how it is encoded.
	for _, raw := range []string{`{"`, ":key:", ":white_check_mark:", "*Requester*", "&lt;"} {
		if strings.Contains(out, raw) {
			t.Errorf("the transcript shows %q, an encoding, not what a person sees:\n%s", raw, out)
		}
	}
	// Each message once: a message's text is the fallback of its blocks
	// and is not shown beside them.
	if n := strings.Count(out, "asks for read on prod/Cluster0/sales/orders for 1h"); n != 1 {
		t.Errorf("alice's approval card is shown %d times:\n%s", n, out)
	}
	for _, want := range []string{
		"(Slack, #general)", "(Teams, his chat with jitbot)", // both platforms
		"olivia clicks [Approve]   (Slack)", "olivia clicks [Approve]   (Teams)", "Request ", " denied", // approve, deny
		"Access extended", "Access revoked", // extend, revoke
		// alice's Atlas UI access: asked, approved, granted in Atlas, removed
		"/access request prod GROUP_READ_ONLY 1h", "Atlas UI access: GROUP_READ_ONLY on prod", "jitbot adds alice's Atlas account to the project",
		"Her roles in the project now: none.", "addGroupUsers", "removeGroupUser",
		// alice's service account, used from one address, and her OIDC user
		"/access request service-account prod GROUP_READ_ONLY 1h from 203.0.113.7", "a service account with GROUP_READ_ONLY on prod, used from 203.0.113.7/32",
		"Client secret: •••••••••••• (hidden in this transcript)", "get a token from 203.0.113.7, and not from 198.51.100.9",
		"createGroupServiceAccount", "deleteGroupServiceAccount", "it works nowhere now",
		"/access request prod/Cluster0/reports read 1h", "signing in with OIDC", "0oa1demo2idp3/alice@example.com", "no password in the message",
		"(service account):", "(OIDC user):", "Access: Service account", "Resource: prod\n", "Sign in with: OIDC (no password)",
		"Time zones:", "What to try next:", "jitbot demo -keep", "jitbot init",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Time zones:"); n != 1 {
		t.Errorf("time zones are explained %d times", n)
	}
}

// Where the Atlas SDK's spec cannot be found, the demo still runs the whole
// journey and says, in one line, that Atlas calls are not spec-checked.
func TestDemoWithoutTheAtlasSpec(t *testing.T) {
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: &out, lookup: func(string) (string, bool) { return "", false },
		atlasSpec: func() (*atlastest.Spec, error) { return nil, errors.New("atlastest: cannot find the spec") }}
	code := 0
	if err := e.run(context.Background(), []string{"demo"}); err != nil {
		code = 1
		out.WriteString(err.Error())
	}
	checkDemo(t, code, out.String())
	if n := strings.Count(out.String(), uncheckedNote); n != 1 {
		t.Fatalf("%d notes that the calls are not checked:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "each checked against") {
		t.Fatalf("the transcript claims a check it did not make:\n%s", out.String())
	}
}

// The jitbot binary on its own, as in the container image: no go tool, an
// empty module cache, no JITBOT_ATLAS_SPEC. The demo finds no spec, runs
// the journey all the same, and says so.
func TestDemoBinaryWithoutAModuleCache(t *testing.T) {
	rigtest.NeedJitbot(t, jitbotExe)
	dir := t.TempDir()
	for _, d := range []string{"home", "modcache", "gopath", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(jitbotExe, "demo")
	cmd.Env = []string{"PATH=" + filepath.Join(dir, "nothing"), "HOME=" + filepath.Join(dir, "home"), "GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOPATH=" + filepath.Join(dir, "gopath"), "TMPDIR=" + filepath.Join(dir, "tmp")}
	out, err := cmd.CombinedOutput()
	code := 0
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	checkDemo(t, code, string(out))
	if !strings.Contains(string(out), uncheckedNote) {
		t.Fatalf("no note that the calls are not checked:\n%s", out)
	}
}

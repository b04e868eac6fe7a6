package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

// jitbot init writes a commented configuration that jitbot check accepts as
// it stands, with its placeholders marked and no secret in it: each secret
// is a *_file beside it, the admin token generated, the others empty.
func TestInitWritesAConfigurationCheckAccepts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.yaml")
	var out bytes.Buffer
	if code := cli(context.Background(), []string{"init", "-yes", "-o", path, "-slack", "-teams", "-admin", "me@example.com"}, &out, &out, noEnv); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{"bot_token_file:", "signing_secret_file:", "app_password_file:", "client_secret_file:", "admin_token_file:",
		"project_id: 000000000000000000000000   # REPLACE", "admins: [me@example.com]", `resources: ["Cluster0/*", "Cluster0/*/*"]`} {
		if !strings.Contains(text, want) {
			t.Errorf("the configuration lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "xoxb-") && !strings.Contains(text, "(xoxb-...)") || strings.Contains(text, "bot_token:") || strings.Contains(text, "client_secret:") {
		t.Errorf("a secret or a placeholder secret in the file:\n%s", text)
	}
	for _, name := range []string{"admin_token", "slack_bot_token", "slack_signing_secret", "teams_app_password", "atlas_client_secret"} {
		fi, err := os.Stat(filepath.Join(dir, "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", name, fi.Mode())
		}
	}
	if !strings.Contains(out.String(), "export JITBOT_CONFIG="+path) {
		t.Errorf("init does not say how to use it:\n%s", out.String())
	}

	// As written, check names exactly the secret files still to fill in.
	out.Reset()
	lookup := func(name string) (string, bool) { return path, name == "JITBOT_CONFIG" }
	if code := cli(context.Background(), []string{"check"}, &out, &out, lookup); code != 1 {
		t.Fatalf("check of the starter (found through JITBOT_CONFIG): exit %d, want 1\n%s", code, out.String())
	}
	fill := map[string]string{"slack_bot_token": "xoxb-1234-5678-abcdefgh", "slack_signing_secret": "8f14e45fceea167a5a36dedd4bea2543",
		"teams_app_password": "Zq8~v1Yb2Xc3Wd4Ve5Uf6Tg7Sh8Ri9Qj0Pk", "atlas_client_secret": "mdb_sa_sk_4f3a9c2e7b1d8e6f5a0b"}
	for name := range fill {
		if !strings.Contains(out.String(), filepath.Join(dir, "secrets", name)+" is empty") {
			t.Errorf("check does not ask for %s:\n%s", name, out.String())
		}
	}
	if strings.Contains(out.String(), "admin_token") {
		t.Errorf("check asks for the admin token init generated:\n%s", out.String())
	}
	for name, value := range fill {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if code := cli(context.Background(), []string{"check"}, &out, &out, lookup); code != 0 {
		t.Fatalf("check of the starter with its secrets filled in: exit %d\n%s", code, out.String())
	}
	cfg, err := (&env{lookup: noEnv}).load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AdminToken) < 32 || cfg.Slack == nil || cfg.Teams == nil {
		t.Fatalf("admin token %d characters, slack %v, teams %v", len(cfg.AdminToken), cfg.Slack != nil, cfg.Teams != nil)
	}
}

// On a terminal, init asks for what its flags leave out.
func TestInitAsks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.yaml")
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: &out, lookup: noEnv}
	answers := strings.NewReader("teams\n5CF5A45A9CCF6400E60981B6\nSales-1\n\n")
	if err := e.writeStarter([]string{"-o", path}, answers, true); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	raw, _ := os.ReadFile(path)
	text := string(raw)
	for _, want := range []string{"teams:", "project_id: 5cf5a45a9ccf6400e60981b6\n", `"Sales-1/*"`, "admins: [admin@example.com]   # REPLACE"} {
		if !strings.Contains(text, want) {
			t.Errorf("the configuration lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "slack:") {
		t.Errorf("asked for teams, got slack too:\n%s", text)
	}
	// Its two secrets are still to fill in, and check says so.
	_, err := e.load(path)
	if err == nil || !strings.Contains(err.Error(), "teams_app_password is empty") || !strings.Contains(err.Error(), "atlas_client_secret is empty") {
		t.Fatalf("loading the starter: %v", err)
	}
}

// init never overwrites a configuration unless told, nor ever a secret
// file: a secret filled in survives a rerun.
func TestInitKeepsWhatExists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.yaml")
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		return cli(context.Background(), append([]string{"init", "-yes", "-o", path}, args...), &out, &out, noEnv), out.String()
	}
	if code, out := run(); code != 0 {
		t.Fatal(out)
	}
	secret := filepath.Join(dir, "secrets", "slack_bot_token")
	if err := os.WriteFile(secret, []byte("xoxb-filled-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run(); code == 0 || !strings.Contains(out, "-force") {
		t.Fatalf("a second init overwrote the configuration: exit %d\n%s", code, out)
	}
	if code, out := run("-force"); code != 0 {
		t.Fatal(out)
	}
	if raw, _ := os.ReadFile(secret); string(raw) != "xoxb-filled-in\n" {
		t.Fatalf("init -force rewrote a secret: %q", raw)
	}
	if code, out := run("-force", "-project-id", "not-hex"); code != 2 || !strings.Contains(out, "24 hex digits") {
		t.Fatalf("a bad project id: exit %d\n%s", code, out)
	}
}

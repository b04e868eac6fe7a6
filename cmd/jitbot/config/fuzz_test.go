package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse proves that no jitbot.yaml makes Parse panic: it returns a
// configuration with a policy, or Problems, each naming the file and saying
// what is wrong. Its seed corpus (the good test configuration, the examples
// and assorted broken files) runs as a normal test.
func FuzzParse(f *testing.F) {
	secret := filepath.Join(f.TempDir(), "signing")
	if err := os.WriteFile(secret, []byte("shh-signing\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Add(strings.ReplaceAll(good, "SECRET_FILE", secret))
	examples, _ := filepath.Glob("../../../examples/*.yaml")
	for _, p := range examples {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(raw))
	}
	for _, s := range []string{
		"", "---", "null", "[]", "{}", "a: [", "\t", "store: {}\nflows:\n  - name: x\n    max_duration: 9d\n    colour: blue\n",
		"listen: 1\nstore: {path: 7}", "flows: [{name: a, integration: b, requesters: ['*'], resources: ['['], roles: [read]}]",
		"integrations: [{name: P, project_id: xyz, atlas: {rate_limit: {capacity: -1, refill: 0, per: 0s}}}]",
		"admin_token: ${", "admin_token: ${UNSET}", "admin_token: $${X}", "groups: {a: [group:a]}",
		"slack: {bot_token: x, bot_token_file: " + secret + "}", "slack: {signing_secret_file: " + filepath.Dir(secret) + "}",
		"&a [*a, *a]", "a: &a\n  b: *a", "? [a]\n: b", "flows: [{max_duration: 99999999999999999999d}]",
		"integrations: [{databases: {'': {'': ['']}}}]", "store: {path: \"\\0\"}",
	} {
		f.Add(s)
	}
	env := func(name string) (string, bool) {
		if name == "SET" {
			return "value", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse("jitbot.yaml", []byte(text), env)
		if err == nil {
			if cfg == nil || cfg.Policy == nil || cfg.Path != "jitbot.yaml" {
				t.Fatalf("Parse returned no error and %+v", cfg)
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("Parse failed without Problems: %T %v", err, err)
		}
		for _, p := range ps {
			if p.File != "jitbot.yaml" || strings.TrimSpace(p.Message) == "" || !utf8.ValidString(p.String()) {
				t.Fatalf("unclear problem %#v in:\n%s", p, err)
			}
		}
	})
}

// TestSecretFilesAreBounded: a *_file naming a device or a huge file is a
// problem reported at once, not a hang that eats memory.
func TestSecretFilesAreBounded(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(huge, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"/dev/zero", huge, t.TempDir()} {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		_, err := Parse("j.yaml", []byte(strings.ReplaceAll(good, "SECRET_FILE", file)), goodEnv)
		if err == nil || !strings.Contains(err.Error(), "slack.signing_secret_file: cannot read the secret") {
			t.Errorf("%s: %v", file, err)
		}
	}
}

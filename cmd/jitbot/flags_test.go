package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/store"
)

// runCLIStreams runs a command line with no environment and returns its
// exit status, stdout and stderr apart.
func runCLIStreams(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = cli(context.Background(), args, &out, &errs, func(string) (string, bool) { return "", false })
	return code, out.String(), errs.String()
}

// helpCases are the commands and subcommands with the flags their -h
// lists; every entry of commands must be here.
var helpCases = []struct {
	name  string
	flags []string
}{
	{"serve", []string{"-config", "-log-format"}},
	{"check", []string{"-config", "-online"}},
	{"status", []string{"-config", "-json"}},
	{"grants list", []string{"-config", "-state", "-json"}},
	{"grants revoke", []string{"-config", "-as", "-reason"}},
	{"audit export", []string{"-config", "-since"}},
	{"audit verify", []string{"-config", "-against"}},
	{"contacts forget", []string{"-config", "-as"}},
	{"backup", []string{"-config", "-o"}},
	{"restore", []string{"-config", "-i", "-force"}},
	{"store copy", []string{"-from", "-to", "-force"}},
	{"demo", []string{"-speed", "-keep", "-playground"}},
	{"init", []string{"-o", "-slack", "-teams", "-project-id", "-cluster", "-admin", "-yes", "-force"}},
	{"version", nil},
}

// Every command and subcommand answers -h (and -help, --help, and
// `jitbot help <command>`) with what it does and its flags, on stdout,
// with exit status 0, whatever else is on the line.
func TestEveryCommandAnswersHelp(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range helpCases {
		covered[c.name] = true
		words := strings.Fields(c.name)
		lines := [][]string{
			append(slices.Clone(words), "-h"),
			append(slices.Clone(words), "-help"),
			append(slices.Clone(words), "--help"),
			append([]string{"help"}, words...),
			append(slices.Clone(words), "-bogus", "-h"), // whatever else is on the line
		}
		if len(c.flags) > 0 && c.flags[0] == "-config" {
			lines = append(lines, append([]string{"-h"}, append(slices.Clone(words), "-config", "/nonexistent.yaml")...))
		}
		for _, line := range lines {
			t.Run(strings.Join(line, " "), func(t *testing.T) {
				code, out, errs := runCLIStreams(line...)
				if code != 0 || errs != "" {
					t.Fatalf("exit %d, stderr %q", code, errs)
				}
				if !strings.HasPrefix(out, "Usage: jitbot "+c.name) || !strings.Contains(out, commands[c.name].about) {
					t.Fatalf("no usage line or description:\n%s", out)
				}
				for _, f := range c.flags {
					if !strings.Contains(out, "\n  "+f+" ") && !strings.Contains(out, "\n  "+f+"\n") {
						t.Errorf("-h does not list %s:\n%s", f, out)
					}
				}
				if len(c.flags) == 0 && !strings.Contains(out, "No flags.") {
					t.Errorf("-h of a command without flags:\n%s", out)
				}
			})
		}
	}
	for name := range commands {
		if !covered[name] {
			t.Errorf("no help test for %q", name)
		}
	}

	// The commands made of subcommands list them.
	for group, subs := range groups {
		for _, line := range [][]string{{group, "-h"}, {group, "help"}, {"help", group}, {group, "--help"}} {
			code, out, errs := runCLIStreams(line...)
			if code != 0 || errs != "" {
				t.Fatalf("%v: exit %d, stderr %q", line, code, errs)
			}
			for _, s := range subs {
				if !strings.Contains(out, "jitbot "+group+" "+s) {
					t.Errorf("%v does not list %s:\n%s", line, s, out)
				}
			}
		}
	}

	// The whole usage, which names every command.
	for _, line := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "-h"}, {"help", "help"}} {
		code, out, errs := runCLIStreams(line...)
		if code != 0 || errs != "" || out != usage {
			t.Fatalf("%v: exit %d, stderr %q, stdout:\n%s", line, code, errs, out)
		}
	}
	for name, c := range commands {
		if !strings.Contains(usage, "jitbot "+name) || !strings.Contains(strings.Join(strings.Fields(usage), " "), strings.Join(strings.Fields("jitbot "+name+" "+c.synopsis), " ")) {
			t.Errorf("the usage does not show %q as its -h does", "jitbot "+name+" "+c.synopsis)
		}
	}

	// Every command found after flags too (verbs lists them all).
	for _, v := range verbs {
		if code, out, errs := runCLIStreams("-config", "x.yaml", v, "-h"); code != 0 || out == "" || errs != "" {
			t.Errorf("-config x.yaml %s -h: exit %d, stderr %q", v, code, errs)
		}
	}

	// bench is not in this binary: its -h says where it went.
	if code, out, _ := runCLIStreams("bench", "-h"); code != 0 || !strings.Contains(out, "go run ./cmd/jitbot-bench -h") {
		t.Fatalf("bench -h: exit %d\n%s", code, out)
	}
}

// jitbot alone is a usage error: the usage, on stderr, exit 2 (nothing was
// done, and a script that ran it by mistake should know).
func TestNoCommandPrintsTheUsage(t *testing.T) {
	code, out, errs := runCLIStreams()
	if code != 2 || out != "" || !strings.HasPrefix(errs, "jitbot: missing command\n") || !strings.Contains(errs, usage) {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
}

func TestUnknownCommandsAndSubcommands(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"frobnicate", "-h"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"-config", "x.yaml"}, "missing command"},
		{[]string{"grants"}, "grants: want list or revoke\nRun 'jitbot grants -h' for usage."},
		{[]string{"grants", "-config", "x.yaml"}, "grants: want list or revoke"},
		{[]string{"grants", "frob"}, `grants: unknown subcommand "frob"; want list or revoke`},
		{[]string{"audit", "import"}, `audit: unknown subcommand "import"; want export or verify`},
		{[]string{"contacts", "remember"}, `contacts: unknown subcommand "remember"; want forget`},
		{[]string{"check", "extra"}, `check takes no arguments (got "extra")`},
		{[]string{"grants", "revoke", "a", "b"}, "grants revoke: want one request id\nRun 'jitbot grants revoke -h' for usage."},
		{[]string{"grants", "revoke"}, "grants revoke: want one request id"},
		{[]string{"contacts", "forget"}, "contacts forget: want one email"},
		{[]string{"version", "extra"}, "version takes no arguments"},
		{[]string{"serve", "-bogus"}, "serve: flag provided but not defined: -bogus\nRun 'jitbot serve -h' for usage."},
		{[]string{"grants", "list", "-state"}, "grants list: flag needs an argument: -state"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCLIStreams(tt.args...)
			if code != 2 || out != "" || !strings.HasPrefix(errs, "jitbot: ") || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
			}
		})
	}
}

// Flags may come anywhere on the line: before the command, between its
// words, after its positional arguments; `--` ends them.
func TestFlagsParseAnywhere(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	noConfig := "no configuration at " + missing
	tests := []struct {
		args []string
		code int
		want string
	}{
		// -config was read wherever it was: the command looked for it there.
		{[]string{"grants", "revoke", "r-1", "-config", missing}, 1, noConfig},
		{[]string{"grants", "revoke", "-as", "dana@example.com", "r-1", "-reason", "done", "-config", missing}, 1, noConfig},
		{[]string{"grants", "-config", missing, "revoke", "r-1"}, 1, noConfig},
		{[]string{"-config", missing, "grants", "revoke", "r-1"}, 1, noConfig},
		{[]string{"contacts", "forget", "a@example.com", "-config", missing}, 1, noConfig},
		{[]string{"audit", "export", "-config", missing, "-since", "24h"}, 1, noConfig},
		{[]string{"check", "-config", missing, "-online"}, 1, noConfig},
		// After --, a dash is an argument.
		{[]string{"grants", "revoke", "-config", missing, "--", "-r-1"}, 1, noConfig},
		{[]string{"grants", "revoke", "--", "r-1", "-config", missing}, 2, "grants revoke: want one request id"},
		// Values are checked wherever the flag is.
		{[]string{"grants", "list", "-config", missing, "-state", "happy"}, 2, `unknown state "happy"`},
		{[]string{"demo", "-keep", "-speed", "-1"}, 2, "-speed must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := runCLIStreams(tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
		})
	}

	// And with a store to read: the same answer, flags before, between
	// and after the words.
	h := rigtest.New(t, nil)
	db, err := store.Open(h.StorePath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, line := range [][]string{
		{"grants", "list", "-json", "-config", h.ConfigPath},
		{"-json", "grants", "-config", h.ConfigPath, "list"},
		{"grants", "-state", "all", "list", "-config", h.ConfigPath, "-json"},
	} {
		if code, out, errs := runCLIStreams(line...); code != 0 || strings.TrimSpace(out) != "[]" {
			t.Errorf("%v: exit %d, %q %s", line, code, out, errs)
		}
	}
}

// Every error is one line starting "jitbot: ", said once: no prefix
// repeated, whichever layer it came from.
func TestErrorsHaveOnePrefix(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a bbolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := rigtest.New(t, nil)
	h.EditConfig("path: "+h.StorePath(), "path: "+junk)
	for _, line := range [][]string{
		{"frobnicate"},
		{"serve", "-bogus"},
		{"check", "-config", filepath.Join(dir, "none.yaml")},
		{"grants", "list", "-config", h.ConfigPath},
		{"audit", "verify", "-config", h.ConfigPath},
	} {
		code, _, errs := runCLIStreams(line...)
		first, _, _ := strings.Cut(errs, "\n")
		if code == 0 || !strings.HasPrefix(first, "jitbot: ") || onePrefix(first) != strings.TrimPrefix(first, "jitbot: ") {
			t.Errorf("%v: exit %d, stderr:\n%s", line, code, errs)
		}
	}
	for in, want := range map[string]string{
		"atlas: atlas: integration x: bad":   "atlas: integration x: bad",
		"jitbot: store: store: open x: bad":  "store: open x: bad",
		"jitbot: jitbot: x":                  "x",
		"atlas: list clusters: atlas: 401":   "atlas: list clusters: atlas: 401", // not a repeated prefix
		"no configuration at x: y: y: z":     "no configuration at x: y: y: z",
		"jitbot is running; set admin_token": "jitbot is running; set admin_token",
	} {
		if got := onePrefix(in); got != want {
			t.Errorf("onePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

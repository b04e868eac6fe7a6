package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// TestCheckAndServeAgree runs `jitbot check` and `jitbot serve` on the same
// files, broken in the ways that once passed check and failed serve, and in
// others: both refuse alike, with the same words, or both accept (serve is
// stopped as soon as it has started).
func TestCheckAndServeAgree(t *testing.T) {
	h := rigtest.New(t, nil)
	raw, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-secret")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from, to string
		want     string // in the output of both; "" for a file both accept
	}{
		{"valid", "", "", ""},
		{"an empty secret file", "client_secret: " + atlastest.DefaultClientSecret, "client_secret_file: " + empty,
			"integrations[0].atlas.client_secret_file: " + empty + " is empty: the file must hold the secret"},
		{"a blank teams app_id", `app_id: "` + h.BF.AppID() + `"`, `app_id: "   "`, "teams.app_id: required: the Microsoft App ID of the Azure bot"},
		{"a placeholder token", rig.BotToken, "xoxb-REPLACE-ME", "slack.bot_token: looks like a placeholder (REPLACE)"},
		{"a nested typo", "client_id:", "client_idd:", "integrations[0].atlas.client_idd: unknown key: did you mean client_id?"},
		{"a type error", "    roles: [read]\n", "    roles: [read]\n    approvals: two\n", `flows[0].approvals: want a whole number, not "two"`},
		{"a tab", "    roles: [read]\n", "\troles: [read]\n", "a tab indents this line"},
		{"a flow that can never match", `resources: ["Cluster0/sales/*", "Cluster0/sales"]`, `resources: ["Cluster0/admin"]`, ""},
		// Once refused by the adapters' constructors alone (serve failed
		// after check said OK): now by the config's Validate, which both run.
		{"a catalog hint that names no cluster", "      Cluster0: {sales: [orders, customers]}\n", "      Cluster0: {sales: [orders, customers]}\n      \"\": {}\n",
			":20: integrations[0].databases.: the cluster is empty: a hint names the cluster whose databases it lists"},
		{"a listen port out of range", `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:65536"`,
			`:2: listen: "127.0.0.1:65536" is not a host:port address such as :8080 (a port from 0 to 65535)`},
		{"an app-level token as the bot token", "bot_token: " + rig.BotToken, "bot_token: xapp-1-A1-1-f00d",
			":7: slack.bot_token: an app-level token (xapp-): use the bot token (xoxb-), and the app-level token in app_token for Socket Mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.from) {
				t.Fatalf("the configuration lacks %q", tt.from)
			}
			path := filepath.Join(t.TempDir(), "jitbot.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(good, tt.from, tt.to, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			checkCode, checkOut, serveCode, serveOut := checkAndServe(path)
			if checkCode != serveCode {
				t.Fatalf("check exits %d, serve %d\ncheck:\n%s\nserve:\n%s", checkCode, serveCode, checkOut, serveOut)
			}
			if tt.want == "" {
				if checkCode != 0 {
					t.Fatalf("refused:\n%s\nserve:\n%s", checkOut, serveOut)
				}
				return
			}
			if checkCode != 1 || !strings.Contains(checkOut, tt.want) || checkOut != serveOut {
				t.Fatalf("want %q from both, alike\ncheck:\n%s\nserve:\n%s", tt.want, checkOut, serveOut)
			}
		})
	}
}

// checkAndServe runs `jitbot check` and `jitbot serve` on the configuration
// at path. serve stops as soon as it has started: only whether it starts
// matters.
func checkAndServe(path string) (checkCode int, checkOut string, serveCode int, serveOut string) {
	checkCode, checkOut = runCLI("check", "-config", path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	serveCode = cli(ctx, []string{"serve", "-config", path, "-log-format", "text"}, &out, &out, func(string) (string, bool) { return "", false })
	return checkCode, checkOut, serveCode, out.String()
}

// TestCheckAndServeAgreeOnMutations breaks a valid configuration (Slack,
// Teams and Atlas, on their simulators) in every place at once and one at a
// time: each value made empty, blank, negative or garbage, each collection
// emptied, each key and list item removed. For every one, check and serve
// accept alike, or refuse alike with the same words: serve never fails on a
// value check did not make.
func TestCheckAndServeAgreeOnMutations(t *testing.T) {
	h := rigtest.New(t, nil)
	raw, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// A relative store.path (a mutation's "x%y") lands here, not in the package.
	t.Chdir(t.TempDir())
	// The mutations are written first, then run a few at a time, each on a
	// store of its own (serve holds its store's lock while it runs).
	type mutation struct {
		name string
		text []byte
	}
	var mutations []mutation
	try := func(name string) {
		t.Helper()
		text, err := yaml.Marshal(&doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mutations = append(mutations, mutation{name, text})
	}
	try("the valid file")
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], at)
			return
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := at + "." + n.Content[i].Value
				// Without listen, serve listens on :8080, which this machine
				// may be using: an online failure, not the file's.
				if key != ".listen" {
					removed := n.Content
					n.Content = slices.Delete(slices.Clone(n.Content), i, i+2)
					try(key + " removed")
					n.Content = removed
				}
				walk(n.Content[i+1], key)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				removed := n.Content
				n.Content = slices.Delete(slices.Clone(n.Content), i, i+1)
				try(fmt.Sprintf("%s[%d] removed", at, i))
				n.Content = removed
				walk(item, fmt.Sprintf("%s[%d]", at, i))
			}
		}
		was := *n
		if n.Kind == yaml.ScalarNode {
			// Empty and blank strings; a number (negative), which a string
			// key reads as text; garbage.
			for _, v := range []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle},
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: " ", Style: yaml.DoubleQuotedStyle},
				{Kind: yaml.ScalarNode, Tag: "!!int", Value: "-1"},
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x%y"},
			} {
				if at == ".listen" && v.Value == "" {
					continue // :8080 again
				}
				*n = *v
				try(fmt.Sprintf("%s = %q", at, v.Value))
			}
		} else {
			*n = yaml.Node{Kind: n.Kind, Style: yaml.FlowStyle}
			try(at + " emptied")
		}
		*n = was
	}
	walk(&doc, "")

	var accepted, refused atomic.Int64
	dir := t.TempDir()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				m := mutations[i]
				path := filepath.Join(dir, fmt.Sprintf("jitbot-%d.yaml", i))
				text := bytes.ReplaceAll(m.text, []byte(h.Rig.StorePath()), []byte(filepath.Join(dir, fmt.Sprintf("jitbot-%d.db", i))))
				if err := os.WriteFile(path, text, 0o600); err != nil {
					t.Error(err)
					continue
				}
				checkCode, checkOut, serveCode, serveOut := checkAndServe(path)
				switch {
				case checkCode != serveCode:
					t.Errorf("%s: check exits %d, serve %d\ncheck:\n%s\nserve:\n%s\nfile:\n%s", m.name, checkCode, serveCode, checkOut, serveOut, text)
				case checkCode == 0:
					accepted.Add(1)
				case checkOut != serveOut || checkCode != 1:
					t.Errorf("%s: refused (exit %d) in other words\ncheck:\n%s\nserve:\n%s", m.name, checkCode, checkOut, serveOut)
				default:
					refused.Add(1)
					if i == 0 {
						t.Errorf("the valid file is refused:\n%s", checkOut)
					}
				}
			}
		})
	}
	for i := range mutations {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d mutations: %d accepted by both, %d refused by both alike", len(mutations)-1, accepted.Load()-1, refused.Load())
	if accepted, refused := accepted.Load(), refused.Load(); accepted < 10 || refused < 100 {
		t.Errorf("only %d accepted and %d refused: the walk missed the file", accepted, refused)
	}
}

// writeConfig writes text as a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jitbot.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// policyYAML is a configuration whose secrets are all in the environment:
// check needs them, explain does not.
const policyYAML = `store: {path: /data/jitbot.db}
admins: [dba-lead@example.com]
slack: {bot_token: "${SLACK_BOT_TOKEN}", signing_secret_file: /run/secrets/slack-signing}
groups:
  dba: [dba-lead@example.com, dba2@example.com]
  eng: [alice@example.com, bob@example.com]
integrations:
  - name: prod
    project_id: 5cf5a45a9ccf6400e60981b6
    atlas: {client_id: "${ATLAS_CLIENT_ID}", client_secret: "${ATLAS_CLIENT_SECRET}"}
    owners: [group:dba]
flows:
  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [read]
    approvers: [owners]
  - name: prod-write
    integration: prod
    requesters: [group:eng]
    resources: ["Cluster0/sales/*"]
    roles: [readWrite]
    max_duration: 2h
    approvers: [owners, group:dba]
    approvals: 2
    require_reason: true
`

// TestCheckOutput: check prints the warnings and says OK, -strict fails on
// them, and the problems of a broken file come all at once.
func TestCheckOutput(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "signing")
	if err := os.WriteFile(secret, []byte("a-signing-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(policyYAML, "/run/secrets/slack-signing", secret, 1)
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1-2-Kq3", "ATLAS_CLIENT_ID": "mdb_sa_id_1", "ATLAS_CLIENT_SECRET": "mdb_sa_sk_1"}
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli(context.Background(), args, &out, &out, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		return code, out.String()
	}
	warned := writeConfig(t, strings.Replace(text, `resources: ["Cluster0/sales/*"]`, `resources: ["Cluster0/admin/*"]`, 1))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "-config", writeConfig(t, text)}, 0, "jitbot.yaml: OK (1 integration(s), 2 flow(s))\n"},
		{[]string{"check", "-config", warned}, 0, warned + `:16: warning: flows[0].resources[0]: "Cluster0/admin/*" can never match: ` +
			`database "admin" is a system database; jitbot does not grant access to it` + "\n" + warned + ": OK (1 integration(s), 2 flow(s)), 1 warning\n"},
		{[]string{"check", "-strict", "-config", warned}, 1, "jitbot: 1 warning in the configuration, and -strict fails on warnings\n"},
		{[]string{"check", "-config", writeConfig(t, strings.NewReplacer("${SLACK_BOT_TOKEN}", "${NOPE}", "approvals: 2", "approvals: 2\n    colour: red",
			"project_id: 5cf5a45a9ccf6400e60981b6", "project_id: 5cf5").Replace(text))}, 1, "jitbot: 3 errors in the configuration:\n"},
		{[]string{"check", "-config", filepath.Join(t.TempDir(), "none.yaml")}, 1, "jitbot: no configuration at "},
		{[]string{"check", "-bogus"}, 2, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := run(tt.args...)
			if code != tt.code || !strings.HasSuffix(out, tt.want) && !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want %d; output:\n%s\nwant:\n%s", code, tt.code, out, tt.want)
			}
		})
	}
	// The three problems, each where it is.
	_, out := run("check", "-config", writeConfig(t, strings.NewReplacer("${SLACK_BOT_TOKEN}", "${NOPE}", "approvals: 2", "approvals: 2\n    colour: red",
		"project_id: 5cf5a45a9ccf6400e60981b6", "project_id: 5cf5").Replace(text)))
	for _, want := range []string{
		`:3: slack.bot_token: environment variable NOPE is not set`,
		`:9: integrations[0].project_id: "5cf5" is not an Atlas project id (24 hexadecimal characters)`,
		`:27: flows[1].colour: unknown key; the keys here are`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestExplain: explain reads the policy alone (none of the secrets is set
// here), says where a request goes and who approves it, and exits 1 when it
// would be refused.
func TestExplain(t *testing.T) {
	cfg := writeConfig(t, policyYAML)
	code, out := runCLI("explain", "-config", cfg, "Alice@example.com", "prod/Cluster0/sales/orders", "readWrite")
	want := `alice@example.com asking for readWrite on prod/Cluster0/sales/orders (a database user)

Access flows that cover prod/Cluster0/sales/orders:
  prod-read   via Cluster0/sales/*  roles read       a requester (*)
  prod-write  via Cluster0/sales/*  roles readWrite  a requester (group:eng)

readWrite goes through access flow prod-write:
  2 approval(s), from:
    owners: whoever the cluster's "owner" tag names, else the integration's owners: dba-lead@example.com, dba2@example.com
    group:dba: dba-lead@example.com, dba2@example.com
  for 1h unless asked otherwise, at most 2h; pending at most 1h; a reason is required

alice@example.com may ask for, on prod/Cluster0/sales/orders: readWrite (prod-write)
`
	if code != 0 || out != want {
		t.Fatalf("exit %d:\n%s\nwant:\n%s", code, out, want)
	}

	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"explain", "-config", cfg, "carol@example.com", "prod/Cluster0/sales/orders"}, 0, []string{
			"carol@example.com asking for any role on prod/Cluster0/sales/orders",
			"prod-write  via Cluster0/sales/*  roles readWrite  not among its requesters",
			"read goes through access flow prod-read:",
			"carol@example.com may ask for, on prod/Cluster0/sales/orders: read (prod-read)\n",
		}},
		{[]string{"explain", "-config", cfg, "dba-lead@example.com", "prod/Cluster0/sales/orders", "read"}, 0, []string{
			"dba-lead@example.com is an admin",
			"owners: whoever the cluster's \"owner\" tag names, else the integration's owners: dba2@example.com\n",
			"dba-lead@example.com is among them, but nobody approves their own request",
		}},
		{[]string{"explain", "-config", cfg, "carol@example.com", "prod/Cluster0/sales/orders", "readWrite"}, 1, []string{
			"Refused: role readWrite is not offered on prod/Cluster0/sales/orders; you may ask for: read\n",
			"jitbot: carol@example.com may not ask for readWrite on prod/Cluster0/sales/orders\n",
		}},
		{[]string{"explain", "-config", cfg, "alice@example.com", "prod/Cluster0/hr"}, 1, []string{
			"No access flow covers prod/Cluster0/hr.",
			"Refused: no access flow covers prod/Cluster0/hr",
			"jitbot: alice@example.com may not ask for anything on prod/Cluster0/hr",
		}},
		{[]string{"explain", "-config", cfg, "alice@example.com", "prod/Cluster0/sales/orders", "dbAdmin"}, 1, []string{
			`Refused: role "dbAdmin" cannot be limited to collection "orders"`,
		}},
		{[]string{"explain", "-config", cfg, "alice", "prod/Cluster0/sales"}, 1, []string{`jitbot: explain: "alice" is not an email address`}},
		{[]string{"explain", "-config", cfg, "alice@example.com", "prod/Cluster0/admin"}, 1, []string{
			`jitbot: explain: database "admin" is a system database; jitbot does not grant access to it`}},
		{[]string{"explain", "-config", cfg, "alice@example.com", "dev/Cluster0/sales"}, 1, []string{`jitbot: explain: there is no integration "dev"`}},
		{[]string{"explain", "-config", cfg, "alice@example.com", "sales"}, 1, []string{"jitbot: explain: resource \"sales\": want integration/cluster/database"}},
		{[]string{"explain", "-config", filepath.Join(t.TempDir(), "none.yaml"), "alice@example.com", "prod/Cluster0/sales"}, 1, []string{"jitbot: no configuration at "}},
		{[]string{"explain", "-config", writeConfig(t, strings.Replace(policyYAML, "approvals: 2", "aprovals: 2", 1)), "alice@example.com", "prod/Cluster0/sales"}, 1,
			[]string{"jitbot: 1 error in the configuration:\n", ":26: flows[1].aprovals: unknown key: did you mean approvals?"}},
		{[]string{"explain"}, 2, []string{"jitbot: explain: want <person> <resource> [role]", "Run 'jitbot help' for usage."}},
		{[]string{"explain", "-config", cfg, "alice@example.com"}, 2, []string{"explain: want <person> <resource> [role]"}},
		{[]string{"explain", "-config", cfg, "a@example.com", "prod/C/d", "read", "extra"}, 2, []string{"explain: want <person> <resource> [role]"}},
		{[]string{"explain", "-bogus"}, 2, []string{"flag provided but not defined: -bogus"}},
		{[]string{"help"}, 0, []string{"jitbot explain [-config jitbot.yaml] <person> <resource> [role]", "jitbot check  [-config jitbot.yaml] [-online] [-strict]"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := runCLI(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
}

// TestServeReloadsOnSIGHUP: a real `jitbot serve` reloads its policy on
// SIGHUP; an invalid file is refused, the running policy kept, and `jitbot
// status` says so.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := rigtest.New(t, nil)
	srv, _ := h.ServeFresh(os.Args[0], execEnv+"=1")
	defer srv.Stop()
	// The admin API, as the configuration serve started with says: the CLI
	// loads the file, which is broken for a while below.
	cfg, err := h.Rig.Config()
	if err != nil {
		t.Fatal(err)
	}
	admin := app.NewAdminClient(cfg)
	status := func() app.PolicyStatus {
		t.Helper()
		s, err := admin.Status(h.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.Policy
	}
	first := status().Hash

	h.EditConfig("admins: [dana@example.com]\n", "admins: [dana@example.com]\nadmns: []\n")
	if err := srv.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.Eventually("serve to refuse the reload it was asked for", func() bool {
		return strings.Contains(srv.Logs(), `"msg":"policy reload refused: the running policy stays","why":"asked (SIGHUP)"`)
	})
	if s := status(); s.Hash != first || !strings.Contains(s.ReloadError, ":7: admns: unknown key: did you mean admins?") {
		t.Fatalf("status after a refused reload: %+v", s)
	}

	h.EditConfig("admns: []\n", "")
	h.EditConfig("admins: [dana@example.com]\n", "admins: [dana@example.com, olivia@example.com]\n")
	if err := srv.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.Eventually("the new policy to be in force", func() bool {
		s := status()
		return s.Hash != first && s.ReloadError == ""
	})
	h.Eventually("the reload to be logged", func() bool {
		return strings.Contains(srv.Logs(), `"msg":"policy reloaded: new requests are routed by it`)
	})
	if code, out := runCLI("status", "-config", h.ConfigPath); !regexp.MustCompile(`\npolicy +` + status().Hash + ` since `).MatchString(out) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}

func TestPolicyRow(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		s    app.PolicyStatus
		want string
	}{
		{app.PolicyStatus{Hash: "0123456789abcdef", LoadedAt: at}, "policy\t0123456789abcdef since 2026-11-23T09:00:00Z"},
		{app.PolicyStatus{Hash: "0123456789abcdef", LoadedAt: at, ReloadError: "1 error in the configuration:\nj.yaml:7: x", ReloadFailedAt: at.Add(time.Hour)},
			"policy\t0123456789abcdef since 2026-11-23T09:00:00Z\treload refused at 2026-11-23T10:00:00Z, the running policy kept: 1 error in the configuration:"},
		{app.PolicyStatus{Hash: "0123456789abcdef", LoadedAt: at, RestartNeeded: []string{"listen", "slack"}},
			"policy\t0123456789abcdef since 2026-11-23T09:00:00Z\tchanged, applied on restart: listen, slack"},
	} {
		if got := policyRow(tc.s); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

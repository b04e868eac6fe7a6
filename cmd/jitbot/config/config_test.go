package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `
listen: ":8080"
store: {path: /data/jitbot.db}
admin_token: ${ADMIN_TOKEN}
admins: [dba-lead@example.com]
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret_file: SECRET_FILE
groups:
  dba: [dba-lead@example.com, dba-oncall@example.com]
integrations:
  - name: prod
    project_id: 5cf5a45a9ccf6400e60981b6
    atlas: {client_id: id, client_secret: "${ATLAS_SECRET}", rate_limit: {capacity: 10, refill: 5, per: 1m}}
    owners: [group:dba]
    access_details: "mongosh \"$CONNECTION_STRING\" --username $USERNAME"
    databases:
      Cluster0: {sales: [orders]}
flows:
  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
`

func env(vars map[string]string) Env {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

var goodEnv = env(map[string]string{"ADMIN_TOKEN": "0123456789abcdef0123", "SLACK_BOT_TOKEN": "xoxb-1-2-abc", "ATLAS_SECRET": "s3cr#t: {x}"})

func withSecretFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "signing")
	if err := os.WriteFile(p, []byte("shh-signing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(text, "SECRET_FILE", p)
}

func TestParseGood(t *testing.T) {
	cfg, err := Parse("jitbot.yaml", []byte(withSecretFile(t, good)), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slack.BotToken != "xoxb-1-2-abc" || cfg.Slack.SigningSecret != "shh-signing" {
		t.Fatalf("slack: %+v", cfg.Slack)
	}
	in := cfg.Integrations[0]
	// A secret with YAML-significant characters survives: expansion happens after parsing.
	// The base URL stays unset: the Atlas adapter defaults it.
	if in.ClientID != "id" || in.ClientSecret != "s3cr#t: {x}" || in.BaseURL != "" || in.Name != "prod" {
		t.Fatalf("integration: %+v", in)
	}
	if b, ok := in.RateLimit.Bucket(); !ok || b.Capacity != 10 || b.Refill != 5 || b.Per != time.Minute {
		t.Fatalf("rate limit: %+v", in.RateLimit)
	}
	pi, _ := cfg.Policy.Integration("prod")
	if pi.AccessDetails != `mongosh "$CONNECTION_STRING" --username $USERNAME` {
		t.Fatalf("bare $NAME must be left alone: %q", pi.AccessDetails)
	}
	if cfg.ReminderBefore != 15*time.Minute || cfg.LogFormat != "json" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestProblemsNameTheirPathAndLine(t *testing.T) {
	tests := []struct {
		name, from, to string
		env            Env
		want           string
	}{
		{"unknown key", "    max_duration: 8h\n", "    max_duration: 8h\n    max_durration: 9h\n", goodEnv, `jitbot.yaml:26: flows[0].max_durration: unknown key: did you mean max_duration?`},
		{"bad duration", "max_duration: 8h", "max_duration: 8 hours", goodEnv, `jitbot.yaml:25: flows[0].max_duration: duration "8 hours"`},
		{"a week", "max_duration: 8h", "max_duration: 7d", goodEnv, "jitbot.yaml:25: flows[0].max_duration: 7d is a week or more"},
		{"unknown kind", "  - name: prod-read\n", "  - name: prod-read\n    kind: ssh_key\n", goodEnv, `jitbot.yaml:21: flows[0].kind: unknown kind "ssh_key"; jitbot grants: database_user`},
		{"unknown group", "owners: [group:dba]", "owners: [group:ops]", goodEnv, `jitbot.yaml:15: integrations[0].owners[0]: unknown group "ops"`},
		{"missing env", "${SLACK_BOT_TOKEN}", "${NOPE}", goodEnv, "jitbot.yaml:7: slack.bot_token: environment variable NOPE is not set"},
		{"bad token", "${SLACK_BOT_TOKEN}", "xoxp-user", goodEnv, "slack.bot_token: a bot token starts with xoxb-"},
		{"no atlas creds", `atlas: {client_id: id, client_secret: "${ATLAS_SECRET}", rate_limit: {capacity: 10, refill: 5, per: 1m}}`, "atlas: {}", goodEnv, "integrations[0].atlas: credentials required"},
		{"both atlas creds", "client_id: id,", "client_id: id, public_key: k, private_key: p,", goodEnv, "not both"},
		{"bad project", "5cf5a45a9ccf6400e60981b6", "xyz", goodEnv, "jitbot.yaml:13: integrations[0].project_id"},
		{"bad connection", "    owners: [group:dba]\n", "    owners: [group:dba]\n    connection: peering\n", goodEnv,
			`jitbot.yaml:16: integrations[0].connection: "peering" is not a connectivity: want standard, private (network peering), private-endpoint or private-endpoint:<endpoint id>`},
		{"bad listen", `listen: ":8080"`, `listen: "8080"`, goodEnv, `jitbot.yaml:2: listen: "8080" is not a host:port`},
		// net.Listen refuses these when serve starts: check must say so first.
		{"listen port out of range", `listen: ":8080"`, `listen: ":65536"`, goodEnv, `jitbot.yaml:2: listen: ":65536" is not a host:port address such as :8080 (a port from 0 to 65535)`},
		{"listen port by name", `listen: ":8080"`, `listen: "127.0.0.1:http"`, goodEnv, `jitbot.yaml:2: listen: "127.0.0.1:http" is not a host:port`},
		{"admin listen port out of range", `listen: ":8080"`, "listen: \":8080\"\nadmin_listen: \"127.0.0.1:-1\"", goodEnv, `jitbot.yaml:3: admin_listen: "127.0.0.1:-1" is not a host:port`},
		{"negative live cap", `listen: ":8080"`, "listen: \":8080\"\nmax_live_requests: -1", goodEnv, "jitbot.yaml:3: max_live_requests: -1: want at least 1"},
		{"huge live cap", `listen: ":8080"`, "listen: \":8080\"\nmax_live_requests: 5000", goodEnv, "jitbot.yaml:3: max_live_requests: 5000 is more than anyone needs"},
		{"not yaml", "flows:", "flows: [", goodEnv, "jitbot.yaml:"},
		{"wrong type", "approvers: [owners]", "approvers: owners", goodEnv, `jitbot.yaml:26: flows[0].approvers: want a list, such as [a, b], not "owners"`},
		{"bad hint", "sales: [orders]", "sa.les: [orders]", goodEnv, "integrations[0].databases.Cluster0"},
		{"short admin token", "${ADMIN_TOKEN}", "short", goodEnv, "admin_token: too short"},
		{"bad admin listen", `listen: ":8080"`, "listen: \":8080\"\nadmin_listen: \"9090\"", goodEnv, `jitbot.yaml:3: admin_listen: "9090" is not a host:port`},
		{"admin listen is listen", `listen: ":8080"`, "listen: \":8080\"\nadmin_listen: \":8080\"", goodEnv, "admin_listen: \":8080\" is also listen"},
		{"slack api in clear", "  bot_token: ${SLACK_BOT_TOKEN}\n", "  bot_token: ${SLACK_BOT_TOKEN}\n  api_url: http://slack-proxy.internal/api/\n", goodEnv, "slack.api_url: \"http://slack-proxy.internal/api/\" is plain http"},
		{"slack api with a password", "  bot_token: ${SLACK_BOT_TOKEN}\n", "  bot_token: ${SLACK_BOT_TOKEN}\n  api_url: https://u:pw@proxy.example.com/api/\n", goodEnv, "carries a user name or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := withSecretFile(t, good)
			if !strings.Contains(text, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			_, err := Parse("jitbot.yaml", []byte(strings.Replace(text, tt.from, tt.to, 1)), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := Parse("c.yaml", []byte("store: {}\nintegrations: []\n"), goodEnv)
	ps, ok := err.(Problems)
	if !ok || len(ps) < 4 {
		t.Fatalf("want several problems, got %v", err)
	}
	for _, want := range []string{"store.path: required", "configure slack, teams or both", "integrations: required", "flows: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if _, err := Parse("empty.yaml", nil, goodEnv); err == nil || !strings.Contains(err.Error(), "store.path: required") {
		t.Fatalf("empty file: %v", err)
	}
}

func TestSecretFileProblems(t *testing.T) {
	text := strings.Replace(good, "signing_secret_file: SECRET_FILE", "signing_secret_file: /nonexistent/secret\n  signing_secret: x", 1)
	_, err := Parse("j.yaml", []byte(text), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "set either signing_secret or signing_secret_file, not both") {
		t.Fatalf("both: %v", err)
	}
	text = strings.Replace(good, "signing_secret_file: SECRET_FILE", "signing_secret_file: /nonexistent/secret", 1)
	if _, err := Parse("j.yaml", []byte(text), goodEnv); err == nil || !strings.Contains(err.Error(), "slack.signing_secret_file: cannot read the secret") {
		t.Fatalf("unreadable: %v", err)
	}
}

func TestTheShippedExampleConfigsLoad(t *testing.T) {
	matches, _ := filepath.Glob("../../../examples/*.yaml")
	for _, path := range matches {
		t.Run(filepath.Base(path), func(t *testing.T) {
			env := func(name string) (string, bool) {
				switch {
				case strings.Contains(name, "SLACK_BOT"):
					return "xoxb-1234-5678-Kq3vT9", true
				case strings.Contains(name, "SLACK_APP"):
					return "xapp-1-A02-0a1b2c", true
				}
				return "Zk4pW2-secret-value-0123456789", true
			}
			if _, err := Load(path, env); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSlackUserGroupsNeedSlack(t *testing.T) {
	text := withSecretFile(t, good)
	text = strings.Replace(text, "dba: [dba-lead@example.com, dba-oncall@example.com]", "dba: [dba-lead@example.com, slack:db-oncall]", 1)
	cfg, err := Parse("j.yaml", []byte(text), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policy.UserGroups()["dba"]; len(got) != 1 || got[0] != "db-oncall" {
		t.Fatalf("user groups: %v", cfg.Policy.UserGroups())
	}
	start := strings.Index(text, "slack:\n")
	end := strings.Index(text, "groups:")
	noSlack := text[:start] + "teams: {app_id: x, app_password: y}\n" + text[end:]
	if _, err := Parse("j.yaml", []byte(noSlack), goodEnv); err == nil || !strings.Contains(err.Error(), "groups.dba[1]: slack:db-oncall names a Slack user group, but slack is not configured") {
		t.Fatalf("without slack: %v", err)
	}
}

// teamsOnly replaces the slack section of the good fixture with teams.
func teamsOnly(t *testing.T, teams string) string {
	t.Helper()
	text := withSecretFile(t, good)
	start, end := strings.Index(text, "slack:\n"), strings.Index(text, "groups:")
	return text[:start] + teams + text[end:]
}

func TestTeams(t *testing.T) {
	cfg, err := Parse("j.yaml", []byte(teamsOnly(t, "teams: {app_id: app, app_password: pw, tenant_id: \" contoso-tenant \"}\n")), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tm := cfg.Teams; tm.AppID != "app" || tm.AppPassword != "pw" || tm.TenantID != "contoso-tenant" || tm.AppType != "" || tm.ServiceHosts != nil {
		t.Fatalf("teams: %+v", tm)
	}
	cfg, err = Parse("j.yaml", []byte(teamsOnly(t, "teams:\n  app_id: app\n  app_password: pw\n  tenant_id: t\n  app_type: multi_tenant\n  service_hosts: [127.0.0.1, \"*.botframework.com\", smba.trafficmanager.net, \"::1\"]\n")), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tm := cfg.Teams; tm.AppType != "multi_tenant" || strings.Join(tm.ServiceHosts, ",") != "127.0.0.1,*.botframework.com,smba.trafficmanager.net,::1" {
		t.Fatalf("teams: %+v", tm)
	}

	for name, tc := range map[string]struct{ teams, want string }{
		"no tenant": {"teams: {app_id: app, app_password: pw}\n",
			"j.yaml:6: teams.tenant_id: required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, which any tenant's admins can set"},
		"blank tenant":     {"teams: {app_id: app, app_password: pw, tenant_id: \" \"}\n", "teams.tenant_id: required"},
		"unknown app type": {"teams: {app_id: app, app_password: pw, tenant_id: t, app_type: any}\n", `teams.app_type: "any": use single_tenant (the default) or multi_tenant`},
		"empty hosts":      {"teams: {app_id: app, app_password: pw, tenant_id: t, service_hosts: []}\n", "teams.service_hosts: empty"},
		"host with scheme": {"teams: {app_id: app, app_password: pw, tenant_id: t, service_hosts: [\"https://smba.trafficmanager.net/\"]}\n", `teams.service_hosts[0]: "https://smba.trafficmanager.net/": want a host name`},
		"host with port":   {"teams: {app_id: app, app_password: pw, tenant_id: t, service_hosts: [ok.example.com, \"127.0.0.1:8080\"]}\n", "teams.service_hosts[1]"},
		"bare wildcard":    {"teams: {app_id: app, app_password: pw, tenant_id: t, service_hosts: [\"*.com\"]}\n", "teams.service_hosts[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("j.yaml", []byte(teamsOnly(t, tc.teams)), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q in:\n%v", tc.want, err)
			}
		})
	}
}

// TestAdapterSections: each adapter's section is its own config type, checked by its own
// Validate and by the loader's generic rules (${ENV}, *_file secrets, endpoints), every problem
// reported with the path and line it always had.
func TestAdapterSections(t *testing.T) {
	const plainHTTP = "is plain http: tokens would cross the network in clear; use https (http is for a loopback simulator only)"
	const unreadable = "cannot read the secret: open /nonexistent: no such file or directory"
	atlasLine := `    atlas: {client_id: id, client_secret: "${ATLAS_SECRET}", rate_limit: {capacity: 10, refill: 5, per: 1m}}` + "\n"
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"slack", "  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret_file: SECRET_FILE\n",
			"  bot_token: xoxp-1\n  app_token_file: /nonexistent\n  api_url: http://slack.example.com/\n", []string{
				"j.yaml:6: slack.signing_secret: required to serve HTTP (or set app_token for Socket Mode)",
				"j.yaml:7: slack.bot_token: a bot token starts with xoxb-",
				"j.yaml:8: slack.app_token_file: " + unreadable,
				`j.yaml:9: slack.api_url: "http://slack.example.com/" ` + plainHTTP,
			}},
		{"slack's runtime fields are not keys", "  signing_secret_file: SECRET_FILE\n", "  signing_secret_file: SECRET_FILE\n  command: /jit\n", []string{
			"j.yaml:9: slack.command: unknown key; the keys here are bot_token, bot_token_file, signing_secret, signing_secret_file, app_token, app_token_file, api_url, approvals_channel",
		}},
		{"teams' runtime fields are not keys", "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret_file: SECRET_FILE\n",
			"teams:\n  app_id: app\n  app_password: pw\n  app_password_file: SECRET_FILE\n  tenant_id: \" \"\n  app_type: any\n" +
				"  service_hosts: [ok.example.com, \"https://x/\"]\n  token_url: https://u:p@login.example.com/\n  work_timeout: 1m\n", []string{
				// Every problem, the unknown key's among them.
				"j.yaml:8: teams.app_password: set either app_password or app_password_file, not both",
				"j.yaml:10: teams.tenant_id: required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, " +
					"which any tenant's admins can set on their users, so it only trusts people of this tenant " +
					"(a multi-tenant app registration also needs it: set app_type: multi_tenant)",
				`j.yaml:11: teams.app_type: "any": use single_tenant (the default) or multi_tenant, as the Azure bot's app registration says`,
				`j.yaml:12: teams.service_hosts[1]: "https://x/": want a host name, an IP address or "*.domain", without scheme, port or path`,
				`j.yaml:13: teams.token_url: "https://u:xxxxx@login.example.com/" carries a user name or password: put credentials in their own keys`,
				"j.yaml:14: teams.work_timeout: unknown key; the keys here are app_id, app_password, app_password_file, tenant_id, app_type, openid_metadata_url, token_url, service_hosts",
			}},
		{"teams", "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret_file: SECRET_FILE\n",
			"teams:\n  app_id: app\n  app_password: pw\n  app_password_file: SECRET_FILE\n  tenant_id: \" \"\n  app_type: any\n" +
				"  service_hosts: [ok.example.com, \"https://x/\"]\n  token_url: https://u:p@login.example.com/\n", []string{
				"j.yaml:8: teams.app_password: set either app_password or app_password_file, not both",
				"j.yaml:10: teams.tenant_id: required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, " +
					"which any tenant's admins can set on their users, so it only trusts people of this tenant " +
					"(a multi-tenant app registration also needs it: set app_type: multi_tenant)",
				`j.yaml:11: teams.app_type: "any": use single_tenant (the default) or multi_tenant, as the Azure bot's app registration says`,
				`j.yaml:12: teams.service_hosts[1]: "https://x/": want a host name, an IP address or "*.domain", without scheme, port or path`,
				`j.yaml:13: teams.token_url: "https://u:xxxxx@login.example.com/" carries a user name or password: put credentials in their own keys`,
			}},
		{"atlas", atlasLine,
			"    atlas:\n      base_url: http://atlas.example.com\n      public_key: pub\n      private_key_file: /nonexistent\n" +
				"      rate_limit: {capacity: 0, refill: 1, per: 1x}\n", []string{
				`j.yaml:15: integrations[0].atlas.base_url: "http://atlas.example.com" ` + plainHTTP,
				"j.yaml:17: integrations[0].atlas.private_key_file: " + unreadable,
				`j.yaml:18: integrations[0].atlas.rate_limit.per: duration "1x": unknown unit "x"; use m, h or d`,
				"j.yaml:18: integrations[0].atlas.rate_limit: capacity and refill must be at least 1",
			}},
		{"atlas credentials", atlasLine, "    atlas: {client_secret_file: SECRET_FILE}\n", []string{
			"j.yaml:14: integrations[0].atlas.client_id: required with client_secret",
		}},
		{"atlas catalog hints", "Cluster0: {sales: [orders]}", "Cluster0: {admin: []}", []string{
			`j.yaml:18: integrations[0].databases.Cluster0: database "admin" is a system database; jitbot does not grant access to it`,
		}},
		{"atlas keys", atlasLine, "    atlas: {client_id: id, client_secret: s, owner_tag: team}\n", []string{
			"j.yaml:14: integrations[0].atlas.owner_tag: unknown key: owner_tag belongs in integrations[0], one level up",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			text := withSecretFile(t, strings.Replace(good, tt.from, tt.to, 1))
			_, err := Parse("j.yaml", []byte(text), goodEnv)
			if err == nil || err.Error() != strings.Join(tt.want, "\n") {
				t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestAdapterConfigsAsRead: the adapters get their own config values as read: secrets from
// their files, the tenant trimmed, nothing defaulted that the adapter defaults itself.
func TestAdapterConfigsAsRead(t *testing.T) {
	text := teamsOnly(t, "teams: {app_id: app, app_password_file: SECRET_FILE, tenant_id: \" t\\n\"}\n")
	text = withSecretFile(t, strings.Replace(text, `client_id: id, client_secret: "${ATLAS_SECRET}"`, "public_key: pub, private_key_file: SECRET_FILE", 1))
	cfg, err := Parse("j.yaml", []byte(text), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tm := cfg.Teams; tm.AppPassword != "shh-signing" || tm.TenantID != "t" || tm.OpenIDMetadataURL != "" || tm.Clock != nil {
		t.Fatalf("teams: %+v", tm)
	}
	if in := cfg.Integrations[0]; in.PublicKey != "pub" || in.PrivateKey != "shh-signing" || in.OwnerTag != "" || in.Databases["Cluster0"]["sales"][0] != "orders" {
		t.Fatalf("atlas: %+v", in)
	}
	if cfg.Slack != nil {
		t.Fatalf("slack: %+v", cfg.Slack)
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// problemsOf loads text and returns every problem, warnings included, as
// `jitbot check` prints them.
func problemsOf(t *testing.T, text string) []string {
	t.Helper()
	cfg, err := Parse("j.yaml", []byte(text), goodEnv)
	var ps Problems
	switch {
	case err == nil:
		ps = cfg.Warnings
	default:
		var ok bool
		if ps, ok = err.(Problems); !ok {
			t.Fatalf("not Problems: %T %v", err, err)
		}
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrokenConfigs: each broken configuration is reported with every
// problem in it, each at its full path and line, in these words.
func TestBrokenConfigs(t *testing.T) {
	empty, blank, placeholder := writeFile(t, ""), writeFile(t, " \n\n"), writeFile(t, "REPLACE-ME\n")
	const atlasLine = `    atlas: {client_id: id, client_secret: "${ATLAS_SECRET}", rate_limit: {capacity: 10, refill: 5, per: 1m}}` + "\n"
	const systemDB = `database "admin" is a system database; jitbot does not grant access to it`
	type edit struct{ from, to string }
	tests := []struct {
		name  string
		edits []edit
		want  []string
	}{
		{"an empty secret file", []edit{{"SECRET_FILE", empty}}, []string{
			"j.yaml:8: slack.signing_secret_file: " + empty + " is empty: the file must hold the secret",
		}},
		{"an empty secret file in a nested section", []edit{{atlasLine, "    atlas: {client_id: id, client_secret_file: " + blank + "}\n"}}, []string{
			"j.yaml:14: integrations[0].atlas.client_secret_file: " + blank + " is empty: the file must hold the secret",
		}},
		{"a placeholder in a secret file", []edit{{"SECRET_FILE", placeholder}}, []string{
			"j.yaml:8: slack.signing_secret_file: " + placeholder + " holds a placeholder (REPLACE), not a real secret",
		}},
		{"placeholders", []edit{
			{"${SLACK_BOT_TOKEN}", "xoxb-REPLACE-ME"}, {"${ADMIN_TOKEN}", "changeme-changeme-0123"},
			{"client_id: id", "client_id: <your service account id>"}, {`"${ATLAS_SECRET}"`, "TODO"},
		}, []string{
			"j.yaml:4: admin_token: looks like a placeholder (changeme), not a real value: set the real one",
			"j.yaml:7: slack.bot_token: looks like a placeholder (REPLACE), not a real value: set the real one",
			"j.yaml:14: integrations[0].atlas.client_id: looks like a placeholder (<...>), not a real value: set the real one",
			"j.yaml:14: integrations[0].atlas.client_secret: looks like a placeholder (TODO), not a real value: set the real one",
		}},
		{"a blank teams app id", []edit{{"slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret_file: SECRET_FILE\n",
			"teams:\n  app_id: \"  \"\n  app_password: pw\n  tenant_id: contoso\n"}}, []string{
			"j.yaml:7: teams.app_id: required: the Microsoft App ID of the Azure bot",
		}},
		{"a reason pattern", []edit{{"    approvers: [owners]\n", "    approvers: [owners]\n    reason_pattern: \"^(DBA-[0-9]+\"\n"}}, []string{
			`j.yaml:27: flows[0].reason_pattern: "^(DBA-[0-9]+" is not a regular expression (Go RE2 syntax): missing closing ): "^(DBA-[0-9]+"`,
		}},
		{"reminders and escalation", []edit{{"    approvers: [owners]\n", "    approvers: [owners]\n    remind_after: 2h\n    escalation:\n" +
			"      - after: 30m\n        approvers: [group:oncall]\n        channel: \"#dba oncall\"\n      - after: 20m\n        approvers: [group:dba]\n"}}, []string{
			"j.yaml:27: flows[0].remind_after: 2h is not shorter than pending_ttl 1h: the request would time out before any reminder",
			`j.yaml:30: flows[0].escalation[0].approvers[0]: unknown group "oncall"; define it under groups`,
			`j.yaml:31: flows[0].escalation[0].channel: "#dba oncall": a channel name (#dba-oncall) or id has no spaces`,
			"j.yaml:32: flows[0].escalation[1].after: 20m is not after the tier before (30m): tiers are reached in order, each counted from when the request was made",
		}},
		{"approvals from groups", []edit{{"  dba: [dba-lead@example.com, dba-oncall@example.com]\n", "  dba: [dba-lead@example.com, dba-oncall@example.com]\n  security: [sec@example.com]\n"},
			{"    approvers: [owners]\n", "    approvers: [owners]\n    approvals_from:\n      - {group: dba, count: 3}\n      - group: secops\n        count: 1\n      - {group: security, count: 0}\n"}}, []string{
			"j.yaml:29: flows[0].approvals_from[0].count: 3 approvals from group dba, which has 2 members: it can never be met",
			`j.yaml:30: flows[0].approvals_from[1].group: unknown group "secops"; define it under groups`,
			"j.yaml:32: flows[0].approvals_from[2].count: must be at least 1",
		}},
		{"a group member whose requests are refused", []edit{{"  dba: [dba-lead@example.com, dba-oncall@example.com]\n", "  dba: [dba-lead@example.com, dba-oncall@example.com]\n  security: [sec@example.com]\n"},
			{"    approvers: [owners]\n", "    approvals_from: [{group: dba, count: 1}, {group: security, count: 1}]\n"}}, []string{
			"j.yaml:27: warning: flows[0].approvals_from: access flow prod-read needs 1 of dba and 1 of security, and nobody approves their own request: " +
				"requests by sec@example.com are always refused, since the others cannot give them",
		}},
		{"working hours", []edit{{"    approvers: [owners]\n", "    approvers: [owners]\n    hours:\n      zone: Europe/Berlinn\n      days: mon-fry\n      from: 8:00\n      to: \"18:00\"\n      flow: night\n"}}, []string{
			`j.yaml:28: flows[0].hours.zone: unknown time zone "Europe/Berlinn"; use an IANA name such as Europe/Berlin or America/New_York`,
			`j.yaml:29: flows[0].hours.days: "mon-fry": write days as mon, tue, wed, thu, fri, sat, sun, in ranges (mon-fri) or lists (mon,wed,fri)`,
			`j.yaml:30: flows[0].hours.from: "8:00" is not a time of day: write HH:MM, 00:00 to 23:59 (quoted, so YAML reads it as text)`,
		}},
		{"working hours: an unknown flow", []edit{{"    approvers: [owners]\n", "    approvers: [owners]\n    hours: {zone: Europe/Berlin, days: mon-fri, from: \"08:00\", to: \"18:00\", flow: night}\n"}}, []string{
			`j.yaml:27: flows[0].hours.flow: unknown access flow "night"`,
		}},
		{"break-glass", []edit{{"    max_duration: 8h\n    approvers: [owners]\n", "    break_glass:\n      max_duration: 6h\n      reviewers: [owners, group:security]\n      escalation:\n        - after: 1h\n          approvers: [group:nope]\n"}}, []string{
			"j.yaml:26: flows[0].break_glass.max_duration: 6h: break-glass access lasts 1m to 4h",
			"j.yaml:27: flows[0].break_glass.reviewers[0]: owners: reviewers are named people: user:<email>, group:<name> or integration-owners",
			`j.yaml:27: flows[0].break_glass.reviewers[1]: unknown group "security"; define it under groups`,
			`j.yaml:30: flows[0].break_glass.escalation[0].approvers[0]: unknown group "nope"; define it under groups`,
		}},
		{"a type error has a path", []edit{{"    approvers: [owners]\n", "    approvers: [owners]\n    approvals: one\n"}}, []string{
			`j.yaml:27: flows[0].approvals: want a whole number, not "one"`,
		}},
		{"every problem, not the first", []edit{
			{"store: {path: /data/jitbot.db}", "store: /data/jitbot.db"},
			{"    max_duration: 8h\n", "    max_duration: 7d\n    colour: blue\n"},
			{"${SLACK_BOT_TOKEN}", "${NOPE}"},
			{"    approvers: [owners]\n", "    approvers: owners\n"},
		}, []string{
			`j.yaml:3: store: want a mapping (key: value), not "/data/jitbot.db"`,
			"j.yaml:7: slack.bot_token: environment variable NOPE is not set",
			"j.yaml:25: flows[0].max_duration: 7d is a week or more; Atlas deletes users at most a week ahead, so grants must be shorter",
			"j.yaml:26: flows[0].colour: unknown key; the keys here are name, kind, integration, requesters, resources, roles, default_duration, " +
				"max_duration, approvers, approvals, auto_approve, require_reason, extend_requires_approval, pending_ttl, approvals_channel, remind_after, escalation, reason_pattern, reason_message, approvals_from, hours, break_glass, " +
				"auth, oidc_username, aws_iam_arn, allowed_cidrs, widest_prefix_v4, widest_prefix_v6, allow_public, accept_no_backstop, allow_standing_access, oncall, ticket, step_up, third_party",
			`j.yaml:27: flows[0].approvers: want a list, such as [a, b], not "owners"`,
		}},
		{"a nested typo", []edit{{"client_secret:", "client_secert:"}}, []string{
			"j.yaml:14: integrations[0].atlas.client_secert: unknown key: did you mean client_secret?",
		}},
		{"a key at the wrong level", []edit{{"    owners: [group:dba]\n", "    owners: [group:dba]\n    client_id: id2\n"}, {"listen:", "approvers: [owners]\nlisten:"}}, []string{
			"j.yaml:2: approvers: unknown key: approvers belongs in flows",
			"j.yaml:17: integrations[0].client_id: unknown key: client_id belongs in integrations[0].atlas",
		}},
		{"a key written twice", []edit{{"    roles: [read]\n", "    roles: [read]\n    roles: [readWrite]\n"}}, []string{
			"j.yaml:25: flows[0].roles: written twice (first on line 24): keep one",
		}},
		{"YAML: an unclosed list", []edit{{"    roles: [read]\n", "    roles: [read\n"}}, []string{
			"j.yaml:24: did not find expected ',' or ']'",
		}},
		{"YAML: a key out of line", []edit{{"    integration: prod\n", "   integration: prod\n"}}, []string{
			"j.yaml:21: did not find expected '-' indicator",
		}},
		{"YAML: a tab", []edit{{"    roles: [read]\n", "\troles: [read]\n"}}, []string{
			"j.yaml:24: a tab indents this line: YAML indents with spaces only; replace the tab with spaces",
		}},
		{"YAML: a tab after the key", []edit{{"listen: \":8080\"", "listen:\t\":8080\"\nstore:\tx: y"}}, []string{
			"j.yaml:3: mapping values are not allowed in this context: the line holds a tab, which YAML takes only inside quoted text; use spaces",
		}},
		// Warnings: jitbot serves, and check says what can never work.
		{"a flow that only covers the admin database", []edit{{`resources: ["Cluster0/sales/*"]`, `resources: ["Cluster0/admin"]`}}, []string{
			`j.yaml:23: warning: flows[0].resources[0]: "Cluster0/admin" can never match: ` + systemDB,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := good
			for _, e := range tt.edits {
				if !strings.Contains(text, e.from) {
					t.Fatalf("fixture lacks %q", e.from)
				}
				text = strings.Replace(text, e.from, e.to, 1)
			}
			got := problemsOf(t, withSecretFile(t, text))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPlaceholder(t *testing.T) {
	for s, want := range map[string]string{
		"xoxb-REPLACE-ME": "REPLACE", "replace_me": "replace", "changeme": "changeme", "change-me": "change me", "<client secret>": "<...>",
		"TODO": "TODO", "xxxx": "xxxx", "****": "****", "your-bot-token": "your bot", "EXAMPLE": "EXAMPLE",
		// Real values, whatever letters they hold.
		"xoxb-1234-5678-todoX9": "", "mdb_sa_id_0123": "", "5cf5a45a9ccf6400e60981b6": "", "s3cr#t: {x}": "", "x": "", "Replacement42": "",
	} {
		if got := placeholder(s); got != want {
			t.Errorf("placeholder(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"max_durration", "max_duration", 1}, {"client_secert", "client_secret", 1}, {"", "abc", 3}, {"colour", "roles", 4}, {"same", "same", 0}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

// TestLoadPolicyNeedsNoSecrets: the policy reads with the file alone (a CI
// job has none of the secrets), and a broken policy or a broken file is
// still refused.
func TestLoadPolicyNeedsNoSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "jitbot.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := func(string) (string, bool) { return "", false }
	text := strings.ReplaceAll(good, "SECRET_FILE", "/nonexistent/secret")
	p, err := LoadPolicy(write(text), none)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := p.Flow("prod-read"); !ok || f.MaxDuration.String() != "8h0m0s" {
		t.Fatalf("flows: %v", p.Flows())
	}
	for _, tc := range []struct{ from, to, want string }{
		{`requesters: ["*"]`, "requesters: [group:nope]", `j.yaml:22: flows[0].requesters[0]: unknown group "nope"; define it under groups`},
		{"    owners: [group:dba]\n", "    owners: [group:dba]\n    ownerz: []\n", "j.yaml:16: integrations[0].ownerz: unknown key: did you mean owners?"},
		{"  bot_token: ${SLACK_BOT_TOKEN}\n", "  bot_tokn: x\n", "j.yaml:7: slack.bot_tokn: unknown key: did you mean bot_token?"},
	} {
		path := write(strings.Replace(text, tc.from, tc.to, 1))
		_, err := LoadPolicy(path, none)
		if err == nil || err.Error() != strings.Replace(tc.want, "j.yaml", path, 1) {
			t.Errorf("%s: %v", tc.to, err)
		}
	}
}

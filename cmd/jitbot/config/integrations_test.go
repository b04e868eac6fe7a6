package config

import (
	"strings"
	"testing"
)

// withIntegrations adds to the good file a flow approved by the people on
// call and one that checks tickets, with PagerDuty and Jira configured.
func withIntegrations(t *testing.T) string {
	t.Helper()
	return withSecretFile(t, good) + `  - name: prod-write
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [readWrite]
    approvers: [group:dba]
    oncall: {schedules: [PSCHED1], escalation_policies: [PPOL1], levels: [1, 2], auto_approve_oncall: true}
    ticket: {required: true, projects: [OPS, INC], on_outage: refuse, end_when_resolved: true}
pagerduty:
  api_key: ${PD_KEY}
jira:
  base_url: https://example.atlassian.net
  email: bot@example.com
  api_token: ${JIRA_TOKEN}
`
}

var integrationsEnv = env(map[string]string{"ADMIN_TOKEN": "0123456789abcdef0123", "SLACK_BOT_TOKEN": "xoxb-1-2-abc", "ATLAS_SECRET": "s", "PD_KEY": "u+abcdefg123", "JIRA_TOKEN": "ATATT3xF"})

func TestPagerDutyAndJira(t *testing.T) {
	cfg, err := Parse("jitbot.yaml", []byte(withIntegrations(t)), integrationsEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PagerDuty == nil || cfg.PagerDuty.APIKey != "u+abcdefg123" || cfg.Jira == nil || cfg.Jira.APIToken != "ATATT3xF" {
		t.Fatalf("sections: %+v %+v", cfg.PagerDuty, cfg.Jira)
	}
	f, _ := cfg.Policy.Flow("prod-write")
	if f.OnCall == nil || !f.OnCall.AutoApproveOnCall || len(f.OnCall.Query.Levels) != 2 || f.Ticket == nil || !f.Ticket.EndWhenResolved {
		t.Fatalf("flow: %+v %+v", f.OnCall, f.Ticket)
	}
	tests := []struct{ name, from, to, want string }{
		{"no pagerduty", "pagerduty:\n  api_key: ${PD_KEY}\n", "", "flows[1].oncall: the people on call are read from PagerDuty: configure the pagerduty section"},
		{"no jira", "jira:\n", "jiro:\n", "flows[1].ticket: tickets are checked in Jira"},
		{"no pagerduty key", "  api_key: ${PD_KEY}\n", "  base_url: https://api.eu.pagerduty.com\n", "pagerduty.api_key: required"},
		{"jira in clear", "https://example.atlassian.net", "http://jira.internal", `jira.base_url: "http://jira.internal" is plain http`},
		{"bad project", "projects: [OPS, INC]", "projects: [ops]", "jitbot.yaml:34: flows[1].ticket.projects[0]: \"ops\" is not a Jira project key"},
		{"bad outage", "on_outage: refuse", "on_outage: shrug", "flows[1].ticket.on_outage"},
		{"bad level", "levels: [1, 2]", "levels: [0]", "flows[1].oncall.levels[0]: 0: escalation levels run from 1 to 20"},
		{"bad schedule", "schedules: [PSCHED1]", "schedules: [\"my team\"]", "flows[1].oncall.schedules[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := withIntegrations(t)
			if !strings.Contains(text, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			_, err := Parse("jitbot.yaml", []byte(strings.Replace(text, tt.from, tt.to, 1)), integrationsEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

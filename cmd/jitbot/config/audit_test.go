package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditSinks(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook")
	if err := os.WriteFile(secretFile, []byte("a-long-random-webhook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withAudit := func(t *testing.T, audit string) string {
		return withSecretFile(t, good) + audit
	}
	t.Run("a webhook with its secret from a file, and a syslog", func(t *testing.T) {
		cfg, err := Parse("jitbot.yaml", []byte(withAudit(t, `audit:
  sinks:
    - name: siem
      webhook: {url: https://siem.example.com/jitbot, secret_file: `+secretFile+`}
    - name: logs
      syslog: {address: "logs.example.com:6514", app_name: jitbot-prod}
`)), goodEnv)
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Audit.Sinks
		if len(s) != 2 || s[0].Webhook.Secret != "a-long-random-webhook-secret" || s[0].Webhook.URL != "https://siem.example.com/jitbot" ||
			s[1].Syslog.Address != "logs.example.com:6514" || s[1].Syslog.AppName != "jitbot-prod" {
			t.Fatalf("sinks: %+v", s)
		}
	})
	t.Run("no audit section streams nothing", func(t *testing.T) {
		cfg, err := Parse("jitbot.yaml", []byte(withSecretFile(t, good)), goodEnv)
		if err != nil || cfg.Audit != nil {
			t.Fatalf("audit %+v, %v", cfg.Audit, err)
		}
	})
	for _, tt := range []struct{ name, audit, want string }{
		{"a webhook in clear", "audit:\n  sinks:\n    - name: siem\n      webhook: {url: http://siem.example.com/x, secret: a-long-random-webhook-secret}\n",
			`jitbot.yaml:30: audit.sinks[0].webhook.url: "http://siem.example.com/x" is plain http`},
		{"a short secret", "audit:\n  sinks:\n    - name: siem\n      webhook: {url: https://siem.example.com/x, secret: short}\n",
			"jitbot.yaml:30: audit.sinks[0].webhook.secret: too short"},
		{"a secret and its file", "audit:\n  sinks:\n    - name: siem\n      webhook:\n        url: https://siem.example.com/x\n        secret: a-long-random-webhook-secret\n        secret_file: " + secretFile + "\n",
			"jitbot.yaml:32: audit.sinks[0].webhook.secret: set either secret or secret_file, not both"},
		{"an unreadable secret file", "audit:\n  sinks:\n    - name: siem\n      webhook: {url: https://siem.example.com/x, secret_file: /nonexistent/hook}\n",
			"audit.sinks[0].webhook.secret_file: cannot read the secret"},
		{"an unknown key", "audit:\n  sinks:\n    - name: siem\n      webhook: {url: https://siem.example.com/x, secert: a-long-random-webhook-secret}\n",
			"audit.sinks[0].webhook.secert: unknown key: did you mean secret?"},
		{"neither sink", "audit:\n  sinks:\n    - name: siem\n", "jitbot.yaml:29: audit.sinks[0]: configure webhook or syslog"},
		{"a syslog CA that is missing", "audit:\n  sinks:\n    - name: logs\n      syslog:\n        address: logs.example.com:6514\n        ca_file: /nonexistent/ca.pem\n",
			"jitbot.yaml:32: audit.sinks[0].syslog.ca_file: open /nonexistent/ca.pem"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jitbot.yaml", []byte(withAudit(t, tt.audit)), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

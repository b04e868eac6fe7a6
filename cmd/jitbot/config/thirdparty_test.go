package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestThirdPartyAndMail(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "oidc")
	smtpFile := filepath.Join(dir, "smtp")
	for path, v := range map[string]string{secretFile: "an-oidc-client-secret-0123\n", smtpFile: "a-relay-password\n"} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	identity := "identity:\n  oidc:\n    issuer: https://login.example.com\n    client_id: jitbot\n    client_secret_file: " + secretFile +
		"\n    redirect_url: https://jitbot.example.com/id/callback\n"
	smtp := "  smtp:\n    host: smtp.example.com\n    port: 587\n    from: jitbot@example.com\n    username: jitbot\n    password_file: " + smtpFile + "\n    starttls: true\n"
	thirdParty := "    third_party: {sponsors: [group:dba], email_domains: [partner.com], amr: [mfa]}\n"
	t.Run("a flow for guests, links by mail", func(t *testing.T) {
		cfg, err := Parse("jitbot.yaml", []byte(withSecretFile(t, good)+thirdParty+identity+smtp), goodEnv)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := cfg.Policy.Flow("prod-read")
		if f.ThirdParty == nil || f.ThirdParty.EmailDomains[0] != "partner.com" || f.ThirdParty.AMR[0] != "mfa" || len(f.ThirdParty.Sponsors) != 1 {
			t.Fatalf("third_party: %+v", f.ThirdParty)
		}
		s := cfg.Identity.SMTP
		if s == nil || s.Password != "a-relay-password" || s.Port != 587 || !s.StartTLS || s.Host != "smtp.example.com" {
			t.Fatalf("smtp: %+v", s)
		}
	})
	for _, tt := range []struct{ name, text, want string }{
		{"third party without identity", withSecretFile(t, good) + thirdParty, "flows[0].third_party: needs the identity section"},
		{"a sponsor for everyone", withSecretFile(t, good) + strings.Replace(thirdParty, "group:dba", `"*"`, 1) + identity, "flows[0].third_party.sponsors[0]: a sponsor vouches for the guest"},
		{"an address for a domain", withSecretFile(t, good) + strings.Replace(thirdParty, "partner.com", "bob@partner.com", 1) + identity, "flows[0].third_party.email_domains[0]"},
		{"no mfa", withSecretFile(t, good) + strings.Replace(thirdParty, ", amr: [mfa]", "", 1) + identity, "flows[0].third_party: name amr"},
		{"a typo", withSecretFile(t, good) + strings.Replace(thirdParty, "sponsors", "sponsor", 1) + identity, "third_party.sponsor: unknown key"},
		{"mail in clear", withSecretFile(t, good) + identity + strings.Replace(smtp, "starttls: true", "starttls: false", 1), "identity.smtp.starttls: set starttls: true"},
		{"mail without its password", withSecretFile(t, good) + identity + strings.Replace(smtp, "    password_file: "+smtpFile+"\n", "", 1), "identity.smtp.password: required"},
		{"mail from nobody", withSecretFile(t, good) + identity + strings.Replace(smtp, "from: jitbot@example.com", "from: jitbot", 1), "identity.smtp.from"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jitbot.yaml", []byte(tt.text), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

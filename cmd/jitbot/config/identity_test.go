package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentitySection(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "oidc")
	if err := os.WriteFile(secretFile, []byte("an-oidc-client-secret-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	identity := "identity:\n  oidc:\n    issuer: https://login.example.com\n    client_id: jitbot\n    client_secret_file: " + secretFile +
		"\n    redirect_url: https://jitbot.example.com/id/callback\n    reverify_days: 14\n"
	stepUp := "    step_up: {approve: true, acr_values: [phr], amr: [mfa, hwk]}\n"
	t.Run("identity and a step-up flow", func(t *testing.T) {
		cfg, err := Parse("jitbot.yaml", []byte(withSecretFile(t, good)+stepUp+identity), goodEnv)
		if err != nil {
			t.Fatal(err)
		}
		o := cfg.Identity.OIDC
		if o.ClientSecret != "an-oidc-client-secret-0123" || o.ReverifyDays != 14 || o.Issuer != "https://login.example.com" {
			t.Fatalf("oidc: %+v", o)
		}
		f, _ := cfg.Policy.Flow("prod-read")
		if !f.StepUp.Approve || strings.Join(f.StepUp.AMR, ",") != "mfa,hwk" || strings.Join(f.StepUp.ACRValues, ",") != "phr" {
			t.Fatalf("step_up: %+v", f.StepUp)
		}
	})
	for _, tt := range []struct{ name, text, want string }{
		{"step-up without identity", withSecretFile(t, good) + stepUp, "flows[0].step_up: needs the identity section"},
		{"a redirect elsewhere", withSecretFile(t, good) + strings.Replace(identity, "/id/callback", "/cb", 1), "identity.oidc.redirect_url"},
		{"no secret", withSecretFile(t, good) + strings.Replace(identity, "client_secret_file: "+secretFile, "client_secret: \"\"", 1), "identity.oidc.client_secret: required"},
		{"step-up to request", withSecretFile(t, good) + "    step_up: {approve: true, request: true, amr: [mfa]}\n" + identity, "flows[0].step_up.request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jitbot.yaml", []byte(tt.text), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

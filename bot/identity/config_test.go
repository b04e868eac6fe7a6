package identity

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := OIDCConfig{Issuer: "https://login.example.com", ClientID: "jitbot", ClientSecret: "0123456789abcdef0123", RedirectURL: "https://jitbot.example.com/id/callback"}
	if errs := (Config{OIDC: &good}).Validate(); len(errs) != 0 {
		t.Fatalf("good config: %v", errs)
	}
	for _, tc := range []struct {
		edit func(*OIDCConfig)
		want string
	}{
		{func(o *OIDCConfig) { o.Issuer = "http://login.example.com" }, "oidc.issuer: \"http://login.example.com\": use https"},
		{func(o *OIDCConfig) { o.Issuer = "" }, "oidc.issuer: required"},
		{func(o *OIDCConfig) { o.ClientID = "" }, "oidc.client_id: required"},
		{func(o *OIDCConfig) { o.ClientSecret = "" }, "oidc.client_secret: required"},
		{func(o *OIDCConfig) { o.ClientSecret = "short" }, "too short"},
		{func(o *OIDCConfig) { o.RedirectURL = "https://jitbot.example.com/callback" }, "the path must be /id/callback"},
		{func(o *OIDCConfig) { o.RedirectURL = "http://jitbot.example.com/id/callback" }, "use https"},
		{func(o *OIDCConfig) { o.ReverifyDays = 400 }, "oidc.reverify_days: 400"},
	} {
		o := good
		tc.edit(&o)
		errs := (Config{OIDC: &o}).Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", o, errs, tc.want)
		}
	}
	loop := good
	loop.Issuer, loop.RedirectURL = "http://127.0.0.1:8080", "http://localhost:8081/id/callback"
	if errs := (Config{OIDC: &loop}).Validate(); len(errs) != 0 {
		t.Fatalf("loopback over http: %v", errs)
	}
	if errs := (Config{}).Validate(); len(errs) != 1 || errs[0].Path != "oidc" {
		t.Fatalf("no oidc: %v", errs)
	}
}

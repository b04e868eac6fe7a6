package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// check -online discovers the identity provider, as it proves the Atlas
// credentials.
func TestCheckOnlineDiscoversTheIdentityProvider(t *testing.T) {
	h := rigtest.New(t, nil)
	idp := idptest.New(t, "http://127.0.0.1:1/id/callback")
	section := func(issuer string) string {
		return "admins: [dana@example.com]\nidentity:\n  oidc:\n    issuer: " + issuer + "\n    client_id: " + idp.ClientID +
			"\n    client_secret: " + idp.ClientSecret + "\n    redirect_url: http://127.0.0.1:1/id/callback\n"
	}
	h.EditConfig("admins: [dana@example.com]", section(idp.Issuer))
	code, out := runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 0 || !strings.Contains(out, "identity provider "+idp.Issuer+": OK") {
		t.Fatalf("check -online: exit %d\n%s", code, out)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	h.EditConfig("issuer: "+idp.Issuer, "issuer: "+down.URL)
	code, out = runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 1 || !strings.Contains(out, "identity provider "+down.URL+": FAILED") || !strings.Contains(out, "the identity provider failed the online check") {
		t.Fatalf("check -online with the provider down: exit %d\n%s", code, out)
	}
}

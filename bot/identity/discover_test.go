package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/identity/idptest"
)

func TestDiscover(t *testing.T) {
	idp := idptest.New(t, "https://jitbot.example.com/id/callback")
	if err := Discover(context.Background(), &OIDCConfig{Issuer: idp.Issuer}, nil); err != nil {
		t.Fatalf("the test provider: %v", err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if err := Discover(context.Background(), &OIDCConfig{Issuer: down.URL}, nil); err == nil || !strings.Contains(err.Error(), "discover "+down.URL) {
		t.Fatalf("a provider that is down: %v", err)
	}
	// A discovery document for another issuer (a typo in the tenant id).
	if err := Discover(context.Background(), &OIDCConfig{Issuer: idp.Issuer + "/other"}, nil); err == nil {
		t.Fatal("a wrong issuer passed")
	}
}

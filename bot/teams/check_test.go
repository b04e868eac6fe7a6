package teams

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// TestCheck: `jitbot check -online` on Teams gets a bot token with the
// app's id and password and fetches the signing keys; a wrong password or
// an unreachable key endpoint fails, saying which.
func TestCheck(t *testing.T) {
	bf := teamstest.New()
	t.Cleanup(bf.Close)
	cfg := func(edit func(*Config)) Config {
		c := Config{
			AppID: bf.AppID(), AppPassword: bf.AppPassword(), TenantID: bf.TenantID(),
			OpenIDMetadataURL: bf.MetadataURL(), TokenURL: bf.TokenURL(bf.TenantID()),
			Runtime: bot.Runtime{HTTPClient: bf.Client()}, ServiceHosts: []string{"127.0.0.1"},
		}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ok, err := Check(ctx, cfg(nil))
	if err != nil || !strings.Contains(ok, "a bot token from "+bf.TokenURL(bf.TenantID())) || !strings.Contains(ok, "signing keys fetched") {
		t.Fatalf("the fake's own app: %q, %v", ok, err)
	}
	if bf.TokensIssued() != 1 || bf.KeysFetches() != 1 {
		t.Errorf("%d tokens issued and %d key fetches, want 1 each", bf.TokensIssued(), bf.KeysFetches())
	}
	_, err = Check(ctx, cfg(func(c *Config) { c.AppPassword = "wrong" }))
	if err == nil || !strings.Contains(err.Error(), "get no bot token") {
		t.Errorf("a wrong password: %v", err)
	}
	bf.Fail(http.MethodGet, "", http.StatusInternalServerError, 100, 0)
	_, err = Check(ctx, cfg(nil))
	if err == nil || !strings.Contains(err.Error(), "signing keys cannot be fetched") {
		t.Errorf("the key endpoint failing: %v", err)
	}
	_, err = Check(ctx, cfg(func(c *Config) { c.TenantID = "" }))
	if err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("no tenant: %v", err)
	}
}

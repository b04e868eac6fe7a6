package identity

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Discover checks the provider as `jitbot check -online` does: its
// discovery document answers for the configured issuer, and it offers
// what jitbot needs (the authorization code flow, PKCE with S256 when it
// says which methods it supports). serve itself discovers lazily, so that
// it starts while the provider is down.
func Discover(ctx context.Context, cfg *OIDCConfig, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return fmt.Errorf("identity: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		ResponseTypes []string `json:"response_types_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("identity: read %s's discovery document: %w", cfg.Issuer, err)
	}
	if len(meta.ResponseTypes) > 0 && !slices.Contains(meta.ResponseTypes, "code") {
		return fmt.Errorf("identity: %s does not offer the authorization code flow (response_types_supported: %v)", cfg.Issuer, meta.ResponseTypes)
	}
	if len(meta.PKCE) > 0 && !slices.Contains(meta.PKCE, "S256") {
		return fmt.Errorf("identity: %s does not offer PKCE with S256 (code_challenge_methods_supported: %v)", cfg.Issuer, meta.PKCE)
	}
	return nil
}

package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Claims is what an ID token proved about the person who signed in.
type Claims struct {
	Subject       string    `json:"sub"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	AuthTime      time.Time `json:"auth_time,omitzero"`
	AMR           []string  `json:"amr,omitempty"`
	ACR           string    `json:"acr,omitempty"`
}

// provider is the OpenID provider, discovered on first use (and again
// after a failure), so that jitbot starts while the provider is down.
type provider struct {
	cfg    *OIDCConfig
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (p *provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

func (p *provider) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	dctx, cancel := context.WithTimeout(p.ctx(ctx), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: discover the OpenID provider %s: %w", p.cfg.Issuer, err)
	}
	p.oauth = &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
		Endpoint: op.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	// The token's own times (exp, iat) are checked on the wall clock: they
	// are the provider's, not jitbot's schedule.
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.now})
	return p.oauth, p.verifier, nil
}

// authOptions are what a sign-in asks of the provider beyond the code flow.
type authOptions struct {
	// Fresh forces a new authentication (prompt=login, max_age=0): a step-up.
	Fresh bool
	ACR   []string
}

// authURL is where the browser goes to sign in.
func (p *provider) authURL(ctx context.Context, state, nonce, verifier string, o authOptions) (string, error) {
	oc, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if o.Fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	if len(o.ACR) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(o.ACR, " ")))
	}
	return oc.AuthCodeURL(state, opts...), nil
}

// errNonce is a callback whose ID token was issued for another sign-in.
var errNonce = errors.New("the ID token's nonce is not this sign-in's")

// exchange trades the code for tokens and verifies the ID token: signature,
// issuer, audience, expiry, and that it answers this sign-in (nonce).
func (p *provider) exchange(ctx context.Context, code, verifier, nonce string) (Claims, error) {
	oc, v, err := p.discover(ctx)
	if err != nil {
		return Claims{}, err
	}
	tctx, cancel := context.WithTimeout(p.ctx(ctx), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(tctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Claims{}, fmt.Errorf("identity: exchange the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Claims{}, errors.New("identity: the provider returned no ID token")
	}
	idt, err := v.Verify(tctx, raw)
	if err != nil {
		return Claims{}, fmt.Errorf("identity: verify the ID token: %w", err)
	}
	if idt.Nonce == "" || idt.Nonce != nonce {
		return Claims{}, fmt.Errorf("identity: %w", errNonce)
	}
	var c struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		AuthTime      int64           `json:"auth_time"`
		AMR           []string        `json:"amr"`
		ACR           string          `json:"acr"`
	}
	if err := idt.Claims(&c); err != nil {
		return Claims{}, fmt.Errorf("identity: read the ID token's claims: %w", err)
	}
	out := Claims{Subject: idt.Subject, Email: strings.ToLower(strings.TrimSpace(c.Email)), AMR: c.AMR, ACR: c.ACR}
	// Some providers send email_verified as the string "true".
	switch strings.Trim(string(c.EmailVerified), `"`) {
	case "true":
		out.EmailVerified = true
	}
	if c.AuthTime > 0 {
		out.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	return out, nil
}

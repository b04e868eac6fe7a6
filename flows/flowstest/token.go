package flowstest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// KindToken is a kind of grant that exists only in tests: an API token on
// one cluster, handed out as a secret, live as soon as it is made and with
// no server-side expiry. It shows what a kind declares (TokenKind) and what
// its provisioner does (TokenProvisioner), and that the service and the
// chat views handle a kind they were not written for.
const KindToken flows.Kind = "test_token"

var (
	tokenIntegration = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	tokenCluster     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// TokenKind declares KindToken: its target is integration/cluster, it grants
// one role, use or admin, and its principal is tok-<request id>.
func TokenKind() flows.KindSpec {
	validate := func(t flows.Resource) error {
		switch {
		case !tokenIntegration.MatchString(t.Integration) || !tokenCluster.MatchString(t.Cluster):
			return flows.Errorf(flows.EINVALID, "token target %q: want integration/cluster", t.String())
		case t.Database != "" || t.Collection != "":
			return flows.Errorf(flows.EINVALID, "a token is for a whole cluster: %s names a database", t.String())
		}
		return nil
	}
	return flows.KindSpec{
		Kind: KindToken, Name: "test token", SecretName: "token",
		TargetSyntax: "integration/cluster",
		ParseTarget: func(s string) (flows.Resource, error) {
			integration, cluster, _ := strings.Cut(strings.TrimSpace(s), "/")
			t := flows.Resource{Integration: integration, Cluster: cluster}
			return t, validate(t)
		},
		ValidateTarget: validate,
		TargetParts:    1, PatternSyntax: "cluster",
		Roles:     []string{"use", "admin"},
		Principal: func(_ string, requestID flows.RequestID) string { return "tok-" + string(requestID) },
	}
}

// TokenProvisioner makes KindToken grants in memory. It is a Reissuer (a
// new token), an Extender and an Inventory, and neither an ApplyWaiter nor
// a Backstopper: a token works at once, and nothing removes it but Delete.
type TokenProvisioner struct {
	mu      sync.Mutex
	tokens  map[string]flows.Grant // by principal
	secrets map[string]string      // principal -> the token that works now
	issued  int
	calls   []Call
}

var (
	_ flows.Provisioner = (*TokenProvisioner)(nil)
	_ flows.Reissuer    = (*TokenProvisioner)(nil)
	_ flows.Extender    = (*TokenProvisioner)(nil)
	_ flows.Inventory   = (*TokenProvisioner)(nil)
)

// NewTokenProvisioner returns a provisioner with no tokens.
func NewTokenProvisioner() *TokenProvisioner {
	return &TokenProvisioner{tokens: map[string]flows.Grant{}, secrets: map[string]string{}}
}

func (p *TokenProvisioner) record(op string, g flows.Grant) {
	p.calls = append(p.calls, Call{Op: op, Principal: g.Principal, Grant: g})
}

// issue makes a new token for g, replacing any it had.
func (p *TokenProvisioner) issue(g flows.Grant) flows.Credentials {
	p.issued++
	secret := fmt.Sprintf("tkn_%04d_%s", p.issued, strings.Repeat("x", 12))
	p.tokens[g.Principal] = g
	p.secrets[g.Principal] = secret
	return flows.Credentials{
		Fields: []flows.CredentialField{
			{Key: "token_id", Label: "Token id", Value: g.Principal, Mono: true},
			{Key: "token", Label: "Token", Secret: flows.NewSecret(secret), Mono: true},
		},
		Instructions: "Send it in the Authorization header: Bearer <token>.",
	}
}

// Create implements flows.Provisioner.
func (p *TokenProvisioner) Create(_ context.Context, g flows.Grant) (flows.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("create", g)
	if g.Kind != KindToken || len(g.Roles) != 1 || g.Resource.Cluster == "" {
		return flows.Credentials{}, flows.Errorf(flows.EINTERNAL, "not a token grant: %+v", g)
	}
	return p.issue(g), nil
}

// Reissue implements flows.Reissuer: the old token stops working.
func (p *TokenProvisioner) Reissue(_ context.Context, g flows.Grant) (flows.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("reissue", g)
	if _, ok := p.tokens[g.Principal]; !ok {
		return flows.Credentials{}, flows.Errorf(flows.ENOTFOUND, "token %s is gone", g.Principal)
	}
	return p.issue(g), nil
}

// Extend implements flows.Extender; it records the new expiry.
func (p *TokenProvisioner) Extend(_ context.Context, g flows.Grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("extend", g)
	if _, ok := p.tokens[g.Principal]; ok {
		p.tokens[g.Principal] = g
	}
	return nil
}

// Delete implements flows.Provisioner.
func (p *TokenProvisioner) Delete(_ context.Context, g flows.Grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("delete", g)
	delete(p.tokens, g.Principal)
	delete(p.secrets, g.Principal)
	return nil
}

// ManagedGrants implements flows.Inventory.
func (p *TokenProvisioner) ManagedGrants(_ context.Context, integration string) ([]flows.ManagedGrant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("list", flows.Grant{Kind: KindToken, Integration: integration})
	var out []flows.ManagedGrant
	for _, g := range p.tokens {
		if g.Integration == integration {
			out = append(out, flows.ManagedGrant{Principal: g.Principal, RequestID: g.RequestID})
		}
	}
	return out, nil
}

// Add puts a token in place as if made outside the service.
func (p *TokenProvisioner) Add(g flows.Grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[g.Principal] = g
}

// Token returns the grant of a token that exists.
func (p *TokenProvisioner) Token(principal string) (flows.Grant, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.tokens[principal]
	return g, ok
}

// Works reports whether secret is the token that works now for principal.
func (p *TokenProvisioner) Works(principal, secret string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.secrets[principal]
	return ok && s == secret
}

// Ops returns the operations called so far, in order.
func (p *TokenProvisioner) Ops() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.calls))
	for i, c := range p.calls {
		out[i] = c.Op
	}
	return out
}

// Calls returns the calls made so far.
func (p *TokenProvisioner) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

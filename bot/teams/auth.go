package teams

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Defaults for ValidatorConfig.
const (
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	DefaultIssuer            = "https://api.botframework.com"
	DefaultLeeway            = 5 * time.Minute
	// DefaultKeyRefreshInterval is how long fetched signing keys are trusted before a refetch.
	// The Bot Framework documents a daily refresh; keys are published well before first use.
	DefaultKeyRefreshInterval = 24 * time.Hour
	// DefaultMinKeyRefreshInterval bounds how often an unknown kid (or a failing endpoint) can
	// make us refetch, so a client spraying random kids cannot turn us into a flood.
	DefaultMinKeyRefreshInterval = 30 * time.Second
	DefaultFetchTimeout          = 10 * time.Second
)

const (
	maxTokenLen   = 16 << 10 // real channel tokens are ~1.5 KB; refuse to parse megabytes
	maxMetaBody   = 1 << 20
	minRSAKeyBits = 2048
)

// Errors returned by TokenValidator. They are wrapped with details; test with errors.Is. All of
// them mean "answer 401".
var (
	ErrMissingToken       = errors.New("teams: missing bearer token")
	ErrMalformedToken     = errors.New("teams: malformed token")
	ErrAlgorithm          = errors.New("teams: signing algorithm not allowed")
	ErrMissingKeyID       = errors.New("teams: token has no kid")
	ErrUnknownKey         = errors.New("teams: unknown signing key")
	ErrKeysUnavailable    = errors.New("teams: signing keys unavailable")
	ErrBadSignature       = errors.New("teams: invalid token signature")
	ErrTokenExpired       = errors.New("teams: token expired")
	ErrTokenNotYetValid   = errors.New("teams: token not yet valid")
	ErrMissingExpiry      = errors.New("teams: token has no exp")
	ErrIssuer             = errors.New("teams: issuer not allowed")
	ErrAudience           = errors.New("teams: audience mismatch")
	ErrMissingServiceURL  = errors.New("teams: token has no serviceurl")
	ErrServiceURLMismatch = errors.New("teams: serviceurl claim does not match the activity")
	ErrChannelNotEndorsed = errors.New("teams: signing key not endorsed for the activity's channel")
)

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ValidatorConfig configures a TokenValidator. Only AppID is required.
type ValidatorConfig struct {
	// AppID is the bot's Microsoft App ID; tokens must be issued for exactly this audience.
	AppID string
	// MetadataURL is the OpenID metadata document whose jwks_uri lists the signing keys
	// (default DefaultOpenIDMetadataURL).
	MetadataURL string
	// Issuers are the accepted iss values (default DefaultIssuer).
	Issuers []string
	// HTTPClient fetches metadata and keys (default: a client with a 10 s timeout). Every fetch
	// is also bounded by FetchTimeout.
	HTTPClient *http.Client
	Clock      Clock
	// Leeway tolerates clock skew on exp and nbf (default DefaultLeeway; negative: none).
	Leeway time.Duration
	// KeyRefreshInterval: keys older than this are refetched (default DefaultKeyRefreshInterval).
	KeyRefreshInterval time.Duration
	// MinKeyRefreshInterval: minimum time between two fetches not forced by Refresh
	// (default DefaultMinKeyRefreshInterval).
	MinKeyRefreshInterval time.Duration
	// FetchTimeout bounds one metadata + JWKS refresh (default DefaultFetchTimeout).
	FetchTimeout time.Duration
	Logger       *slog.Logger
}

// TokenValidator authenticates requests from the Bot Framework channel service: the JWT in the
// Authorization header must be signed by a key published in the OpenID metadata's JWKS and carry
// the expected issuer, audience, lifetime and serviceurl. It implements msbotbuilder-go's
// auth.TokenValidator, so it plugs into core.BotFrameworkAdapter; unlike the library's validator
// it caches metadata and keys, refreshes them on rotation, checks every claim and never panics.
// It is safe for concurrent use.
type TokenValidator struct {
	appID       string
	metadataURL string
	issuers     []string
	hc          *http.Client
	clock       Clock
	leeway      time.Duration
	refreshIvl  time.Duration
	minRefresh  time.Duration
	fetchTO     time.Duration
	log         *slog.Logger

	keys atomic.Pointer[keySet] // read lock-free on every request

	mu          sync.Mutex // guards the fields below
	lastAttempt time.Time
	lastErr     error
	inflight    *keyRefresh
	closed      bool

	// fetches are the detached key fetches in flight; Close cancels them (stop) and waits,
	// so no fetch logs or writes after its owner has shut down.
	fetches  sync.WaitGroup
	stop     context.Context
	stopping context.CancelFunc
}

var _ auth.TokenValidator = (*TokenValidator)(nil)

type keySet struct {
	keys      map[string]publicKey
	fetchedAt time.Time
}

type publicKey struct {
	key          *rsa.PublicKey
	endorsements []string
}

// keyRefresh is one in-flight metadata + JWKS fetch shared by every caller that needs it.
type keyRefresh struct {
	done chan struct{}
	set  *keySet
	err  error
}

// NewTokenValidator checks cfg and returns a validator. It does not fetch anything yet; call
// Refresh to warm the cache and fail fast on a bad metadata URL.
func NewTokenValidator(cfg ValidatorConfig) (*TokenValidator, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		// msbotbuilder-go treats an empty app id as "authentication disabled"; we never do.
		return nil, errors.New("teams: validator: app id is required")
	}
	v := &TokenValidator{
		appID:       cfg.AppID,
		metadataURL: cmp.Or(cfg.MetadataURL, DefaultOpenIDMetadataURL),
		issuers:     slices.Clone(cfg.Issuers),
		hc:          cfg.HTTPClient,
		clock:       cfg.Clock,
		leeway:      cfg.Leeway,
		refreshIvl:  cmp.Or(cfg.KeyRefreshInterval, DefaultKeyRefreshInterval),
		minRefresh:  cmp.Or(cfg.MinKeyRefreshInterval, DefaultMinKeyRefreshInterval),
		fetchTO:     cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout),
		log:         cfg.Logger,
	}
	if _, err := checkFetchURL(v.metadataURL); err != nil {
		return nil, fmt.Errorf("teams: validator: metadata url: %w", err)
	}
	if len(v.issuers) == 0 {
		v.issuers = []string{DefaultIssuer}
	}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if v.clock == nil {
		v.clock = systemClock{}
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.stop, v.stopping = context.WithCancel(context.Background())
	return v, nil
}

// Close cancels the detached key fetches in flight and waits for them; a later fetch runs in
// its caller's goroutine, bounded by the caller's context.
func (v *TokenValidator) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.stopping()
	v.fetches.Wait()
}

// VerifiedToken is the identity proven by a valid channel token. It implements
// msbotbuilder-go's auth.ClaimsIdentity without its panics: unknown claims read as "".
type VerifiedToken struct {
	Issuer     string
	Audience   string
	ServiceURL string
	KeyID      string
	ExpiresAt  time.Time
	NotBefore  time.Time // zero when the token had no nbf
}

var _ auth.ClaimsIdentity = (*VerifiedToken)(nil)

// GetClaimValue returns the value of a verified claim, or "" for claims not kept.
func (t *VerifiedToken) GetClaimValue(name string) string {
	if t == nil {
		return ""
	}
	switch name {
	case auth.IssuerClaim:
		return t.Issuer
	case auth.AudienceClaim:
		return t.Audience
	case auth.ServiceURLClaim:
		return t.ServiceURL
	}
	return ""
}

// IsAuthenticated reports whether the token was verified.
func (t *VerifiedToken) IsAuthenticated() bool { return t != nil }

// AuthenticateRequest implements auth.TokenValidator for core.BotFrameworkAdapter. The
// credentials and channelService arguments are ignored: the app id is fixed at construction
// (an empty one never disables authentication) and only the public cloud's channel service is
// supported.
func (v *TokenValidator) AuthenticateRequest(ctx context.Context, act schema.Activity, authHeader string, _ auth.CredentialProvider, _ string) (auth.ClaimsIdentity, error) {
	tok, err := v.Validate(ctx, authHeader, act)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// channelClaims are the claims we read; decoding into typed fields turns every wrongly typed
// claim into a parse error instead of a type-assertion panic.
type channelClaims struct {
	jwt.RegisteredClaims
	ServiceURL *string `json:"serviceurl"`
}

// Validate checks the Authorization header value of a request carrying act.
func (v *TokenValidator) Validate(ctx context.Context, authHeader string, act schema.Activity) (*VerifiedToken, error) {
	raw, err := bearerToken(authHeader)
	if err != nil {
		return nil, err
	}

	var (
		claims channelClaims
		used   publicKey
		kid    string
		keyErr error // our own, more precise than the library's wrapping of it
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if alg != "RS256" && alg != "RS384" && alg != "RS512" {
			// Refusing before any key lookup defeats "none" and HS256-with-the-public-key.
			keyErr = fmt.Errorf("%w: %q", ErrAlgorithm, alg)
			return nil, keyErr
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			keyErr = ErrMissingKeyID
			return nil, keyErr
		}
		used, keyErr = v.key(ctx, kid)
		if keyErr != nil {
			return nil, keyErr
		}
		return used.key, nil
	}
	// Claims are checked below with our clock and precise errors, not by the library. A new
	// parser per call: jwt.Parser caches its validator lazily, which would be a data race.
	parser := jwt.NewParser(jwt.WithoutClaimsValidation())
	if _, err := parser.ParseWithClaims(raw, &claims, keyFunc); err != nil {
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, classifyParseError(err)
	}

	if err := v.checkClaims(&claims, used, act); err != nil {
		return nil, err
	}
	tok := &VerifiedToken{
		Issuer:     claims.Issuer,
		Audience:   claims.Audience[0],
		ServiceURL: *claims.ServiceURL,
		KeyID:      kid,
		ExpiresAt:  claims.ExpiresAt.Time,
	}
	if claims.NotBefore != nil {
		tok.NotBefore = claims.NotBefore.Time
	}
	return tok, nil
}

func bearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", ErrMissingToken
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: authorization scheme is not Bearer", ErrMissingToken)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", ErrMissingToken
	}
	if len(tok) > maxTokenLen {
		return "", fmt.Errorf("%w: %d bytes", ErrMalformedToken, len(tok))
	}
	return tok, nil
}

func classifyParseError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// ParseUnverified reports an unregistered "alg" this way.
		return fmt.Errorf("%w: %w", ErrAlgorithm, err)
	default:
		return fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
}

func (v *TokenValidator) checkClaims(c *channelClaims, k publicKey, act schema.Activity) error {
	now := v.clock.Now()
	if !slices.Contains(v.issuers, c.Issuer) {
		return fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	// Exactly one audience: a token minted for several parties could be replayed to us by any
	// of them.
	if len(c.Audience) != 1 || c.Audience[0] != v.appID {
		return fmt.Errorf("%w: got %q, want %q", ErrAudience, []string(c.Audience), v.appID)
	}
	if c.ExpiresAt == nil {
		return ErrMissingExpiry
	}
	if now.After(c.ExpiresAt.Add(v.leeway)) {
		return fmt.Errorf("%w: exp %s, now %s", ErrTokenExpired, c.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time) {
		return fmt.Errorf("%w: nbf %s, now %s", ErrTokenNotYetValid, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.ServiceURL == nil || *c.ServiceURL == "" {
		return ErrMissingServiceURL
	}
	if *c.ServiceURL != act.ServiceURL {
		// The connector client posts replies to the activity's serviceUrl with our bot token;
		// this check is what stops a forged activity from redirecting them.
		return fmt.Errorf("%w: claim %q, activity %q", ErrServiceURLMismatch, *c.ServiceURL, act.ServiceURL)
	}
	if len(k.endorsements) > 0 && !slices.Contains(k.endorsements, act.ChannelID) {
		return fmt.Errorf("%w: channel %q", ErrChannelNotEndorsed, act.ChannelID)
	}
	return nil
}

// key returns the signing key kid, refreshing the cache when it is stale or does not know kid.
func (v *TokenValidator) key(ctx context.Context, kid string) (publicKey, error) {
	set := v.keys.Load()
	fresh := set != nil && v.clock.Now().Sub(set.fetchedAt) < v.refreshIvl
	if fresh {
		if k, ok := set.keys[kid]; ok {
			return k, nil
		}
	}

	newSet, fetched, err := v.refresh(ctx, false, set)
	switch {
	case ctx.Err() != nil:
		return publicKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
	case err == nil && fetched:
		set = newSet
	case err == nil: // rate-limited: no fetch happened, but another caller may just have stored one
		if set = v.keys.Load(); set == nil {
			return publicKey{}, fmt.Errorf("%w: last fetch failed: %w", ErrKeysUnavailable, v.lastError())
		}
	case set == nil:
		return publicKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	default:
		// Keys do not expire by age; serving the last good set keeps us up while Microsoft's
		// endpoint is down.
		v.log.WarnContext(ctx, "teams: signing key refresh failed, using cached keys", "error", err,
			"keys_age", v.clock.Now().Sub(set.fetchedAt).String())
	}
	if k, ok := set.keys[kid]; ok {
		return k, nil
	}
	if !fetched {
		return publicKey{}, fmt.Errorf("%w: %q (key refresh rate-limited)", ErrUnknownKey, kid)
	}
	return publicKey{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

func (v *TokenValidator) isClosed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

func (v *TokenValidator) lastError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lastErr == nil {
		return errors.New("no keys")
	}
	return v.lastErr
}

// Refresh fetches the metadata and keys now, ignoring the rate limit, and reports failure.
// Concurrent callers share one fetch.
func (v *TokenValidator) Refresh(ctx context.Context) error {
	_, _, err := v.refresh(ctx, true, nil)
	return err
}

// refresh fetches a new key set, single-flight. Unless forced it is rate-limited by minRefresh;
// when limited it returns fetched == false and no error. seen is the set the caller found
// wanting: if another refresh replaced it meanwhile, that newer set is returned without a fetch.
// The fetch runs detached from ctx so a caller that gives up does not fail the others waiting.
func (v *TokenValidator) refresh(ctx context.Context, force bool, seen *keySet) (set *keySet, fetched bool, err error) {
	v.mu.Lock()
	call := v.inflight
	if call == nil {
		if cur := v.keys.Load(); !force && cur != nil && cur != seen {
			v.mu.Unlock()
			return cur, true, nil
		}
		now := v.clock.Now()
		if !force && !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.minRefresh {
			v.mu.Unlock()
			return nil, false, nil
		}
		v.lastAttempt = now
		call = &keyRefresh{done: make(chan struct{})}
		v.inflight = call
		if v.closed {
			// After Close nothing runs detached: a late delivery fetches in its own time. It is
			// not one of the fetches Close waits for: adding to them from zero while Close
			// waits would race with that Wait.
			v.mu.Unlock()
			v.runRefresh(ctx, call)
			return call.set, true, call.err
		}
		v.fetches.Add(1)
		go func() {
			defer v.fetches.Done()
			v.runRefresh(context.WithoutCancel(ctx), call)
		}()
	}
	v.mu.Unlock()

	select {
	case <-call.done:
		return call.set, true, call.err
	case <-ctx.Done():
		return nil, false, fmt.Errorf("teams: wait for signing keys: %w", ctx.Err())
	}
}

func (v *TokenValidator) runRefresh(ctx context.Context, call *keyRefresh) {
	ctx, cancel := context.WithTimeout(ctx, v.fetchTO)
	defer cancel()
	if !v.isClosed() {
		defer context.AfterFunc(v.stop, cancel)()
	}
	set, err := v.fetchKeys(ctx)
	if err == nil {
		v.keys.Store(set)
		v.log.InfoContext(ctx, "teams: fetched signing keys", "keys", len(set.keys), "metadata_url", v.metadataURL)
	} else {
		v.log.WarnContext(ctx, "teams: fetch signing keys", "error", err, "metadata_url", v.metadataURL)
	}
	v.mu.Lock()
	v.lastErr = err
	v.inflight = nil
	v.mu.Unlock()
	call.set, call.err = set, err
	close(call.done)
}

type openIDMetadata struct {
	JWKSURI string `json:"jwks_uri"`
}

type jsonWebKey struct {
	Kty          string   `json:"kty"`
	Use          string   `json:"use"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	X5c          []string `json:"x5c"`
	Endorsements []string `json:"endorsements"`
}

func (v *TokenValidator) fetchKeys(ctx context.Context) (*keySet, error) {
	var meta openIDMetadata
	if err := v.getJSON(ctx, v.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("teams: openid metadata: %w", err)
	}
	if _, err := checkFetchURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("teams: openid metadata: jwks_uri: %w", err)
	}
	var jwks struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := v.getJSON(ctx, meta.JWKSURI, &jwks); err != nil {
		return nil, fmt.Errorf("teams: jwks: %w", err)
	}
	set := &keySet{keys: make(map[string]publicKey, len(jwks.Keys))}
	for _, k := range jwks.Keys {
		pk, err := parseJWK(k)
		if err != nil {
			// One odd key must not take the others down.
			v.log.WarnContext(ctx, "teams: skip signing key", "kid", k.Kid, "error", err)
			continue
		}
		set.keys[k.Kid] = pk
	}
	if len(set.keys) == 0 {
		return nil, fmt.Errorf("teams: jwks %s: no usable RSA signing keys", meta.JWKSURI)
	}
	set.fetchedAt = v.clock.Now()
	return set, nil
}

func (v *TokenValidator) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetaBody))
		return fmt.Errorf("get %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetaBody)).Decode(out); err != nil {
		return fmt.Errorf("get %s: decode: %w", u, err)
	}
	return nil
}

func parseJWK(k jsonWebKey) (publicKey, error) {
	if k.Kid == "" {
		return publicKey{}, errors.New("no kid")
	}
	if k.Kty != "RSA" {
		return publicKey{}, fmt.Errorf("key type %q is not RSA", k.Kty)
	}
	if k.Use != "" && k.Use != "sig" {
		return publicKey{}, fmt.Errorf("key use %q is not sig", k.Use)
	}
	var pub *rsa.PublicKey
	switch {
	case k.N != "" && k.E != "":
		n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
		if err != nil {
			return publicKey{}, fmt.Errorf("modulus: %w", err)
		}
		e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
		if err != nil {
			return publicKey{}, fmt.Errorf("exponent: %w", err)
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > 1<<31-1 {
			return publicKey{}, errors.New("exponent out of range")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())}
	case len(k.X5c) > 0:
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			return publicKey{}, fmt.Errorf("x5c: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return publicKey{}, fmt.Errorf("x5c: %w", err)
		}
		rk, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return publicKey{}, errors.New("x5c: not an RSA key")
		}
		pub = rk
	default:
		return publicKey{}, errors.New("no n/e or x5c")
	}
	if pub.N.BitLen() < minRSAKeyBits {
		return publicKey{}, fmt.Errorf("RSA key too short: %d bits", pub.N.BitLen())
	}
	return publicKey{key: pub, endorsements: slices.Clone(k.Endorsements)}, nil
}

// checkFetchURL accepts https URLs, and http only for loopback hosts so tests can use httptest.
// It guards every URL we send credentials to or trust keys from.
func checkFetchURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty url")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q carries user info", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%q: http is only allowed for loopback hosts", raw)
		}
	default:
		return nil, fmt.Errorf("%q: scheme %q not allowed", raw, u.Scheme)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package teams

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

func newValidator(t *testing.T, bf *teamstest.BotFramework, clk Clock, mods ...func(*ValidatorConfig)) *TokenValidator {
	t.Helper()
	cfg := ValidatorConfig{
		AppID:       bf.AppID(),
		MetadataURL: bf.MetadataURL(),
		HTTPClient:  bf.Client(),
		Clock:       clk,
	}
	for _, m := range mods {
		m(&cfg)
	}
	v, err := NewTokenValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func teamsActivity(bf *teamstest.BotFramework) schema.Activity {
	return schema.Activity{Type: schema.Message, ServiceURL: bf.ServiceURL(), ChannelID: "msteams", Text: "hi"}
}

func TestNewTokenValidatorConfig(t *testing.T) {
	for name, cfg := range map[string]ValidatorConfig{
		"no app id":         {},
		"blank app id":      {AppID: "  "},
		"http metadata":     {AppID: "a", MetadataURL: "http://login.example.com/meta"},
		"bad scheme":        {AppID: "a", MetadataURL: "file:///etc/passwd"},
		"no host":           {AppID: "a", MetadataURL: "https:///x"},
		"userinfo metadata": {AppID: "a", MetadataURL: "https://u:p@login.example.com/"},
	} {
		if _, err := NewTokenValidator(cfg); err == nil {
			t.Errorf("%s: NewTokenValidator accepted %+v", name, cfg)
		}
	}
	v, err := NewTokenValidator(ValidatorConfig{AppID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if v.metadataURL != DefaultOpenIDMetadataURL || v.issuers[0] != DefaultIssuer || v.leeway != DefaultLeeway || v.hc.Timeout == 0 {
		t.Fatalf("defaults not applied: %+v", v)
	}
}

func TestValidateAcceptsValidTokens(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	v := newValidator(t, bf, nil)

	ctx := context.Background()
	act := teamsActivity(bf)
	now := time.Now()
	for name, tok := range map[string]string{
		"default":           bf.MintToken(teamstest.TokenClaims{}),
		"RS384":             bf.MintTokenWithMethod(jwt.SigningMethodRS384, teamstest.TokenClaims{}),
		"RS512":             bf.MintTokenWithMethod(jwt.SigningMethodRS512, teamstest.TokenClaims{}),
		"no nbf":            bf.MintToken(teamstest.TokenClaims{Omit: []string{"nbf"}}),
		"aud one-elt array": bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": []string{bf.AppID()}}}),
		"expired in leeway": bf.MintToken(teamstest.TokenClaims{ExpiresAt: now.Add(-time.Minute), NotBefore: now.Add(-time.Hour)}),
		"nbf in leeway":     bf.MintToken(teamstest.TokenClaims{NotBefore: now.Add(time.Minute)}),
	} {
		got, err := v.Validate(ctx, "Bearer "+tok, act)
		if err != nil {
			t.Errorf("%s: rejected: %v", name, err)
			continue
		}
		if got.Audience != bf.AppID() || got.ServiceURL != bf.ServiceURL() || got.KeyID != bf.KeyID() ||
			got.GetClaimValue("serviceurl") != bf.ServiceURL() || got.GetClaimValue("iss") != DefaultIssuer ||
			got.GetClaimValue("nonexistent") != "" || !got.IsAuthenticated() {
			t.Errorf("%s: verified token = %+v", name, got)
		}
	}

	// The scheme is case-insensitive (RFC 7235).
	if _, err := v.Validate(ctx, "bearer "+bf.MintToken(teamstest.TokenClaims{}), act); err != nil {
		t.Errorf("lower-case scheme rejected: %v", err)
	}
	// Through the msbotbuilder-go interface, ignoring the library's credential provider: an
	// empty app id there must not disable authentication.
	id, err := v.AuthenticateRequest(ctx, act, "Bearer "+bf.MintToken(teamstest.TokenClaims{}), auth.SimpleCredentialProvider{}, "")
	if err != nil || !id.IsAuthenticated() {
		t.Fatalf("AuthenticateRequest = %v, %v", id, err)
	}
	if _, err := v.AuthenticateRequest(ctx, act, "Bearer garbage", auth.SimpleCredentialProvider{}, ""); err == nil {
		t.Fatal("AuthenticateRequest accepted garbage with an empty credential provider")
	}
}

func TestValidateRejects(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	v := newValidator(t, bf, nil)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := bf.MintToken(teamstest.TokenClaims{})

	// tampered: same header and signature, payload re-encoded with another audience.
	parts := strings.Split(valid, ".")
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &payload)
	payload["aud"] = "attacker-app"
	raw, _ = json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]

	cases := []struct {
		name   string
		header string
		act    func(schema.Activity) schema.Activity
		want   error
	}{
		{"no header", "", nil, ErrMissingToken},
		{"basic scheme", "Basic dXNlcjpwYXNz", nil, ErrMissingToken},
		{"bearer only", "Bearer", nil, ErrMissingToken},
		{"bearer blank", "Bearer   ", nil, ErrMissingToken},
		{"no scheme", valid, nil, ErrMissingToken},
		{"garbage", "Bearer garbage", nil, ErrMalformedToken},
		{"two segments", "Bearer a.b", nil, ErrMalformedToken},
		{"bad base64", "Bearer !!!.???.***", nil, ErrMalformedToken},
		{"json junk", "Bearer " + b64("{") + "." + b64("{}") + ".", nil, ErrMalformedToken},
		{"huge", "Bearer " + strings.Repeat("a", maxTokenLen+1), nil, ErrMalformedToken},
		{"tampered payload", "Bearer " + tampered, nil, ErrBadSignature},
		{"forged signature, same kid", "Bearer " + bf.MintTokenWithKey(other, bf.KeyID(), teamstest.TokenClaims{}), nil, ErrBadSignature},
		{"wrong audience", "Bearer " + bf.MintToken(teamstest.TokenClaims{Audience: "someone-else"}), nil, ErrAudience},
		{"aud array without us", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": []string{"x", "y"}}}), nil, ErrAudience},
		{"aud array with us and others", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": []string{"x", bf.AppID()}}}), nil, ErrAudience},
		{"aud empty array", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": []string{}}}), nil, ErrAudience},
		{"aud missing", "Bearer " + bf.MintToken(teamstest.TokenClaims{Omit: []string{"aud"}}), nil, ErrAudience},
		{"aud number", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": 42}}), nil, ErrMalformedToken},
		{"aud object", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": map[string]any{"a": 1}}}), nil, ErrMalformedToken},
		{"wrong issuer", "Bearer " + bf.MintToken(teamstest.TokenClaims{Issuer: "https://sts.windows.net/evil/"}), nil, ErrIssuer},
		{"issuer missing", "Bearer " + bf.MintToken(teamstest.TokenClaims{Omit: []string{"iss"}}), nil, ErrIssuer},
		{"issuer number", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"iss": 7}}), nil, ErrMalformedToken},
		{"expired", "Bearer " + bf.MintToken(teamstest.TokenClaims{ExpiresAt: now.Add(-10 * time.Minute), NotBefore: now.Add(-time.Hour)}), nil, ErrTokenExpired},
		{"not yet valid", "Bearer " + bf.MintToken(teamstest.TokenClaims{NotBefore: now.Add(10 * time.Minute), ExpiresAt: now.Add(time.Hour)}), nil, ErrTokenNotYetValid},
		{"missing exp", "Bearer " + bf.MintToken(teamstest.TokenClaims{Omit: []string{"exp"}}), nil, ErrMissingExpiry},
		{"exp string", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"exp": "tomorrow"}}), nil, ErrMalformedToken},
		{"exp null", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"exp": nil}}), nil, ErrMissingExpiry},
		{"missing serviceurl", "Bearer " + bf.MintToken(teamstest.TokenClaims{Omit: []string{"serviceurl"}}), nil, ErrMissingServiceURL},
		{"empty serviceurl", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"serviceurl": ""}}),
			func(a schema.Activity) schema.Activity { a.ServiceURL = ""; return a }, ErrMissingServiceURL},
		{"serviceurl number", "Bearer " + bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"serviceurl": 42}}), nil, ErrMalformedToken},
		{"serviceurl mismatch", "Bearer " + bf.MintToken(teamstest.TokenClaims{ServiceURL: "https://evil.example.com/"}), nil, ErrServiceURLMismatch},
		{"activity serviceurl forged", "Bearer " + valid,
			func(a schema.Activity) schema.Activity { a.ServiceURL = "https://evil.example.com/"; return a }, ErrServiceURLMismatch},
		{"alg none", "Bearer " + bf.Unsigned(teamstest.TokenClaims{}), nil, ErrAlgorithm},
		{"HS256 with the public key", "Bearer " + bf.MintHMAC(bf.PublicKeyPEM(), teamstest.TokenClaims{}), nil, ErrAlgorithm},
		{"PS256", "Bearer " + bf.MintTokenWithMethod(jwt.SigningMethodPS256, teamstest.TokenClaims{}), nil, ErrAlgorithm},
		{"unregistered alg", "Bearer " + b64(`{"alg":"XY999","kid":"k"}`) + "." + b64(`{}`) + ".c2ln", nil, ErrAlgorithm},
		{"no kid", "Bearer " + bf.MintTokenWithKey(other, "", teamstest.TokenClaims{}), nil, ErrMissingKeyID},
		{"unknown kid", "Bearer " + bf.MintTokenWithKey(other, "no-such-key", teamstest.TokenClaims{}), nil, ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			act := teamsActivity(bf)
			if tc.act != nil {
				act = tc.act(act)
			}
			got, err := v.Validate(context.Background(), tc.header, act)
			if got != nil {
				t.Fatalf("accepted: %+v", got)
			}
			mustErrorIs(t, err, tc.want)
			// Through the adapter's interface too: a nil identity, never a typed nil.
			id, err := v.AuthenticateRequest(context.Background(), act, tc.header, nil, "")
			if id != nil || err == nil {
				t.Fatalf("AuthenticateRequest = %v, %v", id, err)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestValidateChannelEndorsements(t *testing.T) {
	bf := teamstest.New(teamstest.WithEndorsements("msteams"))
	defer bf.Close()
	v := newValidator(t, bf, nil)
	tok := "Bearer " + bf.MintToken(teamstest.TokenClaims{})
	act := teamsActivity(bf)
	if _, err := v.Validate(context.Background(), tok, act); err != nil {
		t.Fatalf("endorsed channel rejected: %v", err)
	}
	act.ChannelID = "webchat"
	_, err := v.Validate(context.Background(), tok, act)
	mustErrorIs(t, err, ErrChannelNotEndorsed)
	act.ChannelID = ""
	_, err = v.Validate(context.Background(), tok, act)
	mustErrorIs(t, err, ErrChannelNotEndorsed)
}

func TestValidateUsesInjectedClockAndLeeway(t *testing.T) {
	clk := newFakeClock()
	bf := teamstest.New(teamstest.WithClock(clk))
	defer bf.Close()
	v := newValidator(t, bf, clk, func(c *ValidatorConfig) { c.Leeway = time.Minute })
	tok := "Bearer " + bf.MintToken(teamstest.TokenClaims{}) // exp = clk + 1h
	act := teamsActivity(bf)
	if _, err := v.Validate(context.Background(), tok, act); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour + 59*time.Second)
	if _, err := v.Validate(context.Background(), tok, act); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.Advance(2 * time.Second)
	_, err := v.Validate(context.Background(), tok, act)
	mustErrorIs(t, err, ErrTokenExpired)
}

func TestMetadataFetchedOnceForManyValidations(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	v := newValidator(t, bf, nil)
	act := teamsActivity(bf)
	tok := "Bearer " + bf.MintToken(teamstest.TokenClaims{})

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 10 {
				if _, err := v.Validate(context.Background(), tok, act); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m, k := bf.MetadataFetches(), bf.KeysFetches(); m != 1 || k != 1 {
		t.Fatalf("200 validations, 20 of them concurrent and cold: metadata fetched %d times, keys %d times; want 1 and 1", m, k)
	}
}

func TestKeyRotationAndRefreshRateLimit(t *testing.T) {
	clk := newFakeClock()
	bf := teamstest.New(teamstest.WithClock(clk))
	defer bf.Close()
	v := newValidator(t, bf, clk, func(c *ValidatorConfig) {
		c.MinKeyRefreshInterval = time.Minute
		c.KeyRefreshInterval = 24 * time.Hour
	})
	ctx := context.Background()
	act := teamsActivity(bf)

	oldKid := bf.KeyID()
	if _, err := v.Validate(ctx, "Bearer "+bf.MintToken(teamstest.TokenClaims{}), act); err != nil {
		t.Fatal(err)
	}
	if bf.KeysFetches() != 1 {
		t.Fatalf("keys fetched %d times", bf.KeysFetches())
	}

	// Microsoft rotates: a new key appears and starts signing. Within the rate-limit window the
	// unknown kid is refused without a fetch.
	bf.RotateKey()
	newTok := "Bearer " + bf.MintToken(teamstest.TokenClaims{})
	_, err := v.Validate(ctx, newTok, act)
	mustErrorIs(t, err, ErrUnknownKey)
	if bf.KeysFetches() != 1 {
		t.Fatalf("rate limit ignored: keys fetched %d times", bf.KeysFetches())
	}

	// Once the window has passed, the unknown kid triggers one refresh, which finds the key.
	clk.Advance(time.Minute)
	if _, err := v.Validate(ctx, newTok, act); err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
	if bf.KeysFetches() != 2 {
		t.Fatalf("keys fetched %d times, want 2", bf.KeysFetches())
	}

	// An attacker spraying random kids cannot make us hammer the endpoint.
	for i := range 100 {
		forged := "Bearer " + bf.MintToken(teamstest.TokenClaims{KeyID: fmt.Sprintf("random-%d", i)})
		_, err := v.Validate(ctx, forged, act)
		mustErrorIs(t, err, ErrUnknownKey)
	}
	if bf.KeysFetches() != 2 || bf.MetadataFetches() != 2 {
		t.Fatalf("spraying kids caused fetches: metadata %d keys %d", bf.MetadataFetches(), bf.KeysFetches())
	}

	// The periodic refresh picks up the end of the rotation: the old key is gone.
	bf.DropKey(oldKid)
	clk.Advance(25 * time.Hour)
	if _, err := v.Validate(ctx, newTok, act); err == nil {
		// newTok has expired by now (1h lifetime); use a fresh one below.
		t.Fatal("expired token accepted")
	}
	fresh := "Bearer " + bf.MintToken(teamstest.TokenClaims{})
	if _, err := v.Validate(ctx, fresh, act); err != nil {
		t.Fatal(err)
	}
	if bf.KeysFetches() != 3 {
		t.Fatalf("stale keys not refreshed: keys fetched %d times, want 3", bf.KeysFetches())
	}
	if _, ok := v.keys.Load().keys[oldKid]; ok {
		t.Fatal("dropped key still cached after the periodic refresh")
	}
	_, err = v.Validate(ctx, "Bearer "+bf.MintToken(teamstest.TokenClaims{KeyID: oldKid}), act)
	mustErrorIs(t, err, ErrUnknownKey)
}

func TestKeyEndpointFailures(t *testing.T) {
	clk := newFakeClock()
	bf := teamstest.New(teamstest.WithClock(clk))
	defer bf.Close()
	v := newValidator(t, bf, clk, func(c *ValidatorConfig) { c.MinKeyRefreshInterval = time.Minute })
	ctx := context.Background()
	act := teamsActivity(bf)
	tok := "Bearer " + bf.MintToken(teamstest.TokenClaims{})

	// Cold start with the metadata endpoint down: a clear error, and no retry storm.
	bf.Fail("GET", "/v1/.well-known/openidconfiguration", 503, 1, 0)
	_, err := v.Validate(ctx, tok, act)
	mustErrorIs(t, err, ErrKeysUnavailable)
	_, err = v.Validate(ctx, tok, act)
	mustErrorIs(t, err, ErrKeysUnavailable)
	if n := bf.CallCount("GET", "/v1/.well-known/openidconfiguration"); n != 1 {
		t.Fatalf("metadata requested %d times within the rate-limit window", n)
	}
	if err := v.Refresh(ctx); err != nil { // forced: ignores the rate limit
		t.Fatal(err)
	}
	if _, err := v.Validate(ctx, tok, act); err != nil {
		t.Fatal(err)
	}

	// Keys go stale while the endpoint is down: the cached keys keep working.
	clk.Advance(25 * time.Hour)
	tok = "Bearer " + bf.MintToken(teamstest.TokenClaims{})
	bf.Fail("GET", "/v1/.well-known/keys", 500, -1, 0)
	if _, err := v.Validate(ctx, tok, act); err != nil {
		t.Fatalf("stale keys not used while the endpoint is down: %v", err)
	}
	bf.ClearFaults()

	// A jwks_uri pointing off-loopback over http is an error.
	if _, err := checkFetchURL("http://login.example.com/keys"); err == nil {
		t.Error("plain-http non-loopback jwks_uri accepted")
	}
}

// TestJunkJWKS: metadata whose JWKS holds no usable RSA key (or is not JSON) leaves the real
// validator without keys: Validate says the keys are unavailable (not "unknown key", which an
// empty but accepted key set would say) and Refresh fails.
func TestJunkJWKS(t *testing.T) {
	bf := teamstest.New(teamstest.WithKey(testKey(), "test-key"))
	defer bf.Close()
	tok := "Bearer " + bf.MintToken(teamstest.TokenClaims{})
	act := teamsActivity(bf)
	for name, body := range map[string]string{
		"junk keys only": `{"keys":[{"kty":"EC","kid":"test-key"},{"kty":"RSA","kid":"test-key","n":"AQAB","e":"AQAB"}]}`,
		"no keys":        `{"keys":[]}`,
		"not json":       `not json`,
	} {
		t.Run(name, func(t *testing.T) {
			var jwksFetches atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/meta":
					fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, teamstest.Issuer, srv.URL+"/keys")
				case "/keys":
					jwksFetches.Add(1)
					fmt.Fprint(w, body)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			v, err := NewTokenValidator(ValidatorConfig{
				AppID: bf.AppID(), MetadataURL: srv.URL + "/meta", HTTPClient: srv.Client(), Clock: newFakeClock(),
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Validate(context.Background(), tok, act)
			mustErrorIs(t, err, ErrKeysUnavailable)
			if errors.Is(err, ErrUnknownKey) {
				t.Fatalf("junk JWKS treated as a key set: %v", err)
			}
			if jwksFetches.Load() != 1 {
				t.Fatalf("JWKS fetched %d times", jwksFetches.Load())
			}
			if err := v.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh accepted a JWKS without a usable key")
			}
			if v.keys.Load() != nil {
				t.Fatal("a key set was stored")
			}
		})
	}
}

func TestParseJWKRejectsWeakAndOddKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(k *rsa.PublicKey) jsonWebKey {
		return jsonWebKey{Kty: "RSA", Kid: "k", N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()), E: "AQAB"}
	}
	weak := enc(&small.PublicKey)
	if _, err := parseJWK(weak); err == nil {
		t.Error("1024-bit key accepted")
	}
	for name, k := range map[string]jsonWebKey{
		"no kid":    {Kty: "RSA", N: weak.N, E: "AQAB"},
		"enc use":   {Kty: "RSA", Kid: "k", Use: "enc", N: weak.N, E: "AQAB"},
		"EC":        {Kty: "EC", Kid: "k"},
		"bad n":     {Kty: "RSA", Kid: "k", N: "!!", E: "AQAB"},
		"huge e":    {Kty: "RSA", Kid: "k", N: weak.N, E: base64.RawURLEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})},
		"no n or e": {Kty: "RSA", Kid: "k"},
		"bad x5c":   {Kty: "RSA", Kid: "k", X5c: []string{"!!"}},
	} {
		if _, err := parseJWK(k); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConcurrentValidationDuringRotation validates from many goroutines while keys rotate and
// forgeries are mixed in; run under -race it proves the cache is data-race free.
func TestConcurrentValidationDuringRotation(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	// Real clock and a tiny refresh interval so every rotation is picked up at once.
	v := newValidator(t, bf, nil, func(c *ValidatorConfig) { c.MinKeyRefreshInterval = time.Nanosecond })
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	act := teamsActivity(bf)

	const rotations = 5
	var (
		stop            atomic.Bool
		accepted, fails atomic.Int64
		wg              sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load() || i < 20; i++ {
				var tok string
				forged := (g+i)%5 == 0
				if forged {
					tok = bf.MintTokenWithKey(other, bf.KeyID(), teamstest.TokenClaims{})
				} else {
					tok = bf.MintToken(teamstest.TokenClaims{})
				}
				_, err := v.Validate(context.Background(), "Bearer "+tok, act)
				switch {
				case forged && err == nil:
					t.Error("forged token accepted")
				case forged:
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrUnknownKey):
					// A token signed by a key published while a refresh was already in flight.
					fails.Add(1)
				default:
					t.Errorf("valid token rejected: %v", err)
				}
			}
		})
	}
	for range rotations {
		time.Sleep(5 * time.Millisecond)
		bf.RotateKey()
	}
	stop.Store(true)
	wg.Wait()

	if _, err := v.Validate(context.Background(), "Bearer "+bf.MintToken(teamstest.TokenClaims{}), act); err != nil {
		t.Fatalf("latest key not known after rotations: %v", err)
	}
	if accepted.Load() == 0 {
		t.Fatal("nothing accepted")
	}
	if n := bf.KeysFetches(); n > 2*rotations+2 {
		t.Fatalf("keys fetched %d times for %d rotations: refresh is not single-flight", n, rotations)
	}
	t.Logf("accepted %d, unknown-kid during rotation %d, keys fetched %d", accepted.Load(), fails.Load(), bf.KeysFetches())
}

func FuzzValidate(f *testing.F) {
	bf := teamstest.New()
	defer bf.Close()
	v, err := NewTokenValidator(ValidatorConfig{AppID: bf.AppID(), MetadataURL: bf.MetadataURL(), HTTPClient: bf.Client()})
	if err != nil {
		f.Fatal(err)
	}
	valid := bf.MintToken(teamstest.TokenClaims{})
	for _, s := range []string{"", "Bearer ", "Bearer " + valid, "Bearer " + valid[:len(valid)/2], "Bearer a.b.c",
		"Bearer " + bf.Unsigned(teamstest.TokenClaims{}), "Bearer " + b64(`{"alg":"RS256","kid":1}`) + "." + b64(`{"aud":[1]}`) + ".x"} {
		f.Add(s, bf.ServiceURL())
	}
	f.Fuzz(func(t *testing.T, header, serviceURL string) {
		tok, err := v.Validate(context.Background(), header, schema.Activity{ServiceURL: serviceURL})
		if err == nil && (tok == nil || serviceURL != bf.ServiceURL()) {
			t.Fatalf("accepted %q for %q", header, serviceURL)
		}
	})
}

// hangingKeys is a validator whose first metadata fetch Microsoft never
// answers (only cancellation ends it; arrived is closed once it is under
// way) and whose later fetches fail with a 503; calls counts them.
func hangingKeys(t *testing.T, log io.Writer) (v *TokenValidator, arrived <-chan struct{}, calls *atomic.Int32) {
	t.Helper()
	started := make(chan struct{})
	calls = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	v, err := NewTokenValidator(ValidatorConfig{
		AppID: "a", MetadataURL: srv.URL + "/meta", HTTPClient: srv.Client(), Clock: newFakeClock(), FetchTimeout: time.Hour,
		Logger: slog.New(slog.NewTextHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, started, calls
}

// TestCloseEndsDetachedKeyFetches: a caller that gives up leaves the key fetch running for
// the others; Close cancels it and waits, so no fetch outlives the bot (it once logged into a
// closed process's output).
func TestCloseEndsDetachedKeyFetches(t *testing.T) {
	var logs bottest.Logs
	v, arrived, calls := hangingKeys(t, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	if err := v.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh after its caller gave up: %v", err)
	}
	v.Close()
	logged := logs.String()
	if !strings.Contains(logged, "teams: fetch signing keys") {
		t.Fatalf("Close returned before the detached fetch ended; logs:\n%s", logged)
	}
	// After Close a fetch still runs, in its caller's goroutine, and reports what it met.
	if err := v.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a fetch after Close against a failing server: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("metadata requests: %d, want 2", calls.Load())
	}
}

// TestFetchDuringCloseIsNotCounted: a delivery that arrives while Close waits for a detached
// fetch fetches in its own goroutine; it must not join the fetches Close waits for (adding to
// a WaitGroup that a Wait is on, from zero, is a race the detector caught in CI).
func TestFetchDuringCloseIsNotCounted(t *testing.T) {
	v, arrived, _ := hangingKeys(t, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	if err := v.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh after its caller gave up: %v", err)
	}
	late := make(chan error, 1)
	go func() {
		for !v.isClosed() {
			runtime.Gosched()
		}
		// Close is cancelling the detached fetch and waiting for it; once it has ended, a
		// fetch runs here, in this goroutine.
		for {
			err := v.Refresh(context.Background())
			if err != nil && strings.Contains(err.Error(), "503") {
				late <- nil
				return
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				late <- err
				return
			}
		}
	}()
	v.Close()
	if err := <-late; err != nil {
		t.Fatalf("a fetch during Close: %v", err)
	}
}

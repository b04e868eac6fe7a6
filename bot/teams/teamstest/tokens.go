package teamstest

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// TokenClaims describes a channel token to mint. Zero fields take the defaults of a token the
// Bot Framework would send to this fake's bot.
type TokenClaims struct {
	Issuer     string    // default Issuer
	Audience   string    // default the app id
	ServiceURL string    // default ServiceURL()
	ExpiresAt  time.Time // default now + 1h
	NotBefore  time.Time // default now - 5m
	// KeyID overrides the kid header (default: the signing key's kid).
	KeyID string
	// Omit drops claims by name ("exp", "nbf", "serviceurl", "iss", "aud") after defaults apply.
	Omit []string
	// Extra sets or overrides claims verbatim, e.g. {"aud": []string{"a", "b"}} or
	// {"serviceurl": 42}, for malformed-claim tests.
	Extra map[string]any
}

func (bf *BotFramework) claims(c TokenClaims) jwt.MapClaims {
	now := bf.clock.Now()
	m := jwt.MapClaims{
		"iss":        or(c.Issuer, Issuer),
		"aud":        or(c.Audience, bf.appID),
		"serviceurl": or(c.ServiceURL, bf.ServiceURL()),
		"exp":        timeOr(c.ExpiresAt, now.Add(time.Hour)).Unix(),
		"nbf":        timeOr(c.NotBefore, now.Add(-5*time.Minute)).Unix(),
		// Real channel tokens carry these too; validators ignore them.
		"appid": "d6d49420-f39b-4df7-a1dc-d59a935871db",
		"ver":   "1.0",
	}
	for _, name := range c.Omit {
		delete(m, name)
	}
	maps.Copy(m, c.Extra)
	return m
}

// MintToken signs a channel token with the current signing key.
func (bf *BotFramework) MintToken(c TokenClaims) string {
	k, ok := bf.signingKey()
	if !ok {
		panic("teamstest: no signing key published")
	}
	return bf.MintTokenWithKey(k.priv, k.kid, c)
}

// MintTokenWithKey signs a channel token with any RSA key under kid (c.KeyID still wins), to
// forge tokens the validator must reject.
func (bf *BotFramework) MintTokenWithKey(key *rsa.PrivateKey, kid string, c TokenClaims) string {
	return bf.sign(jwt.SigningMethodRS256, key, or(c.KeyID, kid), c)
}

// MintTokenWithMethod signs with another RSA algorithm (RS384, RS512, PS256...) using the
// current signing key.
func (bf *BotFramework) MintTokenWithMethod(method jwt.SigningMethod, c TokenClaims) string {
	k, ok := bf.signingKey()
	if !ok {
		panic("teamstest: no signing key published")
	}
	return bf.sign(method, k.priv, or(c.KeyID, k.kid), c)
}

// MintHMAC signs an HS256 token with secret, the classic algorithm-confusion attack when the
// secret is the public key (see PublicKeyPEM).
func (bf *BotFramework) MintHMAC(secret []byte, c TokenClaims) string {
	return bf.sign(jwt.SigningMethodHS256, secret, or(c.KeyID, bf.KeyID()), c)
}

// Unsigned returns an `alg: none` token with an empty signature.
func (bf *BotFramework) Unsigned(c TokenClaims) string {
	return bf.sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, or(c.KeyID, bf.KeyID()), c)
}

func (bf *BotFramework) sign(method jwt.SigningMethod, key any, kid string, c TokenClaims) string {
	t := jwt.NewWithClaims(method, bf.claims(c))
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		// Only a wrong key type gets here: a programming error in the calling test.
		panic(fmt.Sprintf("teamstest: sign %s token: %v", method.Alg(), err))
	}
	return s
}

// PublicKeyPEM is the current signing key's public key as PEM (PKIX), the bytes an attacker
// would use as an HMAC secret.
func (bf *BotFramework) PublicKeyPEM() []byte {
	k, ok := bf.signingKey()
	if !ok {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		panic(fmt.Sprintf("teamstest: marshal public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// NewActivityRequest builds the POST the Bot Framework sends to a bot's messaging endpoint.
// An empty token sends no Authorization header.
func NewActivityRequest(ctx context.Context, url string, act schema.Activity, token string) (*http.Request, error) {
	body, err := json.Marshal(act)
	if err != nil {
		return nil, fmt.Errorf("teamstest: encode activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("teamstest: new activity request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// Deliver signs act with a default token (serviceurl = act.ServiceURL) and POSTs it to the bot
// at url, as Teams does. The caller closes the response body.
func (bf *BotFramework) Deliver(ctx context.Context, url string, act schema.Activity) (*http.Response, error) {
	tok := bf.MintToken(TokenClaims{ServiceURL: or(act.ServiceURL, bf.ServiceURL())})
	req, err := NewActivityRequest(ctx, url, act, tok)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("teamstest: deliver activity: %w", err)
	}
	return resp, nil
}

// Message builds an incoming 1:1 message activity from a member, as Teams sends it. Its
// conversation is in the member's tenant, else the fake's (TenantID).
func (bf *BotFramework) Message(conversationID string, from Member, text string) schema.Activity {
	return bf.incoming(conversationID, from, schema.Activity{Type: schema.Message, Text: text})
}

// Submit builds the message activity Teams sends when from clicks an Action.Submit button on the
// card replyToID; value is the action's data merged with the card's inputs.
func (bf *BotFramework) Submit(conversationID string, from Member, replyToID string, value map[string]any) schema.Activity {
	return bf.incoming(conversationID, from, schema.Activity{
		Type: schema.Message, ReplyToID: replyToID, Value: maps.Clone(value),
	})
}

func (bf *BotFramework) incoming(conversationID string, from Member, act schema.Activity) schema.Activity {
	now := bf.clock.Now()
	bf.mu.Lock()
	bf.idSeq++
	id := fmt.Sprintf("1:fake-incoming-%d", bf.idSeq)
	bf.mu.Unlock()
	act.ID = id
	act.Timestamp = now
	act.ServiceURL = bf.ServiceURL()
	act.ChannelID = ChannelID
	act.From = schema.ChannelAccount{ID: from.ID, Name: from.Name, AadObjectID: from.AadObjectID}
	act.Recipient = schema.ChannelAccount{ID: "28:" + bf.appID, Name: "jitbot"}
	act.Conversation = schema.ConversationAccount{
		ID: conversationID, TenantID: or(from.TenantID, bf.tenant), ConversationType: "personal",
	}
	return act
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func timeOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

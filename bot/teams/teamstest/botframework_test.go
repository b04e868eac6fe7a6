package teamstest_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

func getJSON(t *testing.T, c *http.Client, u string, out any) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("decode %s: %v", u, err)
		}
	}
	return resp.StatusCode
}

func fetchToken(t *testing.T, bf *teamstest.BotFramework, tenant, secret string) (string, int) {
	t.Helper()
	resp, err := bf.Client().PostForm(bf.TokenURL(tenant), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {bf.AppID()},
		"client_secret": {secret}, "scope": {teamstest.Scope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.AccessToken, resp.StatusCode
}

func do(t *testing.T, bf *teamstest.BotFramework, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, bf.URL()+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := bf.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestMetadataKeysAndMintedTokensVerify(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()

	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, bf.Client(), bf.MetadataURL(), &meta)
	var jwks struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	getJSON(t, bf.Client(), meta.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != bf.KeyID() {
		t.Fatalf("keys = %+v, want one with kid %q", jwks.Keys, bf.KeyID())
	}
	if bf.MetadataFetches() != 1 || bf.KeysFetches() != 1 {
		t.Fatalf("fetch counters = %d, %d", bf.MetadataFetches(), bf.KeysFetches())
	}
	n, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	tok := bf.MintToken(teamstest.TokenClaims{})
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		t.Fatalf("minted token does not verify with the published key: %v", err)
	}
	if parsed.Header["kid"] != bf.KeyID() || claims["aud"] != bf.AppID() ||
		claims["iss"] != teamstest.Issuer || claims["serviceurl"] != bf.ServiceURL() {
		t.Fatalf("header %v claims %v", parsed.Header, claims)
	}

	omitted := bf.MintToken(teamstest.TokenClaims{Omit: []string{"exp", "serviceurl"}, Extra: map[string]any{"aud": []string{"a", "b"}}})
	claims = jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(omitted, claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["exp"]; ok {
		t.Error("exp not omitted")
	}
	if _, ok := claims["serviceurl"]; ok {
		t.Error("serviceurl not omitted")
	}
	if aud, ok := claims["aud"].([]any); !ok || len(aud) != 2 {
		t.Errorf("aud = %v, want the Extra array", claims["aud"])
	}

	old := bf.KeyID()
	kid := bf.RotateKey()
	if kid == old || bf.KeyID() != kid || len(bf.KeyIDs()) != 2 {
		t.Fatalf("rotate: kid %q old %q ids %v", kid, old, bf.KeyIDs())
	}
	bf.DropKey(old)
	if ids := bf.KeyIDs(); len(ids) != 1 || ids[0] != kid {
		t.Fatalf("after drop: %v", ids)
	}
}

func TestTokenEndpoint(t *testing.T) {
	bf := teamstest.New(teamstest.WithApp("app-1", "s3cret"))
	defer bf.Close()

	if _, status := fetchToken(t, bf, "botframework.com", "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", status)
	}
	tok, status := fetchToken(t, bf, "tenant-a", "s3cret")
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token %q status %d", tok, status)
	}
	if bf.TokensIssued() != 1 || bf.TokenTenants()[0] != "tenant-a" {
		t.Fatalf("issued %d tenants %v", bf.TokensIssued(), bf.TokenTenants())
	}
}

func TestConnectorRecordsAndFaults(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	tok, _ := fetchToken(t, bf, "botframework.com", bf.AppPassword())

	const conv = "a:conv;messageid=1"
	path := "/v3/conversations/" + url.PathEscape(conv) + "/activities"
	card := map[string]any{
		"type": "AdaptiveCard", "version": "1.4",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": "Access request"},
			map[string]any{"type": "FactSet", "facts": []any{map[string]any{"title": "Role", "value": "read"}}},
		},
		"actions": []any{map[string]any{"type": "Action.Submit", "title": "Approve", "data": map[string]any{"action": "approve"}}},
	}
	act := schema.Activity{Type: schema.Message, Attachments: []schema.Attachment{{ContentType: teamstest.AdaptiveCardContentType, Content: card}}}

	if resp, _ := do(t, bf, http.MethodPost, path, "", act); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: status %d", resp.StatusCode)
	}
	resp, body := do(t, bf, http.MethodPost, path, tok, act)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("send: status %d", resp.StatusCode)
	}
	id1, _ := body["id"].(string)
	_, body = do(t, bf, http.MethodPost, path, tok, schema.Activity{Type: schema.Message, Text: "second"})
	id2, _ := body["id"].(string)
	if id1 == "" || id1 == id2 {
		t.Fatalf("ids %q %q, want unique", id1, id2)
	}

	if resp, _ := do(t, bf, http.MethodPut, path+"/unknown", tok, act); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("update unknown: status %d", resp.StatusCode)
	}
	if resp, _ := do(t, bf, http.MethodPut, path+"/"+url.PathEscape(id1), tok, schema.Activity{Type: schema.Message, Text: "decided"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("update: status %d", resp.StatusCode)
	}
	if cur, ok := bf.Current(conv, id1); !ok || cur.Text != "decided" {
		t.Fatalf("current = %+v %v", cur, ok)
	}

	acts := bf.ActivitiesIn(conv)
	if len(acts) != 3 || acts[0].Op != teamstest.OpSend || acts[2].Op != teamstest.OpUpdate || acts[2].ActivityID != id1 {
		t.Fatalf("activities = %+v", acts)
	}
	cards := acts[0].Cards()
	if len(cards) != 1 {
		t.Fatalf("cards = %v", cards)
	}
	if got := teamstest.CardText(cards[0]); got != "Access request\nRole: read" {
		t.Errorf("CardText = %q", got)
	}
	if a, ok := teamstest.FindAction(cards[0], "Approve"); !ok || a.Data["action"] != "approve" {
		t.Errorf("Approve action = %+v %v", a, ok)
	}

	// Faults: one 429 with Retry-After, then normal service.
	bf.Fail(http.MethodPost, "/v3/conversations/*/activities", http.StatusTooManyRequests, 1, 2*time.Second)
	resp, _ = do(t, bf, http.MethodPost, path, tok, act)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("fault: status %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := do(t, bf, http.MethodPost, path, tok, act); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after fault: status %d", resp.StatusCode)
	}
	if n := bf.CallCount(http.MethodPost, "/v3/conversations/*/activities"); n != 5 {
		t.Errorf("CallCount = %d, want 5", n)
	}

	// Status 0 drops the connection (twice: net/http retries a GET once by itself).
	bf.Fail("*", "/v3/conversations/*/members/*", 0, 2, 0)
	req, _ := http.NewRequest(http.MethodGet, bf.URL()+"/v3/conversations/x/members/y", nil)
	if resp, err := bf.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection: got status %d, want a transport error", resp.StatusCode)
	}
}

func TestMembers(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	tok, _ := fetchToken(t, bf, "botframework.com", bf.AppPassword())
	bf.AddMember("conv-1", teamstest.Member{ID: "29:alice", Email: "alice@example.com"})
	bf.AddMember(teamstest.AllConversations, teamstest.Member{ID: "29:bob", UserPrincipalName: "bob@example.com"})

	_, m := do(t, bf, http.MethodGet, "/v3/conversations/conv-1/members/29:alice", tok, nil)
	if m["email"] != "alice@example.com" {
		t.Errorf("alice = %v", m)
	}
	_, m = do(t, bf, http.MethodGet, "/v3/conversations/conv-9/members/29:bob", tok, nil)
	if m["userPrincipalName"] != "bob@example.com" {
		t.Errorf("bob = %v", m)
	}
	if resp, _ := do(t, bf, http.MethodGet, "/v3/conversations/conv-9/members/29:alice", tok, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("alice elsewhere: status %d", resp.StatusCode)
	}
}

// TestTenants: members without a tenant are in the fake's (DefaultTenantID, or WithTenant's),
// in get-member answers and in the activities built for them; a member's own tenant wins.
func TestTenants(t *testing.T) {
	for _, tc := range []struct {
		opts []teamstest.Option
		want string
	}{{nil, teamstest.DefaultTenantID}, {[]teamstest.Option{teamstest.WithTenant("contoso")}, "contoso"}} {
		bf := teamstest.New(tc.opts...)
		defer bf.Close()
		if bf.TenantID() != tc.want {
			t.Errorf("TenantID() = %q, want %q", bf.TenantID(), tc.want)
		}
		tok, _ := fetchToken(t, bf, tc.want, bf.AppPassword())
		bob := teamstest.Member{ID: "29:bob", Email: "bob@example.com"}
		eve := teamstest.Member{ID: "29:eve", Email: "eve@example.com", TenantID: "elsewhere"}
		bf.AddMember(teamstest.AllConversations, bob)
		bf.AddMember(teamstest.AllConversations, eve)
		if _, m := do(t, bf, http.MethodGet, "/v3/conversations/c/members/29:bob", tok, nil); m["tenantId"] != tc.want {
			t.Errorf("bob = %v, want tenant %s", m, tc.want)
		}
		if _, m := do(t, bf, http.MethodGet, "/v3/conversations/c/members/29:eve", tok, nil); m["tenantId"] != "elsewhere" {
			t.Errorf("eve = %v", m)
		}
		if got := bf.Message("c", bob, "hi").Conversation.TenantID; got != tc.want {
			t.Errorf("bob's message in tenant %q, want %q", got, tc.want)
		}
		if got := bf.Submit("c", eve, "1:x", nil).Conversation.TenantID; got != "elsewhere" {
			t.Errorf("eve's click in tenant %q", got)
		}
	}
}

func TestWaitAndActivityBuilders(t *testing.T) {
	bf := teamstest.New()
	defer bf.Close()
	tok, _ := fetchToken(t, bf, "botframework.com", bf.AppPassword())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan teamstest.Activity, 1)
	go func() {
		a, err := bf.Wait(ctx, func(a teamstest.Activity) bool { return a.Activity.Text == "later" })
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	do(t, bf, http.MethodPost, "/v3/conversations/c/activities", tok, schema.Activity{Type: schema.Message, Text: "other"})
	do(t, bf, http.MethodPost, "/v3/conversations/c/activities", tok, schema.Activity{Type: schema.Message, Text: "later"})
	if a := <-got; a.ConversationID != "c" {
		t.Fatalf("Wait returned %+v", a)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if _, err := bf.Wait(short, func(teamstest.Activity) bool { return false }); err == nil {
		t.Fatal("Wait without a match returned no error")
	}

	alice := teamstest.Member{ID: "29:alice", Name: "Alice", AadObjectID: "aad-1", TenantID: "tenant-1"}
	msg := bf.Message("a:1", alice, "access list")
	sub := bf.Submit("a:1", alice, "1:card", map[string]any{"action": "approve"})
	if msg.ServiceURL != bf.ServiceURL() || msg.ChannelID != teamstest.ChannelID || msg.From.ID != alice.ID ||
		msg.Conversation.TenantID != "tenant-1" || msg.ID == "" || msg.ID == sub.ID {
		t.Fatalf("message = %+v", msg)
	}
	if sub.ReplyToID != "1:card" || sub.Value["action"] != "approve" || sub.Type != schema.Message {
		t.Fatalf("submit = %+v", sub)
	}

	req, err := teamstest.NewActivityRequest(ctx, "http://127.0.0.1:1/api/messages", msg, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("request = %s %v", req.Method, req.Header)
	}
}

// stepClock is a clock a test moves by hand.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

// TestOutage: until the outage ends on the fake's clock, every connector call answers 429 with
// the Retry-After and sends nothing; the token endpoint still answers; afterwards everything
// works again.
func TestOutage(t *testing.T) {
	clock := &stepClock{now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	bf := teamstest.New(teamstest.WithClock(clock))
	defer bf.Close()
	bf.AddMember(teamstest.AllConversations, teamstest.Member{ID: "29:alice", Email: "alice@example.com"})
	bf.Outage(clock.now.Add(10*time.Minute), time.Minute)
	tok, status := fetchToken(t, bf, "botframework.com", bf.AppPassword())
	if status != http.StatusOK {
		t.Fatalf("the token endpoint during the outage: %d", status)
	}
	path := "/v3/conversations/" + url.PathEscape("a:conv") + "/activities"
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, path}, {http.MethodPut, path + "/1:x"}, {http.MethodGet, "/v3/conversations/a:conv/members/29:alice"},
	} {
		resp, body := do(t, bf, c.method, c.path, tok, schema.Activity{Type: schema.Message, Text: "x"})
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
			t.Fatalf("%s %s during the outage: %d retry-after %q %v", c.method, c.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	clock.now = clock.now.Add(10*time.Minute - time.Second)
	if resp, _ := do(t, bf, http.MethodPost, path, tok, schema.Activity{Type: schema.Message, Text: "x"}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second before the end: %d", resp.StatusCode)
	}
	if n := len(bf.Activities()); n != 0 {
		t.Fatalf("%d activities recorded during the outage", n)
	}
	clock.now = clock.now.Add(time.Second)
	if resp, _ := do(t, bf, http.MethodPost, path, tok, schema.Activity{Type: schema.Message, Text: "after"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after the outage: %d", resp.StatusCode)
	}
	if n := bf.CallCount(http.MethodPost, "/v3/conversations/*/activities"); n != 3 {
		t.Errorf("%d sends recorded, want 3 (two refused)", n)
	}
	if acts := bf.Activities(); len(acts) != 1 || acts[0].Activity.Text != "after" {
		t.Errorf("activities = %+v", acts)
	}
}

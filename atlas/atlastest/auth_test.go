package atlastest

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

func TestDigestChallengeThenSuccess(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := context.Background()

	// A bare request gets exactly the challenge real Atlas sends.
	resp, err := http.Get(srv.URL() + "/api/atlas/v2/groups/" + projectID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bare request: status %d, want 401", resp.StatusCode)
	}
	challenge := regexp.MustCompile(`^Digest realm="MMS Public API", domain="", nonce="[0-9a-f]{48}", algorithm=MD5, qop="auth", stale=false$`)
	if got := resp.Header.Get("WWW-Authenticate"); !challenge.MatchString(got) {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("401 Content-Type = %q, want application/json", ct)
	}
	srv.ResetCalls()

	g, _, err := defaultClient(t, srv).ProjectsApi.GetGroup(ctx, projectID).Execute()
	if err != nil {
		t.Fatalf("GetGroup: %v", err)
	}
	if g.GetId() != projectID || g.GetName() != "jitbot-test" || g.GetClusterCount() != 2 || g.GetOrgId() != DefaultOrgID {
		t.Fatalf("GetGroup = %+v", g)
	}

	calls := srv.Calls()
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want challenge + call: %+v", len(calls), calls)
	}
	if c := calls[0]; !c.Challenge || c.Status != 401 || c.Principal != "" || c.OperationID != "getGroup" {
		t.Fatalf("first call = %+v, want an unauthenticated challenge", c)
	}
	if c := calls[1]; c.Challenge || c.Status != 200 || c.Principal != DefaultPublicKey {
		t.Fatalf("second call = %+v, want 200 as %s", c, DefaultPublicKey)
	}
	if n := srv.CountCalls("getGroup"); n != 1 {
		t.Fatalf("CountCalls(getGroup) = %d, want 1 (challenges excluded)", n)
	}
}

func TestWrongCredentials401(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := context.Background()
	for name, c := range map[string]*admin.APIClient{
		"wrong private key":  digestClient(t, srv, DefaultPublicKey, "not-the-key"),
		"unknown public key": digestClient(t, srv, "nobody", DefaultPrivateKey),
	} {
		_, resp, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute()
		e := wantCode(t, err, http.StatusUnauthorized, "UNAUTHORIZED")
		if resp == nil || resp.StatusCode != 401 {
			t.Fatalf("%s: response %v", name, resp)
		}
		if !strings.Contains(e.GetDetail(), "digest:") {
			t.Fatalf("%s: detail %q does not say why", name, e.GetDetail())
		}
	}
	if n := srv.CountCalls("getGroup"); n != 0 {
		t.Fatalf("CountCalls = %d, want 0: failed authentication is not a call", n)
	}
}

func TestForbiddenWithoutDatabaseAccessAdmin(t *testing.T) {
	srv := newServer(t, Options{APIKeys: []Credential{
		{ID: "readonly", Secret: "readonly-secret", Roles: []string{RoleReadOnly}},
		{ID: "owner", Secret: "owner-secret", Roles: []string{RoleProjectOwner}},
		{ID: "dbadmin", Secret: "dbadmin-secret", Roles: []string{RoleDatabaseAccessAdmin}},
	}})
	ctx := context.Background()

	ro := digestClient(t, srv, "readonly", "readonly-secret")
	_, _, err := ro.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-ro")).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")
	if _, _, err := ro.DatabaseUsersApi.ListDatabaseUsers(ctx, projectID).Execute(); err != nil {
		t.Fatalf("read-only key cannot list users: %v", err)
	}
	if _, ok := srv.User(projectID, "jit-ro"); ok {
		t.Fatal("forbidden create still created the user")
	}

	for _, id := range []string{"owner", "dbadmin"} {
		c := digestClient(t, srv, id, id+"-secret")
		if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-"+id)).Execute(); err != nil {
			t.Fatalf("%s cannot create a user: %v", id, err)
		}
		// Every project role includes Project Read Only.
		if _, _, err := c.ClustersApi.ListClusters(ctx, projectID).Execute(); err != nil {
			t.Fatalf("%s cannot list clusters: %v", id, err)
		}
	}
}

func TestOAuthTokenIssuedOnceForSeveralCalls(t *testing.T) {
	before := http.DefaultClient.Transport
	srv := newServer(t, Options{})
	ctx := context.Background()
	c := oauthClient(t, srv, DefaultClientID, DefaultClientSecret)

	for range 3 {
		if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err != nil {
			t.Fatalf("GetGroup: %v", err)
		}
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-oauth")).Execute(); err != nil {
		t.Fatalf("CreateDatabaseUser: %v", err)
	}
	if n := srv.TokensIssued(); n != 1 {
		t.Fatalf("TokensIssued = %d, want 1 token reused for 4 calls", n)
	}
	if n := srv.CountCalls("oauthToken"); n != 1 {
		t.Fatalf("token endpoint called %d times", n)
	}
	if n := srv.CountCalls("getGroup"); n != 3 {
		t.Fatalf("CountCalls(getGroup) = %d, want 3", n)
	}
	for _, call := range srv.Calls() {
		if call.Challenge {
			t.Fatalf("OAuth client was sent a digest challenge: %+v", call)
		}
		if call.Principal != DefaultClientID {
			t.Fatalf("call %+v not attributed to the service account", call)
		}
	}
	if http.DefaultClient.Transport != before {
		t.Fatalf("http.DefaultClient.Transport changed to %T", http.DefaultClient.Transport)
	}

	// Once the token is gone, the cached token is rejected with 401 (no digest challenge).
	srv.ExpireTokens()
	_, resp, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute()
	wantCode(t, err, http.StatusUnauthorized, "UNAUTHORIZED")
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatal("bearer failure must not carry a digest challenge")
	}
}

func TestOAuthBadSecretAndRevoke(t *testing.T) {
	srv := newServer(t, Options{ServiceAccounts: []Credential{{ID: "sa1", Secret: "s3cret", Roles: []string{RoleProjectOwner}}}})
	ctx := context.Background()

	_, _, err := oauthClient(t, srv, "sa1", "wrong").ProjectsApi.GetGroup(ctx, projectID).Execute()
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad secret: err = %v, want a 401 from the token endpoint", err)
	}
	if srv.TokensIssued() != 0 {
		t.Fatal("a token was issued for a bad secret")
	}

	// Raw client credentials in the form body, then revoke the token.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sa1"}, "client_secret": {"s3cret"}}
	resp, err := http.PostForm(srv.URL()+"/api/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	decodeJSON(t, resp, &tok)
	if tok.AccessToken == "" || tok.ExpiresIn != 3600 || tok.TokenType != "Bearer" {
		t.Fatalf("token response %+v", tok)
	}
	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/atlas/v2/groups/"+projectID, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if st := get(); st != 200 {
		t.Fatalf("bearer call: %d", st)
	}
	rev, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/oauth/revoke",
		strings.NewReader(url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode()))
	rev.SetBasicAuth("sa1", "s3cret")
	rev.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := http.DefaultClient.Do(rev)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || srv.TokensRevoked() != 1 {
		t.Fatalf("revoke: status %d, revoked %d", r.StatusCode, srv.TokensRevoked())
	}
	if st := get(); st != 401 {
		t.Fatalf("revoked token still accepted: %d", st)
	}
}

func TestTokenExpiryUsesRealTimeNotSimulatorClock(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock})
	c := oauthClient(t, srv, DefaultClientID, DefaultClientSecret)
	ctx := context.Background()
	if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err != nil {
		t.Fatal(err)
	}
	// The client caches the token by its own (real) clock; jumping the simulator clock must
	// not invalidate it.
	clock.Advance(48 * time.Hour)
	if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err != nil {
		t.Fatalf("token rejected after a simulator clock jump: %v", err)
	}
	if srv.TokensIssued() != 1 {
		t.Fatalf("TokensIssued = %d", srv.TokensIssued())
	}
}

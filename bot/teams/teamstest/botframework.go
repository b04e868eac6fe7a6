package teamstest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Defaults of a fake created without options.
const (
	DefaultAppID       = "00000000-0000-0000-0000-0000000b07b0"
	DefaultAppPassword = "fake-bot-password"
	// DefaultTenantID is the Entra tenant of the fake's users: activities built for members
	// without a TenantID carry it, and get-member answers with it. Configure the bot with it
	// (or with the fake's TenantID).
	DefaultTenantID = "00000000-0000-0000-0000-00000000fa4e"
	// Issuer is the issuer of Bot Framework channel tokens.
	Issuer = "https://api.botframework.com"
	// Scope is the scope the bot asks for when it fetches its own token.
	Scope = "https://api.botframework.com/.default"
	// ChannelID is the channel id Teams puts in activities.
	ChannelID = "msteams"
	// AllConversations registers a member with AddMember for every conversation.
	AllConversations = "*"
)

const (
	metadataPath = "/v1/.well-known/openidconfiguration"
	keysPath     = "/v1/.well-known/keys"
	maxBody      = 1 << 20
)

// Clock tells the time; inject a fake one to control token lifetimes and recorded times.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// Member is a conversation member as the connector's get-member call returns it.
type Member struct {
	ID                string `json:"id"`
	Name              string `json:"name,omitempty"`
	Email             string `json:"email,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	AadObjectID       string `json:"aadObjectId,omitempty"`
	TenantID          string `json:"tenantId,omitempty"`
}

// Op says what a recorded connector call did to an activity.
type Op string

// Recorded operations.
const (
	OpSend   Op = "send"   // POST /v3/conversations/{id}/activities
	OpReply  Op = "reply"  // POST /v3/conversations/{id}/activities/{replyTo}
	OpUpdate Op = "update" // PUT /v3/conversations/{id}/activities/{activityId}
	OpDelete Op = "delete" // DELETE /v3/conversations/{id}/activities/{activityId}
)

// Activity is one activity the bot sent, replied, updated or deleted through the connector.
type Activity struct {
	Op             Op
	ConversationID string
	// ActivityID is the id the connector assigned (send, reply) or the one addressed
	// (update, delete).
	ActivityID string
	// ReplyToID is the activity a reply answered (from the URL), empty otherwise.
	ReplyToID string
	// Activity is the decoded request body (zero for deletes).
	Activity schema.Activity
	At       time.Time
}

// Cards returns the Adaptive Cards attached to the activity.
func (a Activity) Cards() []map[string]any { return AdaptiveCards(a.Activity) }

// Call is one HTTP request the fake received, of any kind.
type Call struct {
	Method string
	Path   string // unescaped
	Status int    // 0 when a fault dropped the connection
	At     time.Time
}

// Option configures a BotFramework.
type Option func(*BotFramework)

// WithApp sets the bot's app id and password the token endpoint accepts and tokens are minted for.
func WithApp(appID, password string) Option {
	return func(bf *BotFramework) { bf.appID, bf.password = appID, password }
}

// WithTenant sets the tenant of members who have none (default DefaultTenantID).
func WithTenant(tenantID string) Option {
	return func(bf *BotFramework) { bf.tenant = tenantID }
}

// WithClock sets the clock used for token lifetimes, minted claims and recorded times.
func WithClock(c Clock) Option {
	return func(bf *BotFramework) { bf.clock = c }
}

// WithTokenLifetime sets expires_in of issued bot tokens (default one hour).
func WithTokenLifetime(d time.Duration) Option {
	return func(bf *BotFramework) { bf.tokenTTL = d }
}

// WithKey makes key (published under kid) the initial signing key instead of a generated one;
// generating a 2048-bit key costs tens of milliseconds, so suites creating many fakes share one.
func WithKey(key *rsa.PrivateKey, kid string) Option {
	return func(bf *BotFramework) { bf.initialKey = &signingKey{kid: kid, priv: key} }
}

// WithEndorsements makes every published key carry these channel endorsements (the real JWKS
// lists e.g. "msteams"); without it keys carry none.
func WithEndorsements(channels ...string) Option {
	return func(bf *BotFramework) { bf.endorsements = slices.Clone(channels) }
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

type fault struct {
	method     string
	pattern    string
	status     int
	remaining  int // < 0: forever
	retryAfter time.Duration
}

// BotFramework is the fake. Its methods are safe for concurrent use.
type BotFramework struct {
	srv          *httptest.Server
	appID        string
	password     string
	tenant       string
	clock        Clock
	tokenTTL     time.Duration
	endorsements []string
	initialKey   *signingKey

	mu              sync.Mutex
	keys            []signingKey // published; the last one signs
	keySeq          int
	tokens          map[string]time.Time // issued access token -> expiry
	tokenTenants    []string
	metadataFetches int
	keysFetches     int
	members         map[string]map[string]Member // conversation (or AllConversations) -> id -> member
	faults          []*fault
	outageUntil     time.Time     // connector calls answer 429 until then (Outage)
	outageRetry     time.Duration // with this Retry-After
	activities      []Activity
	current         map[string]schema.Activity // conversation + "\x00" + activity id -> latest content
	calls           []Call
	idSeq           int
	changed         chan struct{} // closed and replaced whenever an activity is recorded
}

// New starts a fake Bot Framework. Close it when done.
func New(opts ...Option) *BotFramework {
	bf := &BotFramework{
		appID:    DefaultAppID,
		password: DefaultAppPassword,
		tenant:   DefaultTenantID,
		clock:    systemClock{},
		tokenTTL: time.Hour,
		tokens:   map[string]time.Time{},
		members:  map[string]map[string]Member{},
		current:  map[string]schema.Activity{},
		changed:  make(chan struct{}),
	}
	for _, o := range opts {
		o(bf)
	}
	if bf.initialKey != nil {
		bf.keys = append(bf.keys, *bf.initialKey)
	} else {
		bf.RotateKey()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+metadataPath, bf.serveMetadata)
	mux.HandleFunc("GET "+keysPath, bf.serveKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", bf.serveToken)
	mux.HandleFunc("POST /v3/conversations/{conv}/activities", bf.connector(bf.serveSend))
	mux.HandleFunc("POST /v3/conversations/{conv}/activities/{id}", bf.connector(bf.serveReply))
	mux.HandleFunc("PUT /v3/conversations/{conv}/activities/{id}", bf.connector(bf.serveUpdate))
	mux.HandleFunc("DELETE /v3/conversations/{conv}/activities/{id}", bf.connector(bf.serveDelete))
	mux.HandleFunc("GET /v3/conversations/{conv}/members/{member}", bf.connector(bf.serveMember))
	bf.srv = httptest.NewServer(bf.record(mux))
	return bf
}

// Close shuts the server down.
func (bf *BotFramework) Close() { bf.srv.Close() }

// URL is the server's base URL, without a trailing slash.
func (bf *BotFramework) URL() string { return bf.srv.URL }

// Client returns an HTTP client for the server.
func (bf *BotFramework) Client() *http.Client { return bf.srv.Client() }

// MetadataURL is the OpenID metadata URL to configure in the token validator.
func (bf *BotFramework) MetadataURL() string { return bf.srv.URL + metadataPath }

// TokenURL is the bot token endpoint for a tenant ("botframework.com" for multi-tenant bots).
func (bf *BotFramework) TokenURL(tenant string) string {
	return bf.srv.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// ServiceURL is the connector base URL to put in activities' serviceUrl and token claims.
func (bf *BotFramework) ServiceURL() string { return bf.srv.URL + "/" }

// AppID is the bot's app id.
func (bf *BotFramework) AppID() string { return bf.appID }

// AppPassword is the bot's app password.
func (bf *BotFramework) AppPassword() string { return bf.password }

// TenantID is the tenant of members registered without one (DefaultTenantID unless WithTenant).
func (bf *BotFramework) TenantID() string { return bf.tenant }

// RotateKey generates a new RSA key, publishes it next to the existing ones and makes it the
// signing key, as Microsoft does during a rotation. It returns the new kid.
func (bf *BotFramework) RotateKey() string {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// crypto/rand does not fail on supported platforms; a fake has nothing better to do.
		panic(fmt.Sprintf("teamstest: generate RSA key: %v", err))
	}
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.keySeq++
	kid := fmt.Sprintf("fake-key-%d", bf.keySeq)
	bf.keys = append(bf.keys, signingKey{kid: kid, priv: priv})
	return kid
}

// DropKey stops publishing kid, completing a rotation. Dropping the signing key makes the newest
// remaining key sign.
func (bf *BotFramework) DropKey(kid string) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.keys = slices.DeleteFunc(bf.keys, func(k signingKey) bool { return k.kid == kid })
}

// KeyID is the kid of the current signing key.
func (bf *BotFramework) KeyID() string {
	k, _ := bf.signingKey()
	return k.kid
}

// KeyIDs lists the published kids, oldest first.
func (bf *BotFramework) KeyIDs() []string {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	ids := make([]string, len(bf.keys))
	for i, k := range bf.keys {
		ids[i] = k.kid
	}
	return ids
}

func (bf *BotFramework) signingKey() (signingKey, bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if len(bf.keys) == 0 {
		return signingKey{}, false
	}
	return bf.keys[len(bf.keys)-1], true
}

// AddMember registers a member returned by get-member in conversationID, or in every
// conversation when conversationID is AllConversations.
func (bf *BotFramework) AddMember(conversationID string, m Member) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if bf.members[conversationID] == nil {
		bf.members[conversationID] = map[string]Member{}
	}
	bf.members[conversationID][m.ID] = m
}

// Fail makes the next times requests matching method and pathPattern fail with status (times < 0:
// until cleared by ClearFaults). method "" or "*" matches any method; pathPattern is matched with
// path.Match against the unescaped path (so "*" stops at "/"), e.g.
// "/v3/conversations/*/activities"; "" matches every path. A retryAfter > 0
// is sent as Retry-After in seconds. Status 0 drops the connection without a response, to
// simulate a transport error; net/http silently retries a GET once on a fresh connection when a
// reused one drops, so use times >= 2 for GETs. Faults apply before authentication, in the order
// they were added.
func (bf *BotFramework) Fail(method, pathPattern string, status, times int, retryAfter time.Duration) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.faults = append(bf.faults, &fault{
		method: method, pattern: pathPattern, status: status, remaining: times, retryAfter: retryAfter,
	})
}

// Outage makes every connector call (send, reply, update, delete, get-member: every path under
// /v3/) answer 429 Throttled with a Retry-After of retryAfter (in whole seconds, rounded up)
// until the fake's clock reaches until, as when Teams throttles the bot as a whole. Nothing is
// recorded as sent meanwhile; the calls are recorded with Status 429. The token endpoint and the
// OpenID documents (Entra ID and the Bot Framework's login service, not the connector) still
// answer. A zero until ends it at once. It applies before Fail's faults.
func (bf *BotFramework) Outage(until time.Time, retryAfter time.Duration) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.outageUntil, bf.outageRetry = until, retryAfter
}

// ClearFaults removes every pending fault.
func (bf *BotFramework) ClearFaults() {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.faults = nil
}

// Activities returns what the connector recorded, in arrival order.
func (bf *BotFramework) Activities() []Activity {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return slices.Clone(bf.activities)
}

// ActivitiesIn returns the recorded activities of one conversation.
func (bf *BotFramework) ActivitiesIn(conversationID string) []Activity {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	var out []Activity
	for _, a := range bf.activities {
		if a.ConversationID == conversationID {
			out = append(out, a)
		}
	}
	return out
}

// Current returns the latest content of an activity the bot sent (after updates), and false if
// it was never sent or has been deleted.
func (bf *BotFramework) Current(conversationID, activityID string) (schema.Activity, bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	a, ok := bf.current[conversationID+"\x00"+activityID]
	return a, ok
}

// Wait blocks until a recorded activity satisfies match (including ones recorded before the
// call) and returns the first such, or ctx's error.
func (bf *BotFramework) Wait(ctx context.Context, match func(Activity) bool) (Activity, error) {
	for {
		bf.mu.Lock()
		for _, a := range bf.activities {
			if match(a) {
				bf.mu.Unlock()
				return a, nil
			}
		}
		ch := bf.changed
		bf.mu.Unlock()
		select {
		case <-ctx.Done():
			return Activity{}, fmt.Errorf("teamstest: wait for activity: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Reset forgets recorded activities and calls; keys, members, tokens and faults stay.
func (bf *BotFramework) Reset() {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.activities = nil
	bf.calls = nil
	bf.current = map[string]schema.Activity{}
}

// Calls returns every HTTP request received, in arrival order.
func (bf *BotFramework) Calls() []Call {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return slices.Clone(bf.calls)
}

// CallCount counts received requests matching method ("" or "*" for any) and pathPattern (path.Match).
func (bf *BotFramework) CallCount(method, pathPattern string) int {
	n := 0
	for _, c := range bf.Calls() {
		if methodMatches(method, c.Method) && pathMatches(pathPattern, c.Path) {
			n++
		}
	}
	return n
}

// MetadataFetches counts successful OpenID metadata requests.
func (bf *BotFramework) MetadataFetches() int {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return bf.metadataFetches
}

// KeysFetches counts successful JWKS requests.
func (bf *BotFramework) KeysFetches() int {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return bf.keysFetches
}

// TokensIssued counts bot tokens the token endpoint issued.
func (bf *BotFramework) TokensIssued() int {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return len(bf.tokenTenants)
}

// TokenTenants lists the tenant path segment of every issued token, in order.
func (bf *BotFramework) TokenTenants() []string {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	return slices.Clone(bf.tokenTenants)
}

// --- HTTP handlers ---

// statusRecorder reports the status once, as the header is written (before the client can see
// the response).
type statusRecorder struct {
	http.ResponseWriter
	status   int
	onStatus func(int)
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		s.onStatus(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// record logs every call and applies faults before routing. Calls are recorded before any
// response byte leaves, so a client that has its answer always finds its call in Calls.
func (bf *BotFramework) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := bf.clock.Now()
		if retry, ok := bf.inOutage(r, at); ok {
			bf.addCall(Call{Method: r.Method, Path: r.URL.Path, Status: http.StatusTooManyRequests, At: at})
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, faultCode(http.StatusTooManyRequests), "the bot is throttled (outage)")
			return
		}
		if f, ok := bf.takeFault(r); ok {
			bf.addCall(Call{Method: r.Method, Path: r.URL.Path, Status: f.status, At: at})
			if f.status == 0 {
				// Closing the raw connection is what a transport failure looks like to the client.
				if h, ok := w.(http.Hijacker); ok {
					if conn, _, err := h.Hijack(); err == nil {
						_ = conn.Close()
					}
				}
				return
			}
			if f.retryAfter > 0 {
				secs := int((f.retryAfter + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			writeError(w, f.status, faultCode(f.status), "injected fault")
			return
		}
		rec := &statusRecorder{ResponseWriter: w, onStatus: func(status int) {
			bf.addCall(Call{Method: r.Method, Path: r.URL.Path, Status: status, At: at})
		}}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.WriteHeader(http.StatusOK)
		}
	})
}

func faultCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Throttled"
	case http.StatusPreconditionFailed:
		return "PreconditionFailed"
	case http.StatusBadRequest:
		return "BadArgument"
	default:
		return "ServiceError"
	}
}

func (bf *BotFramework) addCall(c Call) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.calls = append(bf.calls, c)
}

// inOutage says whether r is a connector call refused by the outage at now, and its Retry-After.
func (bf *BotFramework) inOutage(r *http.Request, now time.Time) (time.Duration, bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if !now.Before(bf.outageUntil) || !strings.HasPrefix(r.URL.Path, "/v3/") {
		return 0, false
	}
	return bf.outageRetry, true
}

func (bf *BotFramework) takeFault(r *http.Request) (fault, bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	for _, f := range bf.faults {
		if f.remaining == 0 || !methodMatches(f.method, r.Method) || !pathMatches(f.pattern, r.URL.Path) {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
		}
		return *f, true
	}
	return fault{}, false
}

func methodMatches(pattern, method string) bool {
	return pattern == "" || pattern == "*" || strings.EqualFold(pattern, method)
}

func pathMatches(pattern, p string) bool {
	if pattern == "" || pattern == p {
		return true
	}
	ok, err := path.Match(pattern, p)
	return err == nil && ok
}

func (bf *BotFramework) serveMetadata(w http.ResponseWriter, r *http.Request) {
	bf.mu.Lock()
	bf.metadataFetches++
	bf.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                Issuer,
		"authorization_endpoint":                bf.srv.URL + "/v1/.well-known/authorize",
		"jwks_uri":                              bf.srv.URL + keysPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

type jwk struct {
	Kty          string   `json:"kty"`
	Use          string   `json:"use"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	Endorsements []string `json:"endorsements,omitempty"`
}

func (bf *BotFramework) serveKeys(w http.ResponseWriter, r *http.Request) {
	bf.mu.Lock()
	bf.keysFetches++
	keys := make([]jwk, 0, len(bf.keys))
	for _, k := range bf.keys {
		pub := k.priv.PublicKey
		keys = append(keys, jwk{
			Kty:          "RSA",
			Use:          "sig",
			Kid:          k.kid,
			N:            base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:            base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			Endorsements: bf.endorsements,
		})
	}
	bf.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (bf *BotFramework) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: malformed form body")
		return
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: unsupported grant type")
		return
	case r.PostForm.Get("scope") != Scope:
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "AADSTS70011: invalid scope")
		return
	case r.PostForm.Get("client_id") != bf.appID:
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: application not found")
		return
	case r.PostForm.Get("client_secret") != bf.password:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: invalid client secret provided")
		return
	}
	now := bf.clock.Now()
	bf.mu.Lock()
	n := len(bf.tokenTenants) + 1
	tok := fmt.Sprintf("fake-bot-token-%d", n)
	bf.tokens[tok] = now.Add(bf.tokenTTL)
	bf.tokenTenants = append(bf.tokenTenants, r.PathValue("tenant"))
	bf.mu.Unlock()
	secs := int(bf.tokenTTL / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// connector wraps connector handlers with the bearer check the real connector does.
func (bf *BotFramework) connector(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		bf.mu.Lock()
		exp, issued := bf.tokens[tok]
		bf.mu.Unlock()
		if !ok || !issued || !bf.clock.Now().Before(exp) {
			writeError(w, http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, r)
	}
}

func (bf *BotFramework) decodeActivity(w http.ResponseWriter, r *http.Request) (schema.Activity, bool) {
	var act schema.Activity
	if err := json.NewDecoder(r.Body).Decode(&act); err != nil {
		writeError(w, http.StatusBadRequest, "BadArgument", "invalid activity: "+err.Error())
		return act, false
	}
	return act, true
}

func (bf *BotFramework) serveSend(w http.ResponseWriter, r *http.Request) {
	act, ok := bf.decodeActivity(w, r)
	if !ok {
		return
	}
	id := bf.store(OpSend, r.PathValue("conv"), "", "", act)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (bf *BotFramework) serveReply(w http.ResponseWriter, r *http.Request) {
	act, ok := bf.decodeActivity(w, r)
	if !ok {
		return
	}
	id := bf.store(OpReply, r.PathValue("conv"), "", r.PathValue("id"), act)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (bf *BotFramework) serveUpdate(w http.ResponseWriter, r *http.Request) {
	act, ok := bf.decodeActivity(w, r)
	if !ok {
		return
	}
	conv, id := r.PathValue("conv"), r.PathValue("id")
	if _, known := bf.Current(conv, id); !known {
		writeError(w, http.StatusNotFound, "NotFound", "activity not found")
		return
	}
	bf.store(OpUpdate, conv, id, "", act)
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func (bf *BotFramework) serveDelete(w http.ResponseWriter, r *http.Request) {
	conv, id := r.PathValue("conv"), r.PathValue("id")
	if _, known := bf.Current(conv, id); !known {
		writeError(w, http.StatusNotFound, "NotFound", "activity not found")
		return
	}
	bf.store(OpDelete, conv, id, "", schema.Activity{})
	w.WriteHeader(http.StatusOK)
}

func (bf *BotFramework) serveMember(w http.ResponseWriter, r *http.Request) {
	conv, id := r.PathValue("conv"), r.PathValue("member")
	bf.mu.Lock()
	m, ok := bf.members[conv][id]
	if !ok {
		m, ok = bf.members[AllConversations][id]
	}
	bf.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "MemberNotFoundInConversation", "member not found in conversation")
		return
	}
	if m.TenantID == "" {
		m.TenantID = bf.tenant
	}
	writeJSON(w, http.StatusOK, m)
}

// store records an activity operation and returns the activity id (a new one for sends and
// replies).
func (bf *BotFramework) store(op Op, conv, id, replyTo string, act schema.Activity) string {
	at := bf.clock.Now()
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if id == "" {
		bf.idSeq++
		id = fmt.Sprintf("1:fake-activity-%d", bf.idSeq)
	}
	key := conv + "\x00" + id
	if op == OpDelete {
		delete(bf.current, key)
	} else {
		bf.current[key] = act
	}
	bf.activities = append(bf.activities, Activity{
		Op: op, ConversationID: conv, ActivityID: id, ReplyToID: replyTo, Activity: act, At: at,
	})
	close(bf.changed)
	bf.changed = make(chan struct{})
	return id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the Bot Framework connector's ErrorResponse shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// writeOAuthError answers in Entra ID's token-endpoint error shape.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

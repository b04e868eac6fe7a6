package teams

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/client"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Defaults for ConnectorConfig.
const (
	DefaultScope = "https://api.botframework.com/.default"
	// DefaultLoginURL is Entra ID's authority; single-tenant bots get their token from
	// {DefaultLoginURL}/{tenant}/oauth2/v2.0/token.
	DefaultLoginURL = "https://login.microsoftonline.com"
	// MultiTenant is the tenant multi-tenant bots use for their token.
	MultiTenant = "botframework.com"

	DefaultMaxAttempts    = 4
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultMaxRetryWait   = 30 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After the connector waits out itself.
	DefaultMaxRetryAfter = time.Second
	// DefaultCallTimeout bounds the client.Client methods the adapter calls without a context;
	// the adapter calls them inside Teams' 15 s request window.
	DefaultCallTimeout = 10 * time.Second
	// DefaultTokenTimeout bounds one token request.
	DefaultTokenTimeout = 10 * time.Second
)

const maxResponseBody = 1 << 20

// ErrInvalidServiceURL means a service URL was refused before any request (see ConnectorConfig).
var ErrInvalidServiceURL = errors.New("teams: invalid service url")

// DefaultServiceHosts are the hosts of Microsoft's Teams connector service, the only ones the
// bot token goes to unless ConnectorConfig.ServiceHosts says otherwise: the public cloud
// (smba.trafficmanager.net, with regional paths such as /amer/ or /teams/, and the Bot
// Framework's own *.botframework.com), GCC (smba.infra.gcc.teams.microsoft.com), GCC High
// (smba.infra.gov.teams.microsoft.us) and DoD (smba.infra.dod.teams.microsoft.us), the
// well-known Teams service URLs Microsoft publishes for proactive messaging.
func DefaultServiceHosts() []string {
	return []string{
		"smba.trafficmanager.net",
		"*.botframework.com",
		"smba.infra.gcc.teams.microsoft.com",
		"smba.infra.gov.teams.microsoft.us",
		"smba.infra.dod.teams.microsoft.us",
	}
}

// RateWindow allows at most Limit operations per sliding Window.
type RateWindow struct {
	Limit  int
	Window time.Duration
}

// DefaultConversationLimits are Teams' per-bot, per-conversation limits for sending messages
// (7 per second, 8 per 2 seconds, 60 per 30 seconds). The hourly limit (1800) is not tracked:
// a JIT-access bot never gets near it in one conversation and it would cost 1800 timestamps.
func DefaultConversationLimits() []RateWindow {
	return []RateWindow{{7, time.Second}, {8, 2 * time.Second}, {60, 30 * time.Second}}
}

// ConnectorConfig configures a Connector. AppID and AppPassword are required.
type ConnectorConfig struct {
	AppID       string
	AppPassword string
	// TenantID selects the single-tenant token endpoint; empty means multi-tenant
	// (the botframework.com tenant).
	TenantID string
	// TokenURL overrides the token endpoint entirely (sovereign clouds, tests).
	TokenURL string
	// Scope of the bot token (default DefaultScope).
	Scope string
	// HTTPClient sends every request (default: a client with a 30 s timeout); each call is also
	// bounded by its context.
	HTTPClient *http.Client
	Clock      Clock
	// Sleep waits between retries and for pacing (default: a timer honouring ctx). Tests inject
	// one that advances a fake clock.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger

	// MaxAttempts bounds attempts per call, first included (default DefaultMaxAttempts).
	MaxAttempts int
	// RetryBaseDelay is the first backoff step, doubled per retry and jittered
	// (default DefaultRetryBaseDelay).
	RetryBaseDelay time.Duration
	// MaxRetryWait caps one backoff wait (default DefaultMaxRetryWait).
	MaxRetryWait time.Duration
	// MaxRetryAfter is the longest Retry-After the connector waits out itself (default
	// DefaultMaxRetryAfter). A longer one ends the call at once with the *APIError, whose
	// RetryAfter says how long to wait: the outbox's dispatcher holds the conversation back
	// that long, and the inbox retries an item on its own backoff, instead of a worker
	// sleeping through a throttle (a minute, or all of an outage).
	MaxRetryAfter time.Duration
	// CallTimeout bounds Post, Put and Delete, which take no context (default DefaultCallTimeout).
	CallTimeout time.Duration
	// ConversationLimits pace writes per conversation (default DefaultConversationLimits()).
	ConversationLimits []RateWindow
	// ServiceHosts are the only service URL hosts the bot token is sent to; an entry
	// "*.example.com" matches subdomains, an IP literal matches itself (tests). Empty means
	// DefaultServiceHosts(). Service URLs must also be https (http only on loopback).
	ServiceHosts []string
}

// Member is a conversation member as returned by the connector's get-member call; it is how a
// Teams user id is turned into an email address.
type Member struct {
	ID                string `json:"id"`
	Name              string `json:"name,omitempty"`
	Email             string `json:"email,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	AadObjectID       string `json:"aadObjectId,omitempty"`
	TenantID          string `json:"tenantId,omitempty"`
}

// APIError is a non-success answer from the connector or the token endpoint. It tells the
// outbox's dispatcher how to go on (package bot): with a Retry-After it is a bot.RateLimited,
// and a refusal that no retry heals is a bot.PermanentError.
type APIError struct {
	Op         string // e.g. "send activity", opFetchToken
	StatusCode int
	Code       string // Bot Framework error code or OAuth error
	Message    string
	// Wait is the server's Retry-After (seconds or an HTTP date), 0 when it sent none.
	Wait time.Duration
}

// opFetchToken is the Op of the token endpoint's errors.
const opFetchToken = "fetch bot token"

// RetryAfter is the server's Retry-After, 0 when it sent none: with one, the dispatcher holds
// the conversation back that long (bot.RateLimited).
func (e *APIError) RetryAfter() time.Duration { return e.Wait }

// Permanent reports a refusal that sending the same message again cannot change
// (bot.PermanentError): 403, the bot was removed from the conversation or blocked by the
// person; 404, the conversation or the activity to update is gone; 413, the message is too
// large, and is rendered the same on every attempt. The dispatcher drops it rather than hold
// the conversation behind it forever. Everything else heals or is the bot's own: 400
// (BadArgument, the connector's catch-all, may be the shape of every request the bot sends,
// which a fix resumes), 401, and any refusal of the token endpoint, which means the app id,
// password or tenant is wrong for every message alike, for an operator to fix.
func (e *APIError) Permanent() bool {
	if e.Op == opFetchToken {
		return false
	}
	switch e.StatusCode {
	case http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		return true
	}
	return false
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "teams: %s: status %d", e.Op, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Wait > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.Wait)
	}
	return b.String()
}

// Connector talks to the Bot Framework connector service: it sends, updates and deletes
// activities and looks up members, with a cached bot token, timeouts, bounded retries and
// per-conversation pacing. It implements msbotbuilder-go's client.Client so the adapter's
// replies go through it too. It is safe for concurrent use.
type Connector struct {
	appID       string
	password    string
	tokenURL    string
	scope       string
	hc          *http.Client
	clock       Clock
	sleep       func(context.Context, time.Duration) error
	log         *slog.Logger
	maxAttempts int
	baseDelay   time.Duration
	maxWait     time.Duration
	maxThrottle time.Duration
	callTimeout time.Duration
	hosts       []string

	tokens tokenCache
	pacer  *pacer

	// fetches are the detached token fetches in flight; Close cancels them (stop) and waits,
	// so no fetch logs or writes after its owner has shut down.
	fetches  sync.WaitGroup
	stop     context.Context
	stopping context.CancelFunc
}

var _ client.Client = (*Connector)(nil)

// NewConnector checks cfg and returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if strings.TrimSpace(cfg.AppID) == "" || cfg.AppPassword == "" {
		return nil, errors.New("teams: connector: app id and app password are required")
	}
	c := &Connector{
		appID:       cfg.AppID,
		password:    cfg.AppPassword,
		tokenURL:    cfg.TokenURL,
		scope:       cmp.Or(cfg.Scope, DefaultScope),
		hc:          cfg.HTTPClient,
		clock:       cfg.Clock,
		sleep:       cfg.Sleep,
		log:         cfg.Logger,
		maxAttempts: cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts),
		baseDelay:   cmp.Or(cfg.RetryBaseDelay, DefaultRetryBaseDelay),
		maxWait:     cmp.Or(cfg.MaxRetryWait, DefaultMaxRetryWait),
		maxThrottle: cmp.Or(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
		callTimeout: cmp.Or(cfg.CallTimeout, DefaultCallTimeout),
		hosts:       slices.Clone(cfg.ServiceHosts),
	}
	if len(c.hosts) == 0 {
		c.hosts = DefaultServiceHosts()
	}
	for _, h := range c.hosts {
		if err := checkHostPattern(h); err != nil {
			return nil, fmt.Errorf("teams: connector: service host %q: %w", h, err)
		}
	}
	if c.tokenURL == "" {
		c.tokenURL = DefaultLoginURL + "/" + url.PathEscape(cmp.Or(cfg.TenantID, MultiTenant)) + "/oauth2/v2.0/token"
	}
	if _, err := checkFetchURL(c.tokenURL); err != nil {
		return nil, fmt.Errorf("teams: connector: token url: %w", err)
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxAttempts < 1 {
		c.maxAttempts = 1
	}
	limits := cfg.ConversationLimits
	if limits == nil {
		limits = DefaultConversationLimits()
	}
	p, err := newPacer(limits)
	if err != nil {
		return nil, fmt.Errorf("teams: connector: %w", err)
	}
	c.pacer = p
	c.stop, c.stopping = context.WithCancel(context.Background())
	return c, nil
}

// Close cancels the detached token fetch in flight and waits for it; a later fetch runs in its
// caller's goroutine, bounded by the caller's context.
func (c *Connector) Close() {
	c.tokens.mu.Lock()
	c.tokens.closed = true
	c.tokens.mu.Unlock()
	c.stopping()
	c.fetches.Wait()
}

// TokenURL is the endpoint the bot token is fetched from.
func (c *Connector) TokenURL() string { return c.tokenURL }

// SendToConversation posts act to a conversation and returns the id Teams gave the new
// activity, which is what a later UpdateActivity needs.
func (c *Connector) SendToConversation(ctx context.Context, serviceURL, conversationID string, act schema.Activity) (string, error) {
	if conversationID == "" {
		return "", errors.New("teams: send activity: empty conversation id")
	}
	if act.Type == "" {
		act.Type = schema.Message
	}
	u, err := c.endpoint(serviceURL, "v3", "conversations", conversationID, "activities")
	if err != nil {
		return "", fmt.Errorf("teams: send activity: %w", err)
	}
	var res struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "send activity", http.MethodPost, u, conversationID, act, &res); err != nil {
		return "", err
	}
	return res.ID, nil
}

// UpdateActivity replaces the content of an activity the bot sent earlier (e.g. a card after a
// decision).
func (c *Connector) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, act schema.Activity) error {
	if conversationID == "" || activityID == "" {
		return errors.New("teams: update activity: empty conversation or activity id")
	}
	if act.Type == "" {
		act.Type = schema.Message
	}
	act.ID = activityID
	u, err := c.endpoint(serviceURL, "v3", "conversations", conversationID, "activities", activityID)
	if err != nil {
		return fmt.Errorf("teams: update activity: %w", err)
	}
	return c.do(ctx, "update activity", http.MethodPut, u, conversationID, act, nil)
}

// DeleteActivity deletes an activity the bot sent earlier.
func (c *Connector) DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error {
	if conversationID == "" || activityID == "" {
		return errors.New("teams: delete activity: empty conversation or activity id")
	}
	u, err := c.endpoint(serviceURL, "v3", "conversations", conversationID, "activities", activityID)
	if err != nil {
		return fmt.Errorf("teams: delete activity: %w", err)
	}
	return c.do(ctx, "delete activity", http.MethodDelete, u, conversationID, nil, nil)
}

// GetMember fetches one member of a conversation, with the email and UPN activities lack.
func (c *Connector) GetMember(ctx context.Context, serviceURL, conversationID, memberID string) (Member, error) {
	if conversationID == "" || memberID == "" {
		return Member{}, errors.New("teams: get member: empty conversation or member id")
	}
	u, err := c.endpoint(serviceURL, "v3", "conversations", conversationID, "members", memberID)
	if err != nil {
		return Member{}, fmt.Errorf("teams: get member: %w", err)
	}
	var m Member
	if err := c.do(ctx, "get member", http.MethodGet, u, "", nil, &m); err != nil {
		return Member{}, err
	}
	return m, nil
}

// Post implements client.Client for the adapter's replies; its URL comes from the activity.
func (c *Connector) Post(target url.URL, act schema.Activity) error {
	return c.adapterCall("post activity", http.MethodPost, target, act)
}

// Put implements client.Client (the adapter's UpdateActivity).
func (c *Connector) Put(target url.URL, act schema.Activity) error {
	return c.adapterCall("put activity", http.MethodPut, target, act)
}

// Delete implements client.Client (the adapter's DeleteActivity).
func (c *Connector) Delete(target url.URL, _ schema.Activity) error {
	return c.adapterCall("delete activity", http.MethodDelete, target, nil)
}

func (c *Connector) adapterCall(op, method string, target url.URL, body any) error {
	// The interface has no context; bound the call so a slow connector cannot hold the
	// adapter's request goroutine forever.
	ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
	defer cancel()
	u, err := c.checkServiceURL(target.String())
	if err != nil {
		return fmt.Errorf("teams: %s: %w", op, err)
	}
	return c.do(ctx, op, method, u.String(), conversationFromPath(u.Path), body, nil)
}

// conversationFromPath extracts the id after ".../conversations/" for pacing.
func conversationFromPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "conversations" && i+1 < len(segs) {
			return segs[i+1]
		}
	}
	return ""
}

// endpoint joins escaped path segments onto a checked service URL, keeping its path prefix
// (Teams service URLs look like https://smba.trafficmanager.net/emea/).
func (c *Connector) endpoint(serviceURL string, segs ...string) (string, error) {
	u, err := c.checkServiceURL(serviceURL)
	if err != nil {
		return "", err
	}
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/") + "/" + strings.Join(esc, "/"), nil
}

// checkServiceURL refuses service URLs we must not send the bot token to: activities can be
// forged, and the URL decides where our bearer token goes.
func (c *Connector) checkServiceURL(raw string) (*url.URL, error) {
	u, err := checkFetchURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidServiceURL, err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %q has a query or fragment", ErrInvalidServiceURL, raw)
	}
	if !hostAllowed(c.hosts, u.Hostname()) {
		return nil, fmt.Errorf("%w: host %q not allowed", ErrInvalidServiceURL, u.Hostname())
	}
	return u, nil
}

// checkHostPattern accepts a host name, an IP literal, or "*." and a domain of at least two
// labels; no scheme, port, path or bare wildcard.
func checkHostPattern(p string) error {
	name, wild := strings.CutPrefix(p, "*.")
	switch {
	case name == "":
		return errors.New("empty")
	case strings.ContainsAny(name, "*/:@?# ") && net.ParseIP(name) == nil:
		return errors.New(`want a host name, an IP address or "*.domain", without scheme, port or path`)
	case wild && !strings.Contains(strings.Trim(name, "."), "."):
		return errors.New("a wildcard needs a domain of at least two labels")
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, "."):
		return errors.New("a host name neither starts nor ends with a dot")
	}
	return nil
}

func hostAllowed(allowed []string, host string) bool {
	host = strings.ToLower(host)
	for _, a := range allowed {
		a = strings.ToLower(a)
		if suffix, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

// retryable reports whether a status is worth another attempt. Microsoft asks bots to retry
// 429, 412, 502 and 504; the connector answers them without having acted, so even a send is
// retried. 503 is added for the same reason.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusPreconditionFailed, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends one connector request with bounded, short retries: transport errors, 412, 502, 503
// and 504 on backoff, a 429 after its Retry-After when that is at most maxThrottle. convID,
// when set, paces the request.
func (c *Connector) do(ctx context.Context, op, method, u, convID string, body, out any) error {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("teams: %s: encode: %w", op, err)
		}
		payload = b
	}
	// A transport error on a POST may come after the connector posted the message; retrying
	// could duplicate it, so only idempotent methods retry those.
	idempotent := method != http.MethodPost
	reauthed := false

	for attempt := 1; ; attempt++ {
		if convID != "" && method != http.MethodGet {
			if err := c.pace(ctx, convID); err != nil {
				return fmt.Errorf("teams: %s: %w", op, err)
			}
		}
		tok, err := c.token(ctx)
		if err != nil {
			return err // already says "teams: fetch bot token: ..."
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return fmt.Errorf("teams: %s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
		}

		var (
			lastErr    error
			retryAfter time.Duration
		)
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("teams: %s: %w", op, err)
			}
			lastErr = fmt.Errorf("teams: %s: %w", op, err)
			if (!idempotent && !isDialError(err)) || attempt >= c.maxAttempts {
				return lastErr
			}
		} else {
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				err := decodeBody(resp, out)
				if err != nil {
					return fmt.Errorf("teams: %s: decode response: %w", op, err)
				}
				return nil
			}
			apiErr := readAPIError(resp, op, c.clock.Now())
			lastErr = apiErr
			if resp.StatusCode == http.StatusUnauthorized && !reauthed && attempt < c.maxAttempts {
				// The token may have been revoked or rotated under us: fetch a new one, once.
				c.tokens.invalidate(tok)
				reauthed = true
				continue
			}
			if !retryable(resp.StatusCode) || attempt >= c.maxAttempts {
				return apiErr
			}
			retryAfter = apiErr.Wait
			if retryAfter > c.maxThrottle {
				// Asked to wait long: the caller waits instead (see MaxRetryAfter) rather than
				// this call holding its worker that long.
				return apiErr
			}
		}

		wait := c.backoff(attempt)
		if retryAfter > 0 {
			// Honour the server, plus a little jitter so throttled callers do not return in step.
			wait = retryAfter + rand.N(c.baseDelay/2+1)
		}
		if wait > c.maxWait {
			return lastErr
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return lastErr
		}
		c.log.DebugContext(ctx, "teams: retrying connector call", "op", op, "attempt", attempt,
			"retry_in", wait.String(), "error", lastErr)
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %w)", lastErr, err)
		}
	}
}

// isDialError reports a failure to connect, when the request certainly was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is exponential with "equal jitter": half fixed, half random, capped at maxWait.
func (c *Connector) backoff(attempt int) time.Duration {
	d := c.baseDelay << min(attempt-1, 20)
	if d <= 0 || d > c.maxWait {
		d = c.maxWait
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Connector) pace(ctx context.Context, convID string) error {
	wait := c.pacer.reserve(convID, c.clock.Now())
	if wait <= 0 {
		return nil
	}
	if err := c.sleep(ctx, wait); err != nil {
		return fmt.Errorf("pacing conversation: %w", err)
	}
	return nil
}

func decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxResponseBody)
	if out == nil {
		_, _ = io.Copy(io.Discard, body)
		return nil
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

func readAPIError(resp *http.Response, op string, now time.Time) *APIError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Op: op, StatusCode: resp.StatusCode, Wait: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	// Connector: {"error":{"code":..,"message":..}}; Entra ID: {"error":"..","error_description":".."}.
	var bf struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(b, &bf) == nil && bf.Error.Code != "":
		e.Code, e.Message = bf.Error.Code, bf.Error.Message
	case json.Unmarshal(b, &oauth) == nil && oauth.Error != "":
		// Entra ID descriptions run to several lines with trace ids; the first is the useful one.
		desc, _, _ := strings.Cut(oauth.Description, "\r\n")
		e.Code, e.Message = oauth.Error, desc
	}
	return e
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// --- bot token ---

// tokenCache holds the bot's client_credentials token; one fetch at a time, shared by waiters.
type tokenCache struct {
	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenFetch
	closed    bool // Connector.Close was called: nothing runs detached any more
}

type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

func (tc *tokenCache) invalidate(tok string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == tok {
		tc.token = ""
	}
}

// token returns a cached bot token, fetching a new one shortly before the old one expires.
func (c *Connector) token(ctx context.Context) (string, error) {
	tc := &c.tokens
	tc.mu.Lock()
	if tc.token != "" && c.clock.Now().Before(tc.refreshAt) {
		tok := tc.token
		tc.mu.Unlock()
		return tok, nil
	}
	call := tc.inflight
	if call == nil {
		call = &tokenFetch{done: make(chan struct{})}
		tc.inflight = call
		if tc.closed {
			// After Close nothing runs detached: a late caller fetches in its own time.
			tc.mu.Unlock()
			c.fetchToken(ctx, call)
			return call.token, call.err
		}
		// Detached from ctx so one caller giving up does not fail the others; Close stops it.
		c.fetches.Add(1)
		go func() {
			defer c.fetches.Done()
			ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer context.AfterFunc(c.stop, cancel)()
			defer cancel()
			c.fetchToken(ctx, call)
		}()
	}
	tc.mu.Unlock()
	select {
	case <-call.done:
		return call.token, call.err
	case <-ctx.Done():
		return "", fmt.Errorf("teams: wait for bot token: %w", ctx.Err())
	}
}

func (c *Connector) fetchToken(ctx context.Context, call *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTokenTimeout)
	defer cancel()
	tok, lifetime, err := c.requestToken(ctx)
	now := c.clock.Now()
	tc := &c.tokens
	tc.mu.Lock()
	if err == nil {
		tc.token = tok
		// Refresh before expiry so a token never dies in flight: 5 minutes early, or halfway
		// for short-lived tokens.
		tc.refreshAt = now.Add(lifetime - min(5*time.Minute, lifetime/2))
	} else {
		c.log.WarnContext(ctx, "teams: fetch bot token", "error", err, "token_url", c.tokenURL)
	}
	tc.inflight = nil
	tc.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}

func (c *Connector) requestToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.appID},
		"client_secret": {c.password},
		"scope":         {c.scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("teams: fetch bot token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("teams: fetch bot token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, readAPIError(resp, opFetchToken, c.clock.Now())
	}
	var res struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := decodeBody(resp, &res); err != nil {
		return "", 0, fmt.Errorf("teams: fetch bot token: decode: %w", err)
	}
	if res.AccessToken == "" || res.ExpiresIn <= 0 {
		return "", 0, errors.New("teams: fetch bot token: response has no access_token or expires_in")
	}
	return res.AccessToken, time.Duration(res.ExpiresIn) * time.Second, nil
}

// --- pacing ---

// pacer spaces writes per conversation so no sliding window in limits is exceeded. It keeps the
// send times of each conversation (reserved, possibly in the future) and hands out the earliest
// slot that fits every window. A plain token bucket (burst 7, 7/s) would let 14 messages through
// within one second; a sliding log cannot.
type pacer struct {
	limits  []RateWindow
	keep    int           // timestamps needed to evaluate the largest limit
	longest time.Duration // idle time after which a conversation's log can be dropped

	mu      sync.Mutex
	convs   map[string][]time.Time
	sweepAt int // map size that triggers the next sweep of idle conversations
}

const pacerSweepThreshold = 4096

func newPacer(limits []RateWindow) (*pacer, error) {
	p := &pacer{limits: slices.Clone(limits), convs: map[string][]time.Time{}, sweepAt: pacerSweepThreshold}
	for _, l := range p.limits {
		if l.Limit < 1 || l.Window <= 0 {
			return nil, fmt.Errorf("invalid conversation limit %d per %s", l.Limit, l.Window)
		}
		p.keep = max(p.keep, l.Limit)
		p.longest = max(p.longest, l.Window)
	}
	return p, nil
}

// reserve books the next slot for key and returns how long to wait for it.
func (p *pacer) reserve(key string, now time.Time) time.Duration {
	if len(p.limits) == 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	log := p.convs[key]
	t := now
	if n := len(log); n > 0 && log[n-1].After(t) {
		t = log[n-1] // slots are handed out in order
	}
	for _, l := range p.limits {
		// With the log sorted, the new send fits the window iff the l.Limit-th latest send is at
		// least a full window before it.
		if n := len(log); n >= l.Limit {
			if earliest := log[n-l.Limit].Add(l.Window); earliest.After(t) {
				t = earliest
			}
		}
	}
	log = append(log, t)
	if len(log) > p.keep {
		log = slices.Delete(log, 0, len(log)-p.keep)
	}
	p.convs[key] = log
	if len(p.convs) > p.sweepAt {
		for k, l := range p.convs {
			if now.Sub(l[len(l)-1]) > p.longest {
				delete(p.convs, k)
			}
		}
		// Sweeping costs O(conversations); doubling the trigger keeps it amortised O(1).
		p.sweepAt = max(pacerSweepThreshold, 2*len(p.convs))
	}
	return t.Sub(now)
}

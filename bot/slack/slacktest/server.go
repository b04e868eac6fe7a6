package slacktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Clock tells the fake what time it is. Trigger and response_url expiry,
// per-channel pacing, message timestamps and recorded times all read it, so a
// test that injects its fake clock controls them all.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Identities the fake answers with unless an Option changes them.
const (
	defaultBotToken  = "xoxb-jitbot-test"
	defaultAppToken  = "xapp-1-jitbot-test"
	defaultTeamID    = "T0JITBOT"
	defaultTeamName  = "jitbot-test"
	defaultBotUserID = "UJITBOT"
	defaultBotID     = "BJITBOT"
	defaultAppID     = "AJITBOT"

	// defaultPingInterval is how often the fake pings Socket Mode clients.
	// slack-go drops a connection that sees no ping for 30 s (its default
	// OptionPingInterval), so anything well below that keeps clients alive.
	defaultPingInterval = 2 * time.Second

	// maxBodyBytes bounds what one request may send; Slack's own limits are
	// far lower, so a larger body is a bug worth failing loudly on.
	maxBodyBytes = 4 << 20
)

type config struct {
	botToken     string
	appToken     string
	teamID       string
	teamName     string
	botUserID    string
	botID        string
	appID        string
	clock        Clock
	pacing       time.Duration
	enforcePace  bool
	triggerTTL   time.Duration
	pingInterval time.Duration
	log          *slog.Logger
	scopes       []string // the bot token's
}

// Option configures a Server.
type Option func(*config)

// WithBotToken sets the bot token (xoxb-...) every Web API call must carry.
func WithBotToken(token string) Option { return func(c *config) { c.botToken = token } }

// WithAppToken sets the app-level token (xapp-...) apps.connections.open must carry.
func WithAppToken(token string) Option { return func(c *config) { c.appToken = token } }

// WithTeam sets the workspace id and name reported by auth.test and on users.
func WithTeam(id, name string) Option {
	return func(c *config) { c.teamID, c.teamName = id, name }
}

// WithBotUser sets the bot's user id and bot id reported by auth.test.
func WithBotUser(userID, botID string) Option {
	return func(c *config) { c.botUserID, c.botID = userID, botID }
}

// WithAppID sets the app id reported in views and Socket Mode hellos.
func WithAppID(id string) Option { return func(c *config) { c.appID = id } }

// WithClock injects the clock; the default is the system clock.
func WithClock(clock Clock) Option { return func(c *config) { c.clock = clock } }

// WithPacing turns on the per-channel pacing check: a chat.postMessage to a
// channel less than minGap after the previous one (by the injected clock) is
// recorded as a RulePacing violation. Slack's guidance is one message per
// second per channel, so tests use WithPacing(time.Second). The post still
// succeeds: the point is to prove the bot paces itself, not to fail it.
func WithPacing(minGap time.Duration) Option { return func(c *config) { c.pacing = minGap } }

// WithPacingLimit is WithPacing enforced, as Slack does: a chat.postMessage
// to a channel less than minGap after the previous accepted one is refused
// with HTTP 429 ratelimited and a Retry-After of the rest of the gap
// rounded up to whole seconds (1 for Slack's one per second), recorded as a
// RulePacing violation, and is no message.
func WithPacingLimit(minGap time.Duration) Option {
	return func(c *config) { c.pacing, c.enforcePace = minGap, true }
}

// WithTriggerTTL makes trigger ids expire ttl after NewTriggerID (by the
// injected clock); Slack's is 3 s. Off by default so slow CI machines on the
// system clock do not flake.
func WithTriggerTTL(ttl time.Duration) Option { return func(c *config) { c.triggerTTL = ttl } }

// WithPingInterval sets how often the fake sends WebSocket pings to Socket
// Mode clients. It must stay below the client's socketmode.OptionPingInterval.
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithLogger sets the logger for the fake's own diagnostics (debug level).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Call is one recorded Web API request.
type Call struct {
	Method string
	// Params holds form fields and query parameters as sent. For a JSON body,
	// each top-level string is kept as is and any other value as its JSON
	// text, so Params.Get("view") or Params.Get("blocks") reads the same
	// whichever encoding slack-go chose.
	Params      url.Values
	Body        []byte
	ContentType string
	Token       string
	Time        time.Time
	// Status is the HTTP status answered; Error the Slack error code ("" when ok).
	Status int
	Error  string
}

// Server is the fake Slack. Create it with New and Close it when done.
type Server struct {
	cfg     config
	srv     *httptest.Server
	baseURL string
	wsBase  string
	log     *slog.Logger

	closeOnce sync.Once
	wg        sync.WaitGroup // Socket Mode goroutines, which outlive their HTTP handler

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every recorded change; see Wait
	closed  bool
	seq     uint64
	lastTS  int64 // unix microseconds of the last ts handed out

	// directory
	users    map[string]User
	groups   map[string]userGroup
	channels map[string]string // name without '#' -> id
	private  map[string]bool   // ids of private channels
	openDMs  map[string]bool

	// recordings and live state
	calls         []Call
	messages      []*Message
	views         []View
	liveViews     map[string]*liveView
	homeViews     map[string]string // user id -> view id
	triggers      map[string]*trigger
	responseURLs  map[string]*responseURL // path -> state
	responsePosts []ResponsePost
	violations    []Violation
	lastPost      map[string]time.Time // channel -> last chat.postMessage
	faults        map[string]*fault    // method -> how its next calls fail
	outage        outage

	// Socket Mode
	tickets   map[string]bool
	sockets   map[*wsConn]struct{} // every upgraded connection
	conns     []*wsConn            // those that got their hello, newest last
	pending   map[string]*pendingAck
	envelopes []Envelope
}

// fault is how the next calls of a method fail, instead of being served.
type fault struct {
	remaining int
	reply     reply
}

// outage is Slack refusing every call until a time (Outage).
type outage struct {
	until      time.Time
	retryAfter time.Duration
}

// on says whether the outage refuses a call at now.
func (o outage) on(now time.Time) bool { return now.Before(o.until) }

// New starts a fake Slack on a loopback port.
func New(opts ...Option) *Server {
	cfg := config{
		botToken:     defaultBotToken,
		appToken:     defaultAppToken,
		teamID:       defaultTeamID,
		teamName:     defaultTeamName,
		botUserID:    defaultBotUserID,
		botID:        defaultBotID,
		appID:        defaultAppID,
		clock:        systemClock{},
		pingInterval: defaultPingInterval,
		scopes:       AllScopes(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.pingInterval <= 0 {
		cfg.pingInterval = defaultPingInterval
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.log,
		changed:      make(chan struct{}),
		users:        map[string]User{},
		groups:       map[string]userGroup{},
		channels:     map[string]string{},
		private:      map[string]bool{},
		openDMs:      map[string]bool{},
		liveViews:    map[string]*liveView{},
		homeViews:    map[string]string{},
		triggers:     map[string]*trigger{},
		responseURLs: map[string]*responseURL{},
		lastPost:     map[string]time.Time{},
		faults:       map[string]*fault{},
		tickets:      map[string]bool{},
		sockets:      map[*wsConn]struct{}{},
		pending:      map[string]*pendingAck{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/actions/", s.serveResponseURL)
	mux.HandleFunc("/link/", s.serveLink)
	// Unstarted, so the addresses are set before the first handler can run.
	s.srv = httptest.NewUnstartedServer(mux)
	addr := s.srv.Listener.Addr().String()
	s.baseURL = "http://" + addr
	s.wsBase = "ws://" + addr
	s.srv.Start()
	return s
}

// URL is the server's root, e.g. http://127.0.0.1:port.
func (s *Server) URL() string { return s.baseURL }

// APIURL is the value for slack.OptionAPIURL, with its trailing slash.
func (s *Server) APIURL() string { return s.baseURL + "/api/" }

// BotToken is the bot token the fake accepts.
func (s *Server) BotToken() string { return s.cfg.botToken }

// AppToken is the app-level token the fake accepts for Socket Mode.
func (s *Server) AppToken() string { return s.cfg.appToken }

// TeamID is the workspace id.
func (s *Server) TeamID() string { return s.cfg.teamID }

// BotUserID is the bot's user id, as auth.test reports it.
func (s *Server) BotUserID() string { return s.cfg.botUserID }

// AppID is the app id.
func (s *Server) AppID() string { return s.cfg.appID }

// Client returns a slack-go client pointed at the fake with both tokens set.
func (s *Server) Client(opts ...slack.Option) *slack.Client {
	base := []slack.Option{slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(s.cfg.appToken)}
	return slack.New(s.cfg.botToken, append(base, opts...)...)
}

// Close stops the server, drops Socket Mode connections and fails pending
// SendSocketMode calls. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := slices.Collect(maps.Keys(s.sockets))
		pending := s.pending
		s.pending = map[string]*pendingAck{}
		s.notifyLocked()
		s.mu.Unlock()

		for _, p := range pending {
			p.result <- ackResult{err: errClosed}
		}
		for _, c := range conns {
			c.close()
		}
		s.srv.Close()
		s.wg.Wait()
	})
}

// Reset forgets everything recorded (calls, messages, views, response posts,
// violations, envelopes) and all live state tied to it (trigger ids, views,
// response_urls, pending rate limits, faults and outage, pacing history). The directory (users,
// user groups, channels) and Socket Mode connections are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.messages = nil
	s.views = nil
	s.liveViews = map[string]*liveView{}
	s.homeViews = map[string]string{}
	s.triggers = map[string]*trigger{}
	s.responseURLs = map[string]*responseURL{}
	s.responsePosts = nil
	s.violations = nil
	s.lastPost = map[string]time.Time{}
	s.faults = map[string]*fault{}
	s.outage = outage{}
	s.envelopes = nil
	s.notifyLocked()
}

// Calls returns every recorded Web API call, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = c.clone()
	}
	return out
}

// CallsTo returns the recorded calls of one method, oldest first.
func (s *Server) CallsTo(method string) []Call {
	return slices.DeleteFunc(s.Calls(), func(c Call) bool { return c.Method != method })
}

// CountCalls counts the recorded calls of one method without copying them
// (load scenarios poll it).
func (s *Server) CountCalls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.calls {
		if s.calls[i].Method == method {
			n++
		}
	}
	return n
}

func (c Call) clone() Call {
	c.Params = maps.Clone(c.Params)
	for k, v := range c.Params {
		c.Params[k] = slices.Clone(v)
	}
	c.Body = slices.Clone(c.Body)
	return c
}

// RateLimit makes the next times calls of method answer HTTP 429 with a
// Retry-After of retryAfter rounded up to whole seconds (Slack's unit), which
// slack-go surfaces as *slack.RateLimitedError. times <= 0 clears it (and
// any other fault of the method).
func (s *Server) RateLimit(method string, times int, retryAfter time.Duration) {
	rep := errReply("ratelimited")
	rep.status, rep.retryAfter = http.StatusTooManyRequests, retryAfter
	s.fail(method, times, rep)
}

// Refuse makes the next times calls of method answer as Slack refuses a
// call: HTTP 200, ok=false and the error code ("channel_not_found",
// "account_inactive"), which slack-go surfaces as slack.SlackErrorResponse.
// times <= 0 clears it (and any other fault of the method).
func (s *Server) Refuse(method string, times int, code string) {
	s.fail(method, times, errReply(code))
}

// FailStatus makes the next times calls of method answer HTTP status (a
// 500 or 503 of an outage), which slack-go surfaces as slack.StatusCodeError
// without reading the body. times <= 0 clears it (and any other fault of
// the method).
func (s *Server) FailStatus(method string, times, status int) {
	rep := errReply("fatal_error")
	rep.status = status
	s.fail(method, times, rep)
}

// fail sets how the next times calls of method fail, replacing what was
// set before: a method has one fault at a time.
func (s *Server) fail(method string, times int, rep reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times <= 0 {
		delete(s.faults, method)
		return
	}
	s.faults[method] = &fault{remaining: times, reply: rep}
}

// Outage makes every Web API call and every response_url post answer HTTP
// 429 with a Retry-After of retryAfter (rounded up to whole seconds) until
// the fake's clock reaches until: Slack rate limiting the whole app, as in an
// incident. Nothing is recorded as done meanwhile (no message, no view); the
// calls are recorded with Status 429 and Error "ratelimited". A zero until
// ends it at once.
func (s *Server) Outage(until time.Time, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = outage{until: until, retryAfter: retryAfter}
}

// Wait blocks until cond reports true, re-checking it whenever the fake
// records something (a call, a message, a connection...), or until ctx ends.
// cond runs without the server's lock held, so it may call any method.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("slacktest: wait: %w", ctx.Err())
		}
	}
}

// WaitForCalls waits until at least n calls of method are recorded and
// returns them all.
func (s *Server) WaitForCalls(ctx context.Context, method string, n int) ([]Call, error) {
	var calls []Call
	err := s.Wait(ctx, func() bool {
		calls = s.CallsTo(method)
		return len(calls) >= n
	})
	if err != nil {
		return calls, fmt.Errorf("slacktest: %d of %d %s calls: %w", len(calls), n, method, err)
	}
	return calls, nil
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextIDLocked returns a short unique id with a Slack-looking prefix.
func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%09d", prefix, s.seq)
}

// nextTSLocked hands out message timestamps the way Slack formats them
// ("seconds.micros"), taken from the clock but strictly increasing so every
// message has a unique ts even when a fake clock stands still.
func (s *Server) nextTSLocked(now time.Time) string {
	us := now.UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// randomToken returns an unguessable string; ids handed to the bot carry one
// so a value from another server (or a typo) is not accepted by accident.
func randomToken() string { return strings.ToLower(rand.Text()) }

// reply is one Web API answer.
type reply struct {
	status     int
	code       string // Slack error code, "" when ok
	retryAfter time.Duration
	body       map[string]any
}

func okReply(fields map[string]any) reply {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ok"] = true
	return reply{status: http.StatusOK, body: fields}
}

// errReply answers like Slack: HTTP 200 with ok=false, the error code, and
// for invalid_arguments the human messages under response_metadata.
func errReply(code string, messages ...string) reply {
	body := map[string]any{"ok": false, "error": code}
	if len(messages) > 0 {
		body["response_metadata"] = map[string]any{"messages": messages}
	}
	return reply{status: http.StatusOK, code: code, body: body}
}

func (r reply) write(w http.ResponseWriter) {
	b, err := json.Marshal(r.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.status == http.StatusTooManyRequests {
		secs := int64((r.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(max(secs, 0)))
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(b)
}

// apiRequest is what a method handler sees.
type apiRequest struct {
	params url.Values
	now    time.Time
}

type handlerFunc func(*apiRequest) reply

// handler maps a method name to its implementation. A switch rather than a
// package-level map keeps the package free of mutable globals.
func (s *Server) handler(method string) (handlerFunc, bool) {
	switch method {
	case "auth.test":
		return s.authTest, true
	case "chat.postMessage":
		return s.chatPostMessage, true
	case "chat.postEphemeral":
		return s.chatPostEphemeral, true
	case "chat.update":
		return s.chatUpdate, true
	case "chat.delete":
		return s.chatDelete, true
	case "conversations.open":
		return s.conversationsOpen, true
	case "conversations.history":
		return s.conversationsHistory, true
	case "users.conversations":
		return s.usersConversations, true
	case "users.info":
		return s.usersInfo, true
	case "users.lookupByEmail":
		return s.usersLookupByEmail, true
	case "usergroups.list":
		return s.usergroupsList, true
	case "usergroups.users.list":
		return s.usergroupsUsersList, true
	case "views.open":
		return s.viewsOpen, true
	case "views.push":
		return s.viewsPush, true
	case "views.publish":
		return s.viewsPublish, true
	case "views.update":
		return s.viewsUpdate, true
	case "apps.connections.open":
		return s.appsConnectionsOpen, true
	}
	return nil, false
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	params, isJSON, parseErr := decodeParams(r, body)
	now := s.cfg.clock.Now()
	call := Call{
		Method:      method,
		Params:      params,
		Body:        body,
		ContentType: r.Header.Get("Content-Type"),
		Token:       tokenOf(r, params),
		Time:        now,
	}

	s.mu.Lock()
	h, known := s.handler(method)
	var rep reply
	switch {
	case readErr != nil:
		rep = errReply("request_too_large")
		rep.status = http.StatusRequestEntityTooLarge
	case !known:
		rep = errReply("unknown_method")
	case parseErr != nil && isJSON:
		rep = errReply("invalid_json")
	case parseErr != nil:
		rep = errReply("invalid_form_data")
	default:
		if code := s.authorize(method, call.Token); code != "" {
			rep = errReply(code)
		} else if need := s.neededScope(method, params); need != "" && call.Token == s.cfg.botToken {
			rep = s.missingScope(need)
		} else if s.outage.on(now) {
			rep = errReply("ratelimited")
			rep.status, rep.retryAfter = http.StatusTooManyRequests, s.outage.retryAfter
		} else if f := s.faults[method]; f != nil {
			f.remaining--
			if f.remaining <= 0 {
				delete(s.faults, method)
			}
			rep = f.reply
		} else {
			rep = h(&apiRequest{params: params, now: now})
		}
	}
	call.Status, call.Error = rep.status, rep.code
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()

	s.log.Debug("slacktest call", "method", method, "status", rep.status, "error", rep.code)
	if call.Token == s.cfg.botToken {
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.cfg.scopes, ","))
	}
	rep.write(w)
}

// authorize checks the token the way Slack does: none is not_authed, a token
// of the wrong kind is not_allowed_token_type, anything else unknown is
// invalid_auth.
func (s *Server) authorize(method, token string) string {
	want, other := s.cfg.botToken, s.cfg.appToken
	if method == "apps.connections.open" {
		want, other = other, want
	}
	switch token {
	case "":
		return "not_authed"
	case want:
		return ""
	case other:
		return "not_allowed_token_type"
	}
	return "invalid_auth"
}

func tokenOf(r *http.Request, params url.Values) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return params.Get("token")
}

// decodeParams merges query parameters with a form or JSON body. slack-go
// posts forms for most methods and JSON for views.* and
// apps.connections.open.
func decodeParams(r *http.Request, body []byte) (params url.Values, isJSON bool, _ error) {
	params = url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = slices.Clone(v)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return params, false, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" || (ct == "" && trimmed[0] == '{') {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return params, true, fmt.Errorf("slacktest: decode JSON body: %w", err)
		}
		for k, raw := range obj {
			var str string
			if err := json.Unmarshal(raw, &str); err == nil {
				params.Set(k, str)
			} else {
				params.Set(k, string(raw))
			}
		}
		return params, true, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return params, false, fmt.Errorf("slacktest: decode form body: %w", err)
	}
	for k, v := range form {
		params[k] = append(params[k], v...)
	}
	return params, false, nil
}

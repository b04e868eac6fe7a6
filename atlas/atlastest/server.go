package atlastest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/routers"
)

const (
	tokenPath  = "/api/oauth/token"
	revokePath = "/api/oauth/revoke"
	// maxBody bounds what a request may upload; Atlas bodies are small.
	maxBody = 1 << 20
)

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Server is a running Atlas simulator. All methods are safe for concurrent use.
type Server struct {
	spec     *Spec
	clock    Clock
	log      *slog.Logger
	t        Reporter
	orgID    string
	tokenTTL time.Duration
	nonceKey []byte
	ops      map[string]handlerFunc
	ts       *httptest.Server
	// done is closed by Close so that injected latency never holds Close up.
	done      chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	orgs          map[string]*org
	projects      map[string]*project
	creds         map[string]*principal // "digest:"+public key, "oauth:"+client id
	tokens        map[string]token
	tokensIssued  int
	tokensRevoked int
	calls         []Call
	violations    []string
	unimplemented []string
	faults        []*activeFault
	limits        map[string]rateLimit // by endpoint set (a spec path prefix)
	buckets       map[string]*bucket   // by endpoint set and project or organization
	userCap       int
	applyDelay    time.Duration
	applyPolls    int
	seq           int64
	net           netState              // the project IP access lists (accesslist.go)
	sa            saState               // service accounts (serviceaccounts.go)
	apiKeys       map[string]*simAPIKey // programmatic API keys by id (apikeys.go)
	created       map[string]int        // database users created, by project and name (creates.go)
}

// New starts a simulator on a loopback port. Close it when done.
func New(opts Options) (*Server, error) {
	spec := opts.Spec
	if spec == nil {
		var err error
		if spec, err = SharedSpec(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		spec:       spec,
		clock:      opts.Clock,
		log:        opts.Logger,
		t:          opts.T,
		orgID:      opts.OrgID,
		tokenTTL:   opts.TokenTTL,
		nonceKey:   make([]byte, 32),
		done:       make(chan struct{}),
		orgs:       map[string]*org{},
		projects:   map[string]*project{},
		creds:      map[string]*principal{},
		tokens:     map[string]token{},
		limits:     map[string]rateLimit{},
		buckets:    map[string]*bucket{},
		userCap:    opts.UserCap,
		applyDelay: opts.ApplyDelay,
		applyPolls: opts.ApplyAfterPolls,
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.orgID == "" {
		s.orgID = DefaultOrgID
	}
	s.orgLocked(s.orgID)
	if s.tokenTTL <= 0 {
		s.tokenTTL = time.Hour
	}
	if s.userCap <= 0 {
		s.userCap = 100
	}
	if _, err := rand.Read(s.nonceKey); err != nil {
		return nil, fmt.Errorf("atlastest: nonce key: %w", err)
	}
	if err := s.addCredentials(opts); err != nil {
		return nil, err
	}
	s.ops = s.handlers()
	s.ts = httptest.NewServer(s)
	s.log.Debug("atlas simulator started", "url", s.ts.URL, "spec", spec.Path())
	return s, nil
}

// URL returns the base URL to give the SDK (admin.UseBaseURL).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server, cutting short any injected latency.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Spec returns the spec the server validates against.
func (s *Server) Spec() *Spec { return s.spec }

// SetApply changes the apply delay and poll count for changes made from now on.
func (s *Server) SetApply(delay time.Duration, polls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDelay, s.applyPolls = delay, polls
}

// SetUserCap changes the per-project database user cap.
func (s *Server) SetUserCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userCap = n
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CountCalls counts the authenticated calls to operationID (challenges and calls that failed
// authentication are not counted; faulted, rate-limited and rejected ones are).
func (s *Server) CountCalls(operationID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.OperationID == operationID && c.Principal != "" && !c.Challenge {
			n++
		}
	}
	return n
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// SpecViolations returns every request that broke the spec ("request ...") and every
// response of the simulator that did ("response ..."), oldest first.
func (s *Server) SpecViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Unimplemented returns the calls to spec operations the simulator does not implement.
func (s *Server) Unimplemented() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unimplemented...)
}

// request is one authenticated API call on its way through the simulator.
type request struct {
	r         *http.Request
	body      []byte
	route     *routers.Route
	params    map[string]string
	opID      string
	principal *principal
	now       time.Time
	base      string // scheme://host, for links
}

func (q *request) param(name string) string {
	v := q.params[name]
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func (q *request) selfLink() []link {
	return []link{{Href: q.base + q.r.URL.Path, Rel: "self"}}
}

// reply is what an operation handler answers.
type reply struct {
	status int
	body   any
	header http.Header
	// offSpec marks an answer real Atlas gives though the spec does not declare its status
	// (a 400 CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API from getCluster): it is not checked.
	offSpec bool
}

type handlerFunc func(q *request) reply

// apiError is Atlas's error body (ApiError in the spec).
type apiError struct {
	Detail     string `json:"detail,omitempty"`
	Error      int    `json:"error"`
	ErrorCode  string `json:"errorCode"`
	Parameters []any  `json:"parameters"`
	Reason     string `json:"reason"`
}

func errReply(status int, code, detail string, params ...any) reply {
	if params == nil {
		params = []any{}
	}
	return reply{status: status, body: apiError{
		Detail: detail, Error: status, ErrorCode: code, Parameters: params, Reason: http.StatusText(status),
	}}
}

// ServeHTTP is the simulator's whole request pipeline: OAuth endpoints, then authentication,
// routing, spec validation, faults, rate limiting, role checks and the operation itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	now := s.clock.Now()
	call := Call{Time: now, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	recorded := false
	// finish records the call once; a dropped connection records it before closing, so that a
	// client seeing the failure also sees it in the log.
	finish := func() {
		if !recorded {
			recorded = true
			call.Duration = time.Since(start)
			s.record(call)
		}
	}
	defer finish()

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		call.Status = s.writeJSON(w, errReply(http.StatusBadRequest, "INVALID_JSON", "cannot read request body"))
		return
	}
	s.expireUsers(now)
	s.expireAccessList(now)

	if r.URL.Path == tokenPath || r.URL.Path == revokePath {
		call.OperationID = "oauthToken"
		if r.URL.Path == revokePath {
			call.OperationID = "oauthRevoke"
		}
		if !s.faulted(w, r, r.URL.Path, call.OperationID, &call, finish) {
			if r.URL.Path == tokenPath {
				s.serveToken(w, r, body, &call)
			} else {
				s.serveRevoke(w, r, body, &call)
			}
		}
		return
	}

	route, params, routeErr := s.spec.findRoute(r)
	if routeErr == nil && route.Operation != nil {
		call.OperationID = route.Operation.OperationID
	}

	p, challenge, authErr := s.authenticate(r)
	if p == nil {
		call.Challenge = challenge
		rep := errReply(http.StatusUnauthorized, "UNAUTHORIZED", "You are not authorized for this resource.")
		if authErr != nil {
			rep.body = withDetail(rep.body, authErr.Error())
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.Header().Set("WWW-Authenticate", s.digestChallenge())
		}
		call.ErrorCode = "UNAUTHORIZED"
		call.Status = s.writeJSON(w, rep)
		return
	}
	call.Principal = p.name

	q := &request{r: r, body: body, route: route, params: params, principal: p, now: now, base: "http://" + r.Host}
	if routeErr != nil {
		status, code := http.StatusNotFound, "RESOURCE_NOT_FOUND"
		if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
			status, code = http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"
		}
		msg := fmt.Sprintf("%s %s is not an operation of the Atlas Admin API (%v)", r.Method, r.URL.Path, routeErr)
		if !s.spec.Checked() {
			// Without the spec only the implemented operations route: the
			// call may well be Atlas's, just not the simulator's.
			msg = fmt.Sprintf("%s %s is not an operation the simulator implements (and without the spec it cannot tell whether Atlas has it)", r.Method, r.URL.Path)
			s.mu.Lock()
			s.unimplemented = append(s.unimplemented, msg)
			s.mu.Unlock()
			s.report(msg)
		} else {
			s.violation("request " + msg)
		}
		call.ErrorCode = code
		call.Status = s.writeJSON(w, errReply(status, code, msg))
		return
	}
	q.opID = route.Operation.OperationID

	if err := s.spec.validateRequest(r.Context(), r, body, route, params); err != nil {
		msg := fmt.Sprintf("%s %s (%s): %v", r.Method, r.URL.RequestURI(), q.opID, err)
		s.violation("request " + msg)
		call.ErrorCode = "VALIDATION_ERROR"
		call.Status = s.writeJSON(w, errReply(http.StatusBadRequest, "VALIDATION_ERROR",
			"The request does not match the Atlas Admin API specification: "+err.Error()))
		return
	}

	if s.faulted(w, r, route.Path, q.opID, &call, finish) {
		return
	}

	rateHeaders, limited := s.takeToken(q)
	for k, v := range rateHeaders {
		w.Header()[k] = v
	}
	if limited != nil {
		call.Fault = "rate_limit"
		call.ErrorCode = "RATE_LIMITED_TOKEN_BUCKET"
		call.Status = s.send(w, q, *limited)
		return
	}

	if !p.allowed(s.spec.ops[q.opID].roles, q.param("groupId")) {
		rep := errReply(http.StatusForbidden, "USER_UNAUTHORIZED", "Current user is not authorized to perform this action.")
		call.ErrorCode = "USER_UNAUTHORIZED"
		call.Status = s.send(w, q, rep)
		return
	}

	h, ok := s.ops[q.opID]
	if !ok {
		msg := fmt.Sprintf("%s %s: operation %s is in the Atlas spec but the simulator does not implement it", r.Method, r.URL.Path, q.opID)
		s.mu.Lock()
		s.unimplemented = append(s.unimplemented, msg)
		s.mu.Unlock()
		s.report(msg)
		call.ErrorCode = "NOT_IMPLEMENTED"
		call.Status = s.writeJSON(w, errReply(http.StatusNotImplemented, "NOT_IMPLEMENTED", msg))
		return
	}
	rep := h(q)
	if e, ok := rep.body.(apiError); ok {
		call.ErrorCode = e.ErrorCode
	}
	call.Status = s.send(w, q, rep)
}

// faulted applies the injected faults matching the call and reports whether one of them
// answered it (or the client left during injected latency).
func (s *Server) faulted(w http.ResponseWriter, r *http.Request, template, opID string, call *Call, finish func()) bool {
	f, delay := s.matchFault(r.Method, r.URL.Path, template, opID)
	if delay > 0 {
		call.Fault = "latency"
		if !s.sleep(r.Context(), delay) {
			// The client gave up or the server is closing: break the
			// connection, as a dying Atlas would. Returning would send an
			// empty 200, which the client would take for an answer. (The
			// deferred finish still records the call; net/http swallows
			// this panic.)
			panic(http.ErrAbortHandler)
		}
	}
	if f == nil {
		return false
	}
	call.Fault = f.Kind.String()
	if f.Kind == FaultDrop {
		finish() // Status 0: nothing is ever sent
	}
	call.Status, call.ErrorCode = s.applyFault(w, f)
	return true
}

func withDetail(body any, detail string) any {
	if e, ok := body.(apiError); ok {
		e.Detail = detail
		return e
	}
	return body
}

// send writes an operation's reply in the media type the spec declares for it and checks the
// reply against the spec.
func (s *Server) send(w http.ResponseWriter, q *request, rep reply) int {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	var data []byte
	ct := ""
	if _, isErr := rep.body.(apiError); isErr {
		ct = "application/json"
	} else {
		ct = responseContentType(q.route, rep.status, q.r.Header.Get("Accept"))
	}
	if rep.body != nil {
		var err error
		if data, err = json.Marshal(rep.body); err != nil {
			s.report(fmt.Sprintf("atlastest: marshal %s reply: %v", q.opID, err))
			rep = errReply(http.StatusInternalServerError, "UNEXPECTED_ERROR", "simulator could not encode its reply")
			data, _ = json.Marshal(rep.body)
			ct = "application/json"
		}
	}
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	// An answer real Atlas gives off the spec has nothing to be checked against.
	if !rep.offSpec {
		if err := s.spec.validateResponse(q.r.Context(), q.r, q.route, q.params, rep.status, w.Header().Clone(), data); err != nil {
			s.violation(fmt.Sprintf("response %s %s (%s) %d: %v", q.r.Method, q.r.URL.Path, q.opID, rep.status, err))
		}
	}

	w.WriteHeader(rep.status)
	if data != nil {
		_, _ = w.Write(data)
	}
	return rep.status
}

// writeJSON writes a reply that is not an operation's (auth failures, routing and validation
// errors, faults): there is no spec response to check it against.
func (s *Server) writeJSON(w http.ResponseWriter, rep reply) int {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	data, _ := json.Marshal(rep.body)
	// The SDK only decodes JSON media types into ApiError; anything else becomes
	// "undefined response type".
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = w.Write(data)
	return rep.status
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	s.log.Debug("atlas call", "method", c.Method, "path", c.Path, "operation_id", c.OperationID,
		"status", c.Status, "principal", c.Principal, "challenge", c.Challenge, "fault", c.Fault,
		"error_code", c.ErrorCode, "duration", c.Duration)
}

func (s *Server) violation(msg string) {
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	s.log.Warn("atlas spec violation", "detail", msg)
	s.report("atlastest: spec violation: " + msg)
}

func (s *Server) report(msg string) {
	if s.t == nil {
		return
	}
	s.t.Helper()
	s.t.Errorf("%s", msg)
}

// sleep waits d unless the request is cancelled or the server closes; it reports whether the
// full delay passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

var hex24 = regexp.MustCompile(`^[a-f0-9]{24}$`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

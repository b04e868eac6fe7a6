// Package jiratest is a fake Jira Cloud REST API v3 for tests and the
// demo: GET /rest/api/3/issue/{key} with the fields parameter, basic auth
// (email and API token) or a bearer token, 401 without them, 404 with
// Jira's errorMessages for an issue that does not exist, and 429 with
// Retry-After when told to throttle.
package jiratest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Issue is one issue of the fake.
type Issue struct {
	Key      string
	Status   string // To Do, In Progress, Done...
	Category string // new, indeterminate or done
	Resolved bool   // resolution set (Done)
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	email, token string

	mu       sync.Mutex
	issues   map[string]Issue
	throttle int
	requests int
}

// New starts a server that accepts basic auth email:token, or token as a
// bearer token.
func New(email, token string) *Server {
	s := &Server{email: email, token: token, issues: map[string]Issue{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Put adds or replaces an issue.
func (s *Server) Put(is Issue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issues[is.Key] = is
}

// Throttle answers the next n requests 429.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Requests counts the requests served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) authorized(r *http.Request) bool {
	if email, token, ok := r.BasicAuth(); ok {
		return email == s.email && token == s.token
	}
	return r.Header.Get("Authorization") == "Bearer "+s.token
}

func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errorMessages": msgs, "errors": map[string]any{}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
		writeErrors(w, http.StatusUnauthorized, "You are not authenticated. Authentication required to perform this operation.")
		return
	}
	if throttled {
		w.Header().Set("Retry-After", "5")
		writeErrors(w, http.StatusTooManyRequests, "Rate limit exceeded.")
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/rest/api/3/issue/")
	if r.Method != http.MethodGet || !ok || key == "" || strings.Contains(key, "/") {
		writeErrors(w, http.StatusNotFound, "Not found")
		return
	}
	s.mu.Lock()
	is, found := s.issues[key]
	s.mu.Unlock()
	if !found {
		writeErrors(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
		return
	}
	project, _, _ := strings.Cut(key, "-")
	cat := is.Category
	if cat == "" {
		cat = "indeterminate"
	}
	status := is.Status
	if status == "" {
		status = "In Progress"
	}
	all := map[string]any{
		"status":     map[string]any{"name": status, "statusCategory": map[string]any{"key": cat, "name": cat}},
		"project":    map[string]any{"key": project, "name": project},
		"resolution": nil,
		"summary":    "issue " + key,
	}
	if is.Resolved {
		all["resolution"] = map[string]any{"name": "Done"}
	}
	fields := all
	if f := r.URL.Query().Get("fields"); f != "" {
		fields = map[string]any{}
		for _, name := range strings.Split(f, ",") {
			if v, ok := all[name]; ok {
				fields[name] = v
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": "10001", "key": key, "self": s.URL + "/rest/api/3/issue/10001", "fields": fields})
}

// Package pagerdutytest is a fake PagerDuty REST API v2 for tests and the
// demo: GET /oncalls as PagerDuty documents it (the token auth header, the
// v2 Accept header, the schedule, escalation policy and level filters,
// include[]=users for the users' emails, offset pagination with more), its
// error objects, and 429 with Retry-After when told to throttle.
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
)

// OnCall is one on-call entry: a user on call on a schedule (as level
// Level of an escalation policy).
type OnCall struct {
	UserID, Name, Email string
	Schedule            string // a schedule id; empty for a direct escalation rule
	Policy              string // the escalation policy id
	Level               int
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	key string

	mu       sync.Mutex
	oncalls  []OnCall
	throttle int // the next requests answered 429
	requests int
}

// New starts a server that accepts the API key key.
func New(key string) *Server {
	s := &Server{key: key}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Set replaces who is on call.
func (s *Server) Set(oncalls ...OnCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oncalls = slices.Clone(oncalls)
}

// Throttle answers the next n requests 429 Too Many Requests.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Requests counts the requests served (refused ones too).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func writeError(w http.ResponseWriter, status, code int, msg string, details ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"message": msg, "code": code}
	if len(details) > 0 {
		body["errors"] = details
	}
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	oncalls := slices.Clone(s.oncalls)
	s.mu.Unlock()

	if r.Header.Get("Authorization") != "Token token="+s.key {
		writeError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		writeError(w, http.StatusNotAcceptable, 2001, "Invalid Input Provided", "Accept must be application/vnd.pagerduty+json;version=2")
		return
	}
	if throttled {
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusTooManyRequests, 2020, "Rate Limit Exceeded")
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/oncalls" {
		writeError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	q := r.URL.Query()
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "limit must be from 1 to 100")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "offset must be a non-negative integer")
			return
		}
		offset = n
	}
	schedules, policies := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	var levels []int
	for _, l := range q["escalation_levels[]"] {
		n, err := strconv.Atoi(l)
		if err != nil {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "escalation_levels must be integers")
			return
		}
		levels = append(levels, n)
	}
	users := slices.Contains(q["include[]"], "users")
	var match []OnCall
	for _, o := range oncalls {
		if len(schedules) > 0 && !slices.Contains(schedules, o.Schedule) ||
			len(policies) > 0 && !slices.Contains(policies, o.Policy) ||
			len(levels) > 0 && !slices.Contains(levels, o.Level) {
			continue
		}
		match = append(match, o)
	}
	page := []map[string]any{}
	for i := offset; i < len(match) && i < offset+limit; i++ {
		o := match[i]
		user := map[string]any{"id": o.UserID, "type": "user_reference", "summary": o.Name,
			"self": "https://api.pagerduty.com/users/" + o.UserID}
		if users {
			user = map[string]any{"id": o.UserID, "type": "user", "summary": o.Name, "name": o.Name, "email": o.Email,
				"self": "https://api.pagerduty.com/users/" + o.UserID}
		}
		entry := map[string]any{
			"user":              user,
			"escalation_policy": map[string]any{"id": o.Policy, "type": "escalation_policy_reference"},
			"escalation_level":  o.Level,
			"start":             "2026-12-01T00:00:00Z", "end": "2026-12-31T00:00:00Z",
		}
		if o.Schedule != "" {
			entry["schedule"] = map[string]any{"id": o.Schedule, "type": "schedule_reference"}
		} else {
			entry["schedule"] = nil
		}
		page = append(page, entry)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"oncalls": page, "limit": limit, "offset": offset, "more": offset+limit < len(match), "total": nil,
	})
}

// Person is an on-call entry for email on schedule.
func Person(i int, email, schedule string) OnCall {
	return OnCall{UserID: fmt.Sprintf("PUSER%02d", i), Name: email, Email: email, Schedule: schedule, Policy: "PPOLICY", Level: 1}
}

package atlastest

import (
	"fmt"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

type activeFault struct {
	Fault
	remaining int // meaningful when Times > 0
}

// Inject adds a fault. Faults are checked in the order they were injected: every matching
// latency adds up, and the first matching failure answers the call.
func (s *Server) Inject(f Fault) {
	if f.Kind == 0 {
		f.Kind = FaultLatency
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, remaining: f.Times})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// PendingFaults returns the faults still armed, with Times set to what is left of them.
func (s *Server) PendingFaults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		c := f.Fault
		c.Times = f.remaining
		out = append(out, c)
	}
	return out
}

func (f *activeFault) matches(method, reqPath, template, opID string) bool {
	if opID == "oauthToken" || opID == "oauthRevoke" {
		// The OAuth endpoints are hit only by faults that name them, so that a catch-all
		// fault fails API calls rather than token fetches.
		if f.OperationID != opID && f.Path != reqPath {
			return false
		}
	}
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	if f.OperationID != "" && f.OperationID != opID {
		return false
	}
	if f.Path != "" && f.Path != reqPath && f.Path != template {
		a, _ := path.Match(f.Path, reqPath)
		b, _ := path.Match(f.Path, template)
		if !a && !b {
			return false
		}
	}
	return true
}

// matchFault consumes the faults that hit this call: the total latency to add and the
// failure to answer with, if any.
func (s *Server) matchFault(method, reqPath, template, opID string) (*Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		failure *Fault
		delay   time.Duration
		kept    = s.faults[:0]
	)
	for _, f := range s.faults {
		hit := f.matches(method, reqPath, template, opID) && (f.Kind == FaultLatency || failure == nil)
		if hit {
			delay += f.Latency
			if f.Kind != FaultLatency {
				c := f.Fault
				failure = &c
			}
			if f.Times > 0 {
				f.remaining--
			}
		}
		if f.Times == 0 || f.remaining > 0 {
			kept = append(kept, f)
		}
	}
	clear(s.faults[len(kept):])
	s.faults = kept
	return failure, delay
}

// applyFault answers a call with an injected failure and returns the status and errorCode
// sent (0 and "" for a dropped connection).
func (s *Server) applyFault(w http.ResponseWriter, f *Fault) (int, string) {
	switch f.Kind {
	case FaultRateLimited:
		retry := f.RetryAfter
		if retry <= 0 {
			retry = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		return s.writeJSON(w, errReply(http.StatusTooManyRequests, "RATE_LIMITED",
			fmt.Sprintf("Too many requests. Please retry after %d seconds.", retry))), "RATE_LIMITED"
	case FaultUnavailable:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		return s.writeJSON(w, errReply(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
			"The service is temporarily unavailable.")), "SERVICE_UNAVAILABLE"
	case FaultDrop:
		hj, ok := w.(http.Hijacker)
		if !ok {
			return s.writeJSON(w, errReply(http.StatusInternalServerError, "UNEXPECTED_ERROR", "connection cannot be dropped")), "UNEXPECTED_ERROR"
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return 0, ""
	default: // FaultServerError
		return s.writeJSON(w, errReply(http.StatusInternalServerError, "UNEXPECTED_ERROR", "Unexpected error.")), "UNEXPECTED_ERROR"
	}
}

type rateLimit struct {
	capacity int
	refill   int
	per      time.Duration
}

type bucket struct {
	tokens int
	last   time.Time // the last refill tick
}

// databaseUsersSet is the endpoint set SetRateLimit covers, one bucket per project.
const databaseUsersSet = "/api/atlas/v2/groups/{groupId}/databaseUsers"

// SetRateLimit turns on a token bucket for the databaseUsers endpoint set, one bucket per
// project, as Atlas does: capacity tokens to start with, refill tokens added every per
// (simulator clock), one token per call. capacity <= 0 turns it off. Buckets restart full.
func (s *Server) SetRateLimit(capacity, refill int, per time.Duration) {
	s.SetEndpointRateLimit(databaseUsersSet, capacity, refill, per)
}

// SetEndpointRateLimit turns on a token bucket for an endpoint set: the operations whose spec
// path starts with set ("/api/atlas/v2/groups/{groupId}/clusters",
// "/api/atlas/v2/orgs/{orgId}/groups"), one bucket per project (or per organization for a
// path without a project), as SetRateLimit does for database users. A call counts against the
// set with the longest matching prefix. capacity <= 0 turns the set's limit off. The set's
// buckets restart full.
func (s *Server) SetEndpointRateLimit(set string, capacity, refill int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if capacity <= 0 {
		delete(s.limits, set)
	} else {
		s.limits[set] = rateLimit{capacity: capacity, refill: refill, per: per}
	}
	for k := range s.buckets {
		if strings.HasPrefix(k, set+"|") {
			delete(s.buckets, k)
		}
	}
}

// takeToken charges the call to its bucket. It returns the RateLimit headers to send and,
// when the bucket is empty, the 429 to answer with.
func (s *Server) takeToken(q *request) (http.Header, *reply) {
	if q.route == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := ""
	for prefix := range s.limits {
		if strings.HasPrefix(q.route.Path, prefix) && len(prefix) > len(set) {
			set = prefix
		}
	}
	if set == "" {
		return nil, nil
	}
	lim := s.limits[set]
	scope, endpoint := q.param("groupId"), ""
	if scope != "" {
		endpoint = strings.Replace(strings.TrimPrefix(set, "/"), "{groupId}", scope, 1)
	} else {
		scope = q.param("orgId")
		endpoint = strings.Replace(strings.TrimPrefix(set, "/"), "{orgId}", scope, 1)
	}
	key := set + "|" + scope
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: lim.capacity, last: q.now}
		s.buckets[key] = b
	}
	if lim.per > 0 && lim.refill > 0 && q.now.After(b.last) {
		if ticks := int64(q.now.Sub(b.last) / lim.per); ticks > 0 {
			b.tokens = int(min(int64(lim.capacity), int64(b.tokens)+ticks*int64(lim.refill)))
			b.last = b.last.Add(time.Duration(ticks) * lim.per)
		}
	}
	h := http.Header{}
	h.Set("RateLimit-Limit", strconv.Itoa(lim.capacity))
	if b.tokens > 0 {
		b.tokens--
		h.Set("RateLimit-Remaining", strconv.Itoa(b.tokens))
		return h, nil
	}
	h.Set("RateLimit-Remaining", "0")
	retry := 60
	if lim.per > 0 && lim.refill > 0 {
		retry = max(1, int(math.Ceil(b.last.Add(lim.per).Sub(q.now).Seconds())))
	}
	h.Set("Retry-After", strconv.Itoa(retry))
	perSec := int(lim.per / time.Second)
	rep := errReply(http.StatusTooManyRequests, "RATE_LIMITED_TOKEN_BUCKET",
		fmt.Sprintf("Rate limit exceeded for %s. Please retry after %d seconds. Request capacity: %d. Refill rate: %d per %d seconds.",
			endpoint, retry, lim.capacity, lim.refill, perSec),
		endpoint, retry, lim.capacity, lim.refill, perSec)
	return h, &rep
}

package app

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idleConnsPerHost is how many idle connections to one platform host are
// kept: at least the workers that call it at once (bot.DefaultInboxWorkers
// and the dispatcher's).
const idleConnsPerHost = 64

// countingTransport counts a chat platform's API calls by method and status
// class, and its 429s, for /metrics. It wraps the transport the adapter
// would use anyway.
type countingTransport struct {
	base   http.RoundTripper
	method func(*http.Request) string // names the API method of a request

	mu     sync.Mutex
	calls  map[string]float64 // method|status class -> count
	limits float64
}

func newCountingTransport(method func(*http.Request) string) *countingTransport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	// The inbox's and the dispatcher's workers call the platform at once;
	// the default of 2 idle connections per host would close all the
	// others after each call, and every call would pay a new connection
	// (a TLS handshake, in production).
	base.MaxIdleConnsPerHost = idleConnsPerHost
	return &countingTransport{base: base, method: method, calls: map[string]float64{}}
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	class := "error"
	if err == nil {
		class = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	c.mu.Lock()
	c.calls[c.method(req)+"|"+class]++
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.limits++
	}
	c.mu.Unlock()
	return resp, err
}

func (c *countingTransport) snapshot() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]float64, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

func (c *countingTransport) rateLimited() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]float64{"": c.limits}
}

// client is an HTTP client over the counting transport, with a timeout as a
// last resort (the adapters bound each call more tightly).
func (c *countingTransport) client() *http.Client {
	return &http.Client{Transport: c, Timeout: time.Minute}
}

// slackMethod is the Web API method a request calls (chat.postMessage, ...),
// or "response_url" for posts to a response URL.
func slackMethod(req *http.Request) string {
	p := req.URL.Path
	if i := strings.LastIndex(p, "/api/"); i >= 0 {
		return p[i+len("/api/"):]
	}
	return "response_url"
}

// teamsMethod names a Bot Framework call by its shape: token, send, update,
// member, keys.
func teamsMethod(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.Contains(p, "/oauth2/") || strings.HasSuffix(p, "/token"):
		return "token"
	case strings.Contains(p, "/members/"):
		return "get_member"
	case strings.Contains(p, "/activities") && req.Method == http.MethodPut:
		return "update_activity"
	case strings.Contains(p, "/activities"):
		return "send_activity"
	}
	return "keys"
}

func chatCounters(platform string, t *countingTransport) []counter {
	return []counter{
		{name: "jitbot_" + platform + "_calls_total", help: "Calls to the " + platform + " API by method and status class.",
			labels: []string{"method", "status"}, read: t.snapshot},
		{name: "jitbot_" + platform + "_rate_limited_total", help: "Answers of 429 Too Many Requests from the " + platform + " API.",
			read: t.rateLimited},
	}
}

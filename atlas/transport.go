package atlas

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxRetryWait caps a single wait when the request has no deadline (token
// fetches): a Retry-After of an hour should not park a goroutine for an hour.
const maxRetryWait = 2 * time.Minute

// retryTransport retries what may succeed on a second try: 429 and 503 after
// the server's Retry-After, 500, 502 and 504 and broken connections after a
// jittered exponential backoff. It never waits past the request's deadline:
// when the next wait would end after it, the last answer is returned instead.
//
// Retrying a create is safe because usernames are deterministic: a create
// that reached Atlas before its connection broke comes back as a 409, which
// Provisioner.Create resolves.
type retryTransport struct {
	next        http.RoundTripper
	maxRetries  int
	base, max   time.Duration
	sleep       func(context.Context, time.Duration) error
	stats       *counters
	log         *slog.Logger
	integration string
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// Decided before the first attempt: the digest transport replaces the
	// body of the request it is given.
	empty := req.Body == nil || req.Body == http.NoBody
	rewindable := empty || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			var err error
			if r, err = rewind(req, empty); err != nil {
				return nil, err
			}
		}
		t.stats.requests.Add(1)
		resp, err := t.next.RoundTrip(r)
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			t.stats.rateLimited.Add(1)
		}
		wait, retry := t.backoff(resp, err, attempt)
		if !retry || !rewindable || attempt >= t.maxRetries || ctx.Err() != nil {
			return resp, err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return resp, err
		}
		wait = min(wait, maxRetryWait)
		status := 0
		if resp != nil {
			status = resp.StatusCode
			drain(resp)
		}
		t.stats.retries.Add(1)
		t.log.LogAttrs(ctx, slog.LevelInfo, "atlas: retrying",
			slog.String("integration", t.integration), slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", status), slog.Any("err", err), slog.Int("attempt", attempt+1), slog.Duration("wait", wait))
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// rewind makes a copy of req with a fresh body for another attempt.
func rewind(req *http.Request, empty bool) (*http.Request, error) {
	r := req.Clone(req.Context())
	if empty {
		r.Body = http.NoBody
		return r, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r.Body = body
	return r, nil
}

// backoff says whether an attempt's outcome is worth retrying and after how long.
func (t *retryTransport) backoff(resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if err != nil {
		return t.jitter(attempt), retryableError(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return d, true
		}
		return t.jitter(attempt), true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return t.jitter(attempt), true
	}
	return 0, false
}

// jitter is RetryBase doubled per attempt up to RetryMax, ±50%, so that
// callers failing together do not retry together.
func (t *retryTransport) jitter(attempt int) time.Duration {
	d := t.base
	for range attempt {
		if d >= t.max {
			break
		}
		d *= 2
	}
	d = min(d, t.max)
	return d/2 + rand.N(d)
}

// retryableError tells a broken or refused connection, which another attempt
// may get past, from errors that will repeat (bad TLS certificate, bad URL,
// cancelled context).
func retryableError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now)), true
	}
	return 0, false
}

// drain reads what is left of a response body and closes it, so that its
// connection goes back to the pool.
func drain(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// Stats counts what the adapter asked of Atlas, for metrics.
type Stats struct {
	// Calls counts Atlas operations by operation id (createDatabaseUser,
	// getClusterStatus...), whatever their outcome.
	Calls map[string]int64
	// Errors counts operations that failed after their retries.
	Errors int64
	// Requests counts HTTP attempts: every try of every operation and token
	// fetch (Digest challenges not counted separately).
	Requests int64
	// Retries counts attempts repeated after a 429, a 5xx or a broken connection.
	Retries int64
	// RateLimited counts 429 answers.
	RateLimited int64
}

// counters are the live numbers behind Stats.
type counters struct {
	errors, requests, retries, rateLimited atomic.Int64

	mu    sync.Mutex
	calls map[string]*atomic.Int64
}

func (c *counters) call(op string) {
	c.mu.Lock()
	n := c.calls[op]
	if n == nil {
		if c.calls == nil {
			c.calls = map[string]*atomic.Int64{}
		}
		n = new(atomic.Int64)
		c.calls[op] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Calls: map[string]int64{}, Errors: c.errors.Load(), Requests: c.requests.Load(),
		Retries: c.retries.Load(), RateLimited: c.rateLimited.Load(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for op, n := range c.calls {
		s.Calls[op] = n.Load()
	}
	return s
}

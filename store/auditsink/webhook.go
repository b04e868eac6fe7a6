package auditsink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// The webhook's signature headers. The signature is HMAC-SHA256, keyed
// with the shared secret, over "v1:" + the timestamp + ":" + the body, as
// Slack signs its requests; the receiver checks it with VerifySignature.
const (
	HeaderTimestamp = "X-Jitbot-Timestamp" // Unix seconds
	HeaderSignature = "X-Jitbot-Signature" // "v1=" + hex
	// SignatureWindow is how far a request's timestamp may be from the
	// receiver's clock: an older request is a replay.
	SignatureWindow = 5 * time.Minute
)

// Batch is a webhook request's body: events in order.
type Batch struct {
	Events []Event `json:"events"`
}

// Webhook POSTs batches of events as JSON, signed. A batch is
// acknowledged by any 2xx answer; anything else (a timeout, a 500, a 401
// from a receiver with the wrong secret) sends it again after a backoff.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	clock  flows.Clock
}

// NewWebhook posts to url, signing with secret, through client (nil: one
// with a 30 s timeout), with timestamps from clock (nil: the system's).
func NewWebhook(url string, secret string, client *http.Client, clock flows.Clock) (*Webhook, error) {
	if url == "" || secret == "" {
		return nil, errors.New("auditsink: a webhook needs a url and a secret")
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if clock == nil {
		clock = flows.SystemClock{}
	}
	return &Webhook{url: url, secret: []byte(secret), client: client, clock: clock}, nil
}

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, events []Event) error {
	body, err := json.Marshal(Batch{Events: events})
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	ts := strconv.FormatInt(w.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s answered %s: %q", w.url, resp.Status, snippet)
	}
	return nil
}

// Close implements Sink.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// Sign is the X-Jitbot-Signature of body sent at timestamp ts (Unix
// seconds, as sent in X-Jitbot-Timestamp).
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v1:" + ts + ":"))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifySignature.
var (
	ErrNoSignature  = errors.New("auditsink: the request is not signed (no X-Jitbot-Timestamp or X-Jitbot-Signature)")
	ErrStale        = errors.New("auditsink: the request's timestamp is more than 5 minutes from now (a replay, or a clock off)")
	ErrBadSignature = errors.New("auditsink: the signature does not match the body (wrong secret, or altered)")
)

// VerifySignature is the receiver's check of a webhook request: the
// timestamp within SignatureWindow of now, and the signature over the
// timestamp and body (compared in constant time). Read the body whole
// before calling it, and trust nothing in it unless it returns nil.
func VerifySignature(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("auditsink: X-Jitbot-Timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return ErrStale
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

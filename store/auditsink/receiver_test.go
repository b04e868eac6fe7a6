package auditsink_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/auditsink"
)

// receiver is a webhook receiver as a SIEM's would be: it checks every
// request's signature with auditsink.VerifySignature on its own clock,
// refuses what does not verify, and saves the events it accepts as JSON
// lines (the copy `jitbot audit verify -against` reads).
type receiver struct {
	t      *testing.T
	secret []byte
	clock  flows.Clock
	srv    *httptest.Server
	down   atomic.Bool // answer 503 to everything

	mu       sync.Mutex
	events   []auditsink.Event // every event accepted, repeats included
	copy     bytes.Buffer      // the same, as JSON lines
	refused  []error           // signature failures
	requests int
}

func newReceiver(t *testing.T, secret string, clock flows.Clock) *receiver {
	r := &receiver{t: t, secret: []byte(secret), clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	if r.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := auditsink.VerifySignature(r.secret, req.Header, body, r.clock.Now()); err != nil {
		r.mu.Lock()
		r.refused = append(r.refused, err)
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var batch auditsink.Batch
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	enc := json.NewEncoder(&r.copy)
	for _, ev := range batch.Events {
		r.events = append(r.events, ev)
		_ = enc.Encode(ev)
	}
}

func (r *receiver) got() []auditsink.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]auditsink.Event(nil), r.events...)
}

func (r *receiver) saved() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.copy.Bytes())
}

func (r *receiver) stats() (requests int, refused []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, append([]error(nil), r.refused...)
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const secret = "0123456789abcdef-test-secret"

package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/store/auditsink"
)

// serve streams the audit log to a configured webhook, on its own worker:
// a request's events reach the receiver signed, and the sink's progress is
// in /admin/status and /metrics.
func TestServeStreamsTheAuditLogToASink(t *testing.T) {
	const secret = "a-long-random-webhook-secret"
	var mu sync.Mutex
	var got []auditsink.Event
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := auditsink.VerifySignature([]byte(secret), r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b auditsink.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, b.Events...)
		mu.Unlock()
	}))
	defer receiver.Close()

	h := rigtest.New(t, nil)
	h.EditConfig("listen: \"127.0.0.1:0\"\n", "listen: \"127.0.0.1:0\"\naudit:\n  sinks:\n    - name: siem\n      webhook: {url: "+receiver.URL+", secret: "+secret+"}\n")
	h.Start()
	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-123 checkout errors")
	h.Eventually("the submission at the sink", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[0].Type == "submitted" && got[0].Seq == 1 && got[0].Actor == rig.Alice.Email
	})
	// The receiver has the events a moment before jitbot hears its answer.
	var status app.Status
	h.Eventually("the acknowledgement in the status", func() bool {
		code, body := get(t, h.URL("/admin/status"), rig.AdminToken)
		if err := json.Unmarshal([]byte(body), &status); code != http.StatusOK || err != nil {
			t.Fatalf("status: %d %v %s", code, err, body)
		}
		return len(status.AuditSinks) == 1 && status.AuditSinks[0].Acked >= 1
	})
	if s := status.AuditSinks[0]; s.Sink != "siem" || s.Sent < 1 || s.Failed != 0 {
		t.Fatalf("audit sinks in the status: %+v", status.AuditSinks)
	}
	if _, metrics := get(t, h.URL("/metrics"), ""); !strings.Contains(metrics, `jitbot_audit_sink_sent_total{sink="siem"}`) ||
		!strings.Contains(metrics, `jitbot_audit_sink_lag_seconds{sink="siem"}`) {
		t.Fatalf("metrics lack the sink's:\n%s", metrics)
	}
}

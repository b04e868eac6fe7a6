package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/auditsink"
)

// kill -9 of jitbot serve inside the send-to-commit window: the webhook
// receiver takes the first batch, saves it, and kills the process before
// answering. The next jitbot sends that batch again, with the same ids,
// and the rest after it: deduplicated by id the receiver has every event
// once, in order, and the store verifies against its copy.
func TestAKilledServeRepeatsTheUnacknowledgedBatchWithTheSameIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	const secret = "a-long-random-webhook-secret"
	h := rigtest.New(t, nil)
	// History to stream: written before jitbot starts, so the first batch
	// goes out at once.
	db, err := store.Open(h.StorePath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := db.AppendEvents(context.Background(), flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: time.Now().UTC(), Message: fmt.Sprint("finding ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []auditsink.Event
	var saved bytes.Buffer
	first := make(chan *rigtest.Server, 1)
	var once sync.Once
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
		enc := json.NewEncoder(&saved)
		for _, ev := range b.Events {
			_ = enc.Encode(ev)
		}
		mu.Unlock()
		once.Do(func() { (<-first).Kill() }) // saved, and jitbot dies before it hears so
	}))
	defer receiver.Close()
	h.EditConfig("listen: \"127.0.0.1:0\"\n", "listen: \"127.0.0.1:0\"\naudit:\n  sinks:\n    - name: siem\n      webhook: {url: "+receiver.URL+", secret: "+secret+"}\n")

	srv, addr := h.ServeFresh(os.Args[0], execEnv+"=1")
	first <- srv
	select {
	case <-srv.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("jitbot was not killed: the sink never got a batch\n%s", srv.Logs())
	}
	mu.Lock()
	before := len(got)
	mu.Unlock()
	if before != 5 {
		t.Fatalf("the sink got %d events before the kill, want the 5 recorded", before)
	}

	again := h.Serve(os.Args[0], addr, execEnv+"=1")
	h.Eventually("the repeat", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 10
	})
	again.Stop()

	mu.Lock()
	defer mu.Unlock()
	for i := range 5 {
		if got[i] != got[5+i] {
			t.Fatalf("event %d came back different: %+v, then %+v", i, got[i], got[5+i])
		}
	}
	seen := map[string]bool{}
	var seq uint64
	for _, ev := range got {
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		if seq++; ev.Seq != seq || ev.ID != auditsink.EventID(ev.Chain, seq) {
			t.Fatalf("deduplicated, event %d is %+v", seq, ev)
		}
	}
	copyPath := filepath.Join(t.TempDir(), "siem.jsonl")
	if err := os.WriteFile(copyPath, saved.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI("audit", "verify", "-against", copyPath, "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "audit log OK against the copy") {
		t.Fatalf("the store against what the sink saved: exit %d, %q", code, out)
	}
}

package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(b.buf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// A panicking job is logged and counted done; after Close nothing starts,
// and the dropped work is logged.
func TestWorkerSurvivesPanicsAndRefusesWorkAfterClose(t *testing.T) {
	var logs syncBuffer
	w := NewWorker(time.Second, slog.New(slog.NewJSONHandler(&logs, nil)))
	if !w.Go(context.Background(), "panics", func(context.Context) { panic("boom") }) {
		t.Fatal("work refused before Close")
	}
	w.Wait()
	recs := logs.records(t)
	if len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["msg"] != "detached work panicked" ||
		recs[0]["work"] != "panics" || recs[0]["panic"] != "boom" {
		t.Errorf("logs after the panic: %v", recs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ran := false
	if w.Go(context.Background(), "late", func(context.Context) { ran = true }) {
		t.Error("work accepted after Close")
	}
	w.Wait()
	if ran {
		t.Error("work ran after Close")
	}
	recs = logs.records(t)
	if len(recs) != 2 || recs[1]["msg"] != "shutting down: work dropped" || recs[1]["work"] != "late" {
		t.Errorf("logs after Close: %v", recs)
	}
}

// Past its deadline Close cancels the work in flight, waits for it to
// notice, and says some was left.
func TestWorkerCloseCancelsWhatIsLeft(t *testing.T) {
	// The timeout never matters when Close works: it only ends the work
	// (with DeadlineExceeded, failing the test) if Close does not cancel it.
	w := NewWorker(10*time.Second, slog.New(slog.DiscardHandler))
	deadline := make(chan time.Time)
	close(deadline) // Close gives up at once, and waits for the cancelled work as long as it takes
	w.SetCloseTimers(deadline, make(chan time.Time))
	saw := make(chan error, 1)
	w.Go(context.Background(), "stuck", func(ctx context.Context) {
		<-ctx.Done() // no timeout of its own
		saw <- ctx.Err()
	})
	if err := w.Close(); err == nil {
		t.Error("Close reported no leftover work")
	}
	// Close returned after the work did (its grace never fires), so the
	// work has said what ended it.
	select {
	case err := <-saw:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the work ended with %v, want context.Canceled", err)
		}
	default:
		t.Error("Close returned before the cancelled work did")
	}
}

// Work deaf to its context does not hold Close past the grace period.
func TestWorkerCloseGivesUpAfterTheGrace(t *testing.T) {
	w := NewWorker(time.Hour, slog.New(slog.DiscardHandler))
	deadline, grace := make(chan time.Time), make(chan time.Time)
	close(deadline)
	close(grace)
	w.SetCloseTimers(deadline, grace)
	release, finished := make(chan struct{}), make(chan struct{})
	w.Go(context.Background(), "deaf", func(context.Context) {
		// Deaf to its context; the timer only ends it if Close waits for
		// it, which the test then reports.
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		close(finished)
	})
	if err := w.Close(); err == nil {
		t.Error("Close reported no leftover work")
	}
	select {
	case <-finished:
		t.Error("Close waited for work deaf to its cancellation")
	default:
	}
	close(release)
	<-finished
}

// Work that ends in time makes Close return nil, and its context is not
// cancelled before it returns.
func TestWorkerCloseWaitsForWorkInTime(t *testing.T) {
	w := NewWorker(time.Hour, slog.New(slog.DiscardHandler))
	started, release := make(chan struct{}), make(chan struct{})
	saw := make(chan error, 1)
	w.Go(context.Background(), "quick", func(ctx context.Context) {
		close(started)
		<-release
		saw <- ctx.Err()
	})
	<-started
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-saw:
		if err != nil {
			t.Errorf("the work saw %v", err)
		}
	default:
		t.Error("Close returned before the work did")
	}
}

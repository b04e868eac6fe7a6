package bot

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// A panicking job is logged and counted done; after Close nothing starts.
func TestWorkerSurvivesPanicsAndRefusesWorkAfterClose(t *testing.T) {
	w := NewWorker(time.Second, slog.New(slog.DiscardHandler))
	if !w.Go(context.Background(), "panics", func(context.Context) { panic("boom") }) {
		t.Fatal("work refused before Close")
	}
	w.Wait()
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
}

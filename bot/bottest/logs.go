package bottest

import (
	"log/slog"
	"strings"
	"sync"
)

// Logs collects what loggers write, from any goroutine, so that a test
// can check what was said (and that no password was). The zero value is
// ready to use.
type Logs struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger is a debug-level JSON logger writing to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

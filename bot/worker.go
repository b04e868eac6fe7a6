package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Worker runs the work an adapter does after acknowledging a delivery
// (DESIGN §7.8): detached from the request's cancellation, bounded in time,
// and counted, so that shutting down can wait for it and then cancel what
// is left. Create it with NewWorker; it is safe for concurrent use.
type Worker struct {
	timeout time.Duration
	log     *slog.Logger

	work    sync.WaitGroup
	mu      sync.Mutex
	closed  bool
	stop    context.Context // cancelled when Close gives up waiting
	abandon context.CancelFunc
	// deadline and grace, when set, replace Close's two timers (tests).
	deadline, grace <-chan time.Time
}

// closeGrace is how long Close gives cancelled work to notice and return.
const closeGrace = time.Second

// NewWorker returns a Worker whose work runs at most timeout, which is also
// how long Close waits for it.
func NewWorker(timeout time.Duration, log *slog.Logger) *Worker {
	stop, abandon := context.WithCancel(context.Background())
	return &Worker{timeout: timeout, log: log, stop: stop, abandon: abandon}
}

// Go runs fn on a context that keeps ctx's values but not its cancellation,
// bounded by the timeout. The work is counted before Go returns, so whoever
// sees the acknowledgement can Wait for it. After Close nothing starts: Go
// logs the dropped work and returns false. A panic in fn is logged, not
// fatal: it must not take the other deliveries down.
func (w *Worker) Go(ctx context.Context, what string, fn func(ctx context.Context)) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.log.WarnContext(ctx, "shutting down: work dropped", "work", what)
		return false
	}
	w.work.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.work.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.timeout)
		defer cancel()
		stopAbandoned := context.AfterFunc(w.stop, cancel)
		defer stopAbandoned()
		defer func() {
			if p := recover(); p != nil {
				w.log.ErrorContext(ctx, "detached work panicked", "work", what, "panic", fmt.Sprint(p))
			}
		}()
		fn(ctx)
	}()
	return true
}

// Close stops accepting work and waits for the work in flight, at most the
// timeout; then it cancels what is left, gives it a second to notice, and
// returns an error saying so.
func (w *Worker) Close() error {
	w.mu.Lock()
	w.closed = true
	deadline, grace := w.deadline, w.grace
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.work.Wait(); close(done) }()
	if deadline == nil {
		timer := time.NewTimer(w.timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	select {
	case <-done:
		w.abandon()
		return nil
	case <-deadline:
	}
	w.abandon()
	if grace == nil {
		timer := time.NewTimer(closeGrace)
		defer timer.Stop()
		grace = timer.C
	}
	select {
	case <-done:
	case <-grace:
	}
	return errors.New("work still running after the shutdown deadline was cancelled")
}

// SetCloseTimers makes Close give up on the work in flight when deadline
// fires, instead of after the timeout, and stop waiting for the cancelled
// work when grace fires, instead of a second later. A nil channel keeps the
// real timer. Tests use it to take Close's paths without the wall clock;
// call it before Close.
func (w *Worker) SetCloseTimers(deadline, grace <-chan time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline, w.grace = deadline, grace
}

// Wait waits for the work started so far (tests, benchmarks).
func (w *Worker) Wait() { w.work.Wait() }

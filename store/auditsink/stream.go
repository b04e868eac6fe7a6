package auditsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Cursors keeps each sink's place in the audit log: the last sequence
// number it acknowledged. A cursor moves forward only, and only after the
// sink acknowledged: a crash in between sends those events again, with
// the same ids. The backends in store and flows/flowstest implement it
// (flowstest.SinkCursorSuite).
type Cursors interface {
	// SinkCursor returns the last seq sink acknowledged (0: none).
	SinkCursor(ctx context.Context, sink string) (uint64, error)
	// AdvanceSinkCursor records that sink acknowledged every record up to
	// seq; a lower seq than the one recorded changes nothing.
	AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error
}

// Sink is where events go. Send returns nil only once the sink has taken
// every event of the batch, in order; any error sends the whole batch again
// later. A sink is used by one streamer at a time.
type Sink interface {
	Send(ctx context.Context, events []Event) error
	Close() error
}

// StreamConfig tunes a streamer; zero values take the defaults.
type StreamConfig struct {
	// Batch is the most events one Send carries (100).
	Batch int
	// BackoffBase and BackoffMax bound the wait after a failed send (1 s
	// and 5 min), doubled per failure, ±50% jitter: a sink down for an hour
	// is tried a few dozen times, and catches up within BackoffMax of
	// coming back.
	BackoffBase, BackoffMax time.Duration
	// Idle is how long Run waits for new records when nobody called Kick
	// (1 s).
	Idle time.Duration
}

// StreamDeps are what a streamer works with.
type StreamDeps struct {
	Log     flows.AuditReader // required
	Cursors Cursors           // required
	// Clock decides when a failed send is retried (the system clock).
	Clock flows.Clock
	// After waits in Run (time.After).
	After func(time.Duration) <-chan time.Time
	// Rand returns a number in [0, 1) for jitter (math/rand/v2's Float64).
	Rand   func() float64
	Logger *slog.Logger
}

// Streamer sends the audit log to one sink, from that sink's cursor on.
// Each sink has its own streamer and worker: a slow or broken sink delays
// only itself, and nothing is ever coalesced or dropped.
type Streamer struct {
	name string
	sink Sink
	cfg  StreamConfig
	deps StreamDeps
	log  *slog.Logger
	kick chan struct{}

	mu    sync.Mutex
	chain string // the first record's hash, once read
	stats Stats
	fails int // consecutive failed sends
}

// Stats is how a sink is doing, for /metrics and the admin status.
type Stats struct {
	Sink string `json:"sink"`
	// Acked is the last sequence number the sink acknowledged.
	Acked uint64 `json:"acked"`
	// Behind is how many records the last read found after Acked (at most
	// a batch: a lower bound when it is a full one).
	Behind int `json:"behind"`
	// Oldest is when the oldest record not yet acknowledged happened (zero
	// when the sink has everything).
	Oldest time.Time `json:"oldest_unsent,omitzero"`
	// Sent and Failed count events acknowledged and sends that failed.
	Sent   int64 `json:"sent"`
	Failed int64 `json:"failed"`
	// RetryAt is when a failed send is tried again; LastError says why it
	// failed (both empty once a send succeeds).
	RetryAt   time.Time `json:"retry_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// NewStreamer streams to sink, known as name (its cursor's key).
func NewStreamer(name string, sink Sink, cfg StreamConfig, deps StreamDeps) (*Streamer, error) {
	switch {
	case name == "":
		return nil, errors.New("auditsink: a streamer needs the sink's name")
	case sink == nil || deps.Log == nil || deps.Cursors == nil:
		return nil, fmt.Errorf("auditsink: sink %q: a streamer needs a sink, the audit log and the cursors", name)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	def(&cfg.BackoffBase, time.Second)
	def(&cfg.BackoffMax, 5*time.Minute)
	def(&cfg.Idle, time.Second)
	if deps.Clock == nil {
		deps.Clock = flows.SystemClock{}
	}
	if deps.After == nil {
		deps.After = time.After
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Streamer{name: name, sink: sink, cfg: cfg, deps: deps, log: log.With("component", "audit_sink", "sink", name),
		kick: make(chan struct{}, 1), stats: Stats{Sink: name}}, nil
}

// Name is the sink's name.
func (s *Streamer) Name() string { return s.name }

// Stats returns how the sink is doing.
func (s *Streamer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Kick wakes Run: records were appended.
func (s *Streamer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// errNotDue says a failed send's backoff has not passed yet.
var errNotDue = errors.New("auditsink: the retry is not due yet")

// Step sends the next batch after the sink's cursor, if a retry is not
// pending, and advances the cursor once the sink acknowledged it. It
// returns how many events the sink acknowledged.
func (s *Streamer) Step(ctx context.Context) (int, error) {
	now := s.deps.Clock.Now()
	s.mu.Lock()
	retryAt := s.stats.RetryAt
	s.mu.Unlock()
	if now.Before(retryAt) {
		return 0, errNotDue
	}
	cur, err := s.deps.Cursors.SinkCursor(ctx, s.name)
	if err != nil {
		return 0, err
	}
	recs, err := s.deps.Log.AuditAfter(ctx, cur, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("auditsink: sink %q: read the audit log after %d: %w", s.name, cur, err)
	}
	s.note(func(st *Stats) {
		st.Acked, st.Behind, st.Oldest = cur, len(recs), time.Time{}
		if len(recs) > 0 {
			st.Oldest = recs[0].Event.At
		}
	})
	if len(recs) == 0 {
		return 0, nil
	}
	chain, err := s.chainOf(ctx, recs[0])
	if err != nil {
		return 0, err
	}
	events := make([]Event, len(recs))
	for i, rec := range recs {
		events[i] = EventOf(chain, rec)
	}
	if err := s.sink.Send(ctx, events); err != nil {
		s.failed(now, err)
		return 0, fmt.Errorf("auditsink: sink %q: send records %d to %d: %w", s.name, recs[0].Seq, recs[len(recs)-1].Seq, err)
	}
	// The send-to-commit window: a crash here sends these again, with
	// the same ids.
	last := recs[len(recs)-1].Seq
	if err := s.deps.Cursors.AdvanceSinkCursor(ctx, s.name, last); err != nil {
		return 0, fmt.Errorf("auditsink: sink %q: record the acknowledgement of record %d: %w", s.name, last, err)
	}
	s.note(func(st *Stats) {
		st.Sent += int64(len(events))
		st.Acked, st.Behind, st.RetryAt, st.LastError = last, 0, time.Time{}, ""
		st.Oldest = time.Time{}
	})
	s.mu.Lock()
	s.fails = 0
	s.mu.Unlock()
	return len(events), nil
}

func (s *Streamer) note(fn func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.stats)
}

// failed schedules the retry of a failed send: doubling from BackoffBase
// up to BackoffMax, ±50% jitter.
func (s *Streamer) failed(now time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.cfg.BackoffBase
	for i := 0; i < s.fails && w < s.cfg.BackoffMax; i++ {
		w *= 2
	}
	w = time.Duration(float64(min(w, s.cfg.BackoffMax)) * (0.5 + s.deps.Rand()))
	s.fails++
	s.stats.Failed++
	s.stats.RetryAt = now.Add(w)
	s.stats.LastError = err.Error()
}

// chainOf returns the hash of the log's first record, which names the
// chain in every event id: read once (first is that record when the sink
// starts from the beginning).
func (s *Streamer) chainOf(ctx context.Context, first flows.AuditRecord) (string, error) {
	s.mu.Lock()
	chain := s.chain
	s.mu.Unlock()
	if chain != "" {
		return chain, nil
	}
	if first.Seq != 1 {
		recs, err := s.deps.Log.AuditAfter(ctx, 0, 1)
		if err != nil || len(recs) == 0 || recs[0].Seq != 1 {
			return "", fmt.Errorf("auditsink: sink %q: read the audit log's first record: %w", s.name, cmpErr(err, errors.New("it is missing")))
		}
		first = recs[0]
	}
	s.mu.Lock()
	s.chain = first.Hash
	s.mu.Unlock()
	return first.Hash, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Run streams until ctx ends: a batch after the other while the log has
// more, else idle until kicked, Idle passes or a failed send is due again.
// Failures are logged and retried; nothing is skipped.
func (s *Streamer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.Step(ctx)
		switch {
		case err != nil && !errors.Is(err, errNotDue) && ctx.Err() == nil:
			st := s.Stats()
			s.log.WarnContext(ctx, "audit sink failed; retrying", "err", err, "failed", st.Failed, "retry_at", st.RetryAt)
		case n > 0:
			continue
		}
		wait := s.cfg.Idle
		if at := s.Stats().RetryAt; !at.IsZero() {
			wait = min(wait, max(at.Sub(s.deps.Clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-s.deps.After(wait):
		}
	}
}

package auditsink_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/auditsink"
)

// backend is what the streamer runs on: both stores serve it.
type backend interface {
	flows.AuditLog
	flows.AuditReader
	auditsink.Cursors
}

var (
	_ backend = (*store.DB)(nil)
	_ backend = (*flowstest.Store)(nil)
)

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func appendN(t *testing.T, b flows.AuditLog, from, n int, at time.Time) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: at, Message: fmt.Sprintf("finding %d", i)}
		if err := b.AppendEvents(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func records(t *testing.T, b flows.AuditReader) []flows.AuditRecord {
	t.Helper()
	recs, err := b.AuditAfter(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func newStreamer(t *testing.T, name string, sink auditsink.Sink, b backend, cursors auditsink.Cursors, clock flows.Clock) *auditsink.Streamer {
	t.Helper()
	s, err := auditsink.NewStreamer(name, sink, auditsink.StreamConfig{Batch: 100},
		auditsink.StreamDeps{Log: b, Cursors: cursors, Clock: clock, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func webhook(t *testing.T, r *receiver, clock flows.Clock) *auditsink.Webhook {
	t.Helper()
	w, err := auditsink.NewWebhook(r.srv.URL, secret, r.srv.Client(), clock)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// drain steps s until it has nothing left to send.
func drain(t *testing.T, s *auditsink.Streamer) {
	t.Helper()
	for range 1000 {
		n, err := s.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the streamer never caught up")
}

// checkInOrder checks that evs are recs, in order, each with its id, the
// chain's first hash and its own hash.
func checkInOrder(t *testing.T, evs []auditsink.Event, recs []flows.AuditRecord) {
	t.Helper()
	if len(evs) != len(recs) {
		t.Fatalf("%d events streamed, want %d", len(evs), len(recs))
	}
	chain := recs[0].Hash
	for i, ev := range evs {
		r := recs[i]
		if ev.Seq != r.Seq || ev.Hash != r.Hash || ev.PrevHash != r.PrevHash || ev.Chain != chain ||
			ev.ID != auditsink.EventID(chain, r.Seq) || ev.Message != r.Event.Message || !ev.At.Equal(r.Event.At) {
			t.Fatalf("event %d: %+v, want record %+v of chain %s", i, ev, r, chain)
		}
	}
}

func TestStreamsInOrderWithIDsAndTheChainHead(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) backend{
		"bbolt":  func(t *testing.T) backend { return openDB(t, filepath.Join(t.TempDir(), "jitbot.db")) },
		"memory": func(*testing.T) backend { return flowstest.NewStore() },
	} {
		t.Run(name, func(t *testing.T) {
			clock := flowstest.NewClock(t0)
			b := open(t)
			r := newReceiver(t, secret, clock)
			s := newStreamer(t, "siem", webhook(t, r, clock), b, b, clock)
			drain(t, s) // an empty log sends nothing
			if n, _ := r.stats(); n != 0 {
				t.Fatalf("%d requests for an empty log", n)
			}
			appendN(t, b, 0, 250, t0)
			drain(t, s)
			appendN(t, b, 250, 7, t0.Add(time.Minute))
			drain(t, s)
			checkInOrder(t, r.got(), records(t, b))
			if requests, _ := r.stats(); requests != 4 {
				t.Fatalf("%d requests, want 4 (batches of 100: 100, 100, 50, then 7)", requests)
			}
			if cur, err := b.SinkCursor(context.Background(), "siem"); err != nil || cur != 257 {
				t.Fatalf("cursor %d %v, want 257", cur, err)
			}
			if st := s.Stats(); st.Sent != 257 || st.Acked != 257 || st.Failed != 0 || st.Behind != 0 || !st.Oldest.IsZero() {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestEachSinkHasItsOwnCursor(t *testing.T) {
	clock := flowstest.NewClock(t0)
	b := flowstest.NewStore()
	up, down := newReceiver(t, secret, clock), newReceiver(t, secret, clock)
	down.down.Store(true)
	a := newStreamer(t, "a", webhook(t, up, clock), b, b, clock)
	z := newStreamer(t, "z", webhook(t, down, clock), b, b, clock)
	appendN(t, b, 0, 5, t0)
	drain(t, a)
	if _, err := z.Step(context.Background()); err == nil {
		t.Fatal("a send to a sink answering 503 succeeded")
	}
	if len(up.got()) != 5 {
		t.Fatalf("the sink that is up got %d events, want 5 whatever the other does", len(up.got()))
	}
	if cur, _ := b.SinkCursor(context.Background(), "z"); cur != 0 {
		t.Fatalf("the failed sink's cursor moved to %d", cur)
	}
	st := z.Stats()
	if st.Failed != 1 || st.LastError == "" || st.Behind != 5 || !st.Oldest.Equal(t0) || !st.RetryAt.After(t0) {
		t.Fatalf("the failed sink's stats: %+v", st)
	}
}

// killedCursors is the store of a process killed (kill -9) between the
// sink's acknowledgement and the commit of the cursor: the commit never
// happens.
type killedCursors struct{ auditsink.Cursors }

var errKilled = errors.New("killed before the cursor was committed")

func (killedCursors) AdvanceSinkCursor(context.Context, string, uint64) error { return errKilled }

func TestAKillBetweenSendAndCommitRepeatsWithTheSameIDs(t *testing.T) {
	clock := flowstest.NewClock(t0)
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, secret, clock)
	appendN(t, db, 0, 3, t0)
	first := newStreamer(t, "siem", webhook(t, r, clock), db, killedCursors{db}, clock)
	if _, err := first.Step(context.Background()); !errors.Is(err, errKilled) {
		t.Fatalf("step: %v, want the kill", err)
	}
	if len(r.got()) != 3 {
		t.Fatalf("the sink got %d events before the kill, want 3", len(r.got()))
	}
	// The process is gone; a new one opens the file and streams on.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, path)
	appendN(t, db, 3, 2, t0.Add(time.Second))
	second := newStreamer(t, "siem", webhook(t, r, clock), db, db, clock)
	drain(t, second)

	got := r.got()
	if len(got) != 8 {
		t.Fatalf("the sink got %d events, want 8 (3, then those 3 again and 2 new)", len(got))
	}
	for i := range 3 {
		if got[i] != got[3+i] {
			t.Fatalf("the repeat of event %d differs: %+v then %+v", i, got[i], got[3+i])
		}
	}
	// Deduplicated by id, the sink has every record once, in order.
	seen := map[string]bool{}
	var unique []auditsink.Event
	for _, ev := range got {
		if !seen[ev.ID] {
			seen[ev.ID] = true
			unique = append(unique, ev)
		}
	}
	checkInOrder(t, unique, records(t, db))
}

func TestASinkDownForAnHourCatchesUpInOrder(t *testing.T) {
	clock := flowstest.NewClock(t0)
	b := openDB(t, filepath.Join(t.TempDir(), "jitbot.db"))
	r := newReceiver(t, secret, clock)
	r.down.Store(true)
	s := newStreamer(t, "siem", webhook(t, r, clock), b, b, clock)
	ctx := context.Background()
	back := t0.Add(time.Hour)
	i := 0
	// Every 10 s of the hour something is recorded, and the streamer is
	// stepped as Run would (it waits for the retry between).
	for now := t0; now.Before(back); now = clock.Advance(10 * time.Second) {
		appendN(t, b, i, 1, now)
		i++
		if _, err := s.Step(ctx); err == nil {
			t.Fatalf("a send succeeded at %s while the sink was down", now)
		}
	}
	attempts, _ := r.stats()
	t.Logf("%d attempts while the sink was down", attempts)
	// 1 s doubling to 5 min (jitter fixed at 1x): 1+2+...+256 s, then every
	// 5 min: about 20 tries in the hour, not one per step.
	if attempts < 12 || attempts > 25 {
		t.Fatalf("%d attempts in the hour, want the backoff's ~20", attempts)
	}
	if st := s.Stats(); st.Sent != 0 || st.Failed != int64(attempts) || st.Behind != 100 || !st.Oldest.Equal(t0) {
		t.Fatalf("stats while down: %+v", st)
	}
	r.down.Store(false)
	caughtUp := time.Time{}
	for clock.Now().Before(back.Add(10 * time.Minute)) {
		if _, err := s.Step(ctx); err != nil && ctx.Err() != nil {
			t.Fatal(err)
		}
		if cur, _ := b.SinkCursor(ctx, "siem"); cur == uint64(i) {
			caughtUp = clock.Now()
			break
		}
		clock.Advance(10 * time.Second)
	}
	if caughtUp.IsZero() || caughtUp.Sub(back) > 5*time.Minute {
		t.Fatalf("caught up at %s, want within the 5 min backoff cap of the sink's return at %s", caughtUp, back)
	}
	t.Logf("caught up %s after the sink came back", caughtUp.Sub(back))
	checkInOrder(t, r.got(), records(t, b))
	if st := s.Stats(); st.Sent != int64(i) || st.LastError != "" || !st.RetryAt.IsZero() {
		t.Fatalf("stats after catching up: %+v", st)
	}
}

func TestRunStreamsUntilCancelled(t *testing.T) {
	clock := flowstest.NewClock(t0)
	b := flowstest.NewStore()
	r := newReceiver(t, secret, clock)
	s, err := auditsink.NewStreamer("siem", webhook(t, r, clock), auditsink.StreamConfig{Idle: time.Millisecond},
		auditsink.StreamDeps{Log: b, Cursors: b, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	appendN(t, b, 0, 3, t0)
	s.Kick()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waits for the worker, not for time to pass on the clock
	}
	cancel()
	<-done
	checkInOrder(t, r.got(), records(t, b))
}

func flowEvent(msg string) flows.Event {
	return flows.Event{Type: flows.EventGrantMissing, Actor: flows.SystemActor, At: t0, Message: msg}
}

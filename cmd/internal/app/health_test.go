package app

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/jitbot/jitbot/flows/flowstest"
)

// stepper is an injected sleep: each wait is reported on asked and lasts
// until the test allows it, then moves the fake clock by the wait.
type stepper struct {
	clock *flowstest.Clock
	asked chan time.Duration
	allow chan struct{}
}

func newStepper(clock *flowstest.Clock) *stepper {
	return &stepper{clock: clock, asked: make(chan time.Duration), allow: make(chan struct{})}
}

func (s *stepper) sleep(ctx context.Context, d time.Duration) error {
	select {
	case s.asked <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.allow:
		s.clock.Advance(d)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next is the wait the loop asks for next (it has checked once more).
func (s *stepper) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-s.asked:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the health loop did not ask to wait")
		return 0
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func startHealth(t *testing.T, h *health) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.run(ctx, wg.Go, false)
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// An Atlas integration that does not answer at start-up is degraded, not
// fatal: it is retried after 5 s, doubling to 5 min, and is up again (and
// back on the 30 s schedule) at the first check that passes. Each change is
// logged and in the metrics.
func TestDegradedIntegrationBacksOffAndRecovers(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := flowstest.NewClock(t0)
	st := newStepper(clock)
	var logs syncBuffer
	h := newHealth(clock, st.sleep, slog.New(slog.NewJSONHandler(&logs, nil)))
	h.jitter = func(d time.Duration) time.Duration { return d } // the schedule itself; jitter is tested below
	var down atomic.Bool
	down.Store(true)
	var checks atomic.Int64
	h.add(atlasDependency("staging"), "staging", true, func(context.Context) error {
		checks.Add(1)
		if down.Load() {
			return errors.New("atlas: ping staging: 401 Unauthorized")
		}
		return nil
	})
	if s := h.snapshot(); s[0].State != DepUnknown {
		t.Fatalf("before any check: %+v", s)
	}
	startHealth(t, h)

	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := st.next(t); got != w {
			t.Fatalf("wait %d after %d failed checks: %v, want %v", i, i+1, got, w)
		}
		if i == 0 {
			s := h.snapshot()[0]
			if s.State != DepDegraded || !s.Since.Equal(t0) || !strings.Contains(s.LastError, "401 Unauthorized") || s.ChecksBad != 1 {
				t.Fatalf("after the first check: %+v", s)
			}
			if !strings.Contains(logs.String(), `"level":"WARN","msg":"dependency down at start-up`) || !strings.Contains(logs.String(), `"integration":"staging"`) {
				t.Fatalf("not logged as a warning:\n%s", logs.String())
			}
		}
		st.allow <- struct{}{}
	}
	st.next(t) // the ninth check failed too
	clock.Advance(time.Minute)
	got := gather(t, h)
	for name, want := range map[string]float64{
		`jitbot_integration_up{integration="staging"}`:                          0,
		`jitbot_dependency_up{dependency="atlas:staging"}`:                      0,
		`jitbot_integration_checks_total{integration="staging",result="error"}`: 9,
		`jitbot_integration_checks_total{integration="staging",result="ok"}`:    0,
		`jitbot_integration_degraded_seconds{integration="staging"}`:            (5 + 10 + 20 + 40 + 80 + 160 + 300 + 300 + 60),
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", name, v, ok, want)
		}
	}
	clock.Advance(-time.Minute)
	downSince := h.snapshot()[0].Since

	down.Store(false)
	st.allow <- struct{}{}
	if got := st.next(t); got != dependencyCheckInterval {
		t.Fatalf("wait after recovering: %v, want %v", got, dependencyCheckInterval)
	}
	s := h.snapshot()[0]
	if s.State != DepUp || s.LastError != "" || s.ChecksOK != 1 || s.ChecksBad != 9 || !s.Since.Equal(clock.Now()) || !s.Since.After(downSince) {
		t.Fatalf("after recovering: %+v", s)
	}
	if !strings.Contains(logs.String(), `"msg":"dependency up again"`) {
		t.Fatalf("the recovery is not logged:\n%s", logs.String())
	}
	if got := gather(t, h); got[`jitbot_dependency_up{dependency="atlas:staging"}`] != 1 || got[`jitbot_integration_degraded_seconds{integration="staging"}`] != 0 {
		t.Fatalf("metrics after recovering: %v", got)
	}
	// Failing again starts the backoff from the beginning.
	down.Store(true)
	st.allow <- struct{}{}
	if got := st.next(t); got != degradedRetryFirst {
		t.Fatalf("wait after failing again: %v, want %v", got, degradedRetryFirst)
	}
	if n := checks.Load(); n != 11 {
		t.Fatalf("%d checks, want 11", n)
	}
}

// A chat platform that does not answer is asked again on its schedule: its
// checks cost a call every 30 s at most, and it recovers within one.
func TestChatDependencyIsCheckedOnSchedule(t *testing.T) {
	clock := flowstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	st := newStepper(clock)
	h := newHealth(clock, st.sleep, slog.New(slog.DiscardHandler))
	h.add("slack", "", false, func(context.Context) error { return errors.New("slack: auth.test: invalid_auth") })
	startHealth(t, h)
	for range 3 {
		if got := st.next(t); got != dependencyCheckInterval {
			t.Fatalf("wait: %v, want %v", got, dependencyCheckInterval)
		}
		st.allow <- struct{}{}
	}
	st.next(t)
	if s := h.snapshot()[0]; s.State != DepDegraded || s.ChecksBad != 4 || s.LastError == "" {
		t.Fatalf("%+v", s)
	}
}

// Retries are spread by ±20%, so replicas and integrations failing together
// do not retry in step.
func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{degradedRetryFirst, degradedRetryMax} {
		seen := map[time.Duration]bool{}
		for range 200 {
			j := jitter(d)
			if j < d*4/5 || j > d*6/5 {
				t.Fatalf("jitter(%v) = %v, outside ±20%%", d, j)
			}
			seen[j] = true
		}
		if len(seen) < 10 {
			t.Fatalf("jitter(%v) took only %d values", d, len(seen))
		}
	}
}

// gather is what h exports, by name{labels} in Prometheus's text order.
func gather(t *testing.T, h *health) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// With once (NoScheduler: the caller runs the schedules on its own clock),
// each dependency is checked at start-up only, and the state is known when
// the returned channel closes.
func TestHealthOnce(t *testing.T) {
	clock := flowstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	h := newHealth(clock, func(context.Context, time.Duration) error {
		t.Error("a check loop waited for a next check")
		return errors.New("no")
	}, slog.New(slog.DiscardHandler))
	var calls atomic.Int64
	h.add(atlasDependency("prod"), "prod", true, func(context.Context) error { calls.Add(1); return nil })
	h.add(atlasDependency("staging"), "staging", true, func(context.Context) error { calls.Add(1); return errors.New("refused") })
	var wg sync.WaitGroup
	checked := h.run(context.Background(), wg.Go, true)
	select {
	case <-checked:
	case <-time.After(10 * time.Second):
		t.Fatal("the first checks did not finish")
	}
	wg.Wait()
	s := h.snapshot()
	if s[0].State != DepUp || s[1].State != DepDegraded || calls.Load() != 2 {
		t.Fatalf("%+v, %d calls", s, calls.Load())
	}
}

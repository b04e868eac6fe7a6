package app

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitbot/jitbot/flows"
)

// Dependency health. jitbot serves whatever state Atlas, Slack and Teams are
// in: an Atlas project that does not answer must not stop the sweeps of the
// others (nor crash-loop the pod, which would stop them all), and a replica
// must not leave the load balancer because a third party is down, since then
// nobody takes the webhooks that are committed and retried later anyway. So
// their health is watched in the background, one loop per dependency, and
// reported in /metrics, in the admin status and in the log; /readyz does not
// look at it.

const (
	// dependencyCheckInterval is how often a dependency that answers is
	// asked again.
	dependencyCheckInterval = 30 * time.Second
	// degradedRetryFirst and degradedRetryMax bound the backoff between the
	// checks of an Atlas integration that does not answer: soon at first, so
	// a blip heals quickly, then no more than every few minutes, so a
	// project that is gone for good costs little.
	degradedRetryFirst = 5 * time.Second
	degradedRetryMax   = 5 * time.Minute
	// checkTimeout bounds one check (the Atlas client retries inside it).
	checkTimeout = 20 * time.Second
)

// Dependency states as the admin status shows them.
const (
	DepUnknown  = "unknown"  // not checked yet
	DepUp       = "up"       // the last check passed
	DepDegraded = "degraded" // the last check failed; retried in the background
)

// dependency is one thing jitbot calls out to, and what its checks found.
type dependency struct {
	name        string // "slack", "teams", "atlas:<integration>"
	integration string // the Atlas integration; empty for chat
	check       func(context.Context) error
	backoff     bool // retry failures with backoff (Atlas); else every interval

	// Guarded by health.mu.
	state     string
	since     time.Time // when state began (zero while unknown)
	lastCheck time.Time
	lastErr   string
	ok, bad   int64
}

// health runs the dependency checks and keeps their outcome.
type health struct {
	clock flows.Clock
	sleep func(context.Context, time.Duration) error
	log   *slog.Logger
	// jitter spreads a backoff delay so that replicas (and integrations
	// failing together) do not retry in step.
	jitter func(time.Duration) time.Duration

	mu   sync.Mutex
	deps []*dependency
}

func newHealth(clock flows.Clock, sleep func(context.Context, time.Duration) error, log *slog.Logger) *health {
	if sleep == nil {
		sleep = sleepCtx
	}
	return &health{clock: clock, sleep: sleep, log: log, jitter: jitter}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jitter is d within ±20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d*4/5 + rand.N(d*2/5+1)
}

// add registers a dependency; call before run.
func (h *health) add(name, integration string, backoff bool, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deps = append(h.deps, &dependency{name: name, integration: integration, check: check, backoff: backoff, state: DepUnknown})
}

// run checks every dependency at once, then (unless once) each on its own
// schedule, until ctx ends. spawn starts a loop (Main's background group).
// The channel it returns is closed when every dependency has been checked
// once, so its state is known.
func (h *health) run(ctx context.Context, spawn func(func()), once bool) <-chan struct{} {
	h.mu.Lock()
	deps := append([]*dependency(nil), h.deps...)
	h.mu.Unlock()
	var first sync.WaitGroup
	first.Add(len(deps))
	for _, d := range deps {
		spawn(func() { h.watch(ctx, d, first.Done, once) })
	}
	checked := make(chan struct{})
	spawn(func() { first.Wait(); close(checked) })
	return checked
}

// watch checks d until ctx ends: every dependencyCheckInterval while it
// answers; while it does not, an Atlas integration is retried after 5 s,
// doubling to 5 min (with jitter), a chat platform every interval. It calls
// checked after the first check, and with once returns then.
func (h *health) watch(ctx context.Context, d *dependency, checked func(), once bool) {
	var retry time.Duration
	for {
		err := h.checkOnce(ctx, d)
		if checked != nil {
			checked()
			checked = nil
		}
		if ctx.Err() != nil || once {
			return
		}
		wait := dependencyCheckInterval
		switch {
		case err == nil:
			retry = 0
		case d.backoff:
			retry = min(max(retry*2, degradedRetryFirst), degradedRetryMax)
			wait = h.jitter(retry)
		}
		if h.sleep(ctx, wait) != nil {
			return
		}
	}
}

// checkOnce runs d's check and records its outcome, logging changes of state.
func (h *health) checkOnce(ctx context.Context, d *dependency) error {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	err := d.check(cctx)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not the dependency's fault
	}
	now := h.clock.Now()
	h.mu.Lock()
	prev, prevSince := d.state, d.since
	d.lastCheck = now
	if err == nil {
		d.ok++
		d.lastErr = ""
		if d.state != DepUp {
			d.state, d.since = DepUp, now
		}
	} else {
		d.bad++
		// The whole error: the admin status is behind the admin token, and
		// an operator needs Atlas's answer (a 401 names the key's problem).
		d.lastErr = err.Error()
		if d.state != DepDegraded {
			d.state, d.since = DepDegraded, now
		}
	}
	state := d.state
	h.mu.Unlock()

	log := h.log.With("dependency", d.name)
	if d.integration != "" {
		log = log.With("integration", d.integration)
	}
	switch {
	case state == DepDegraded && prev == DepUnknown:
		log.Warn("dependency down at start-up: serving on, retrying in the background"+h.scope(d), "err", err)
	case state == DepDegraded && prev == DepUp:
		log.Warn("dependency down: retrying in the background"+h.scope(d), "err", err)
	case state == DepUp && prev == DepDegraded:
		log.Info("dependency up again", "down_for", now.Sub(prevSince).String())
	case state == DepUp && prev == DepUnknown:
		log.Debug("dependency up")
	}
	return err
}

// scope says what a dependency being down affects.
func (h *health) scope(d *dependency) string {
	if d.integration != "" {
		return " (this integration is degraded; the others are unaffected)"
	}
	return ""
}

// DependencyStatus is one dependency as the admin status shows it.
type DependencyStatus struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // unknown, up or degraded
	Since     time.Time `json:"since,omitzero"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	ChecksOK  int64     `json:"checks_ok"`
	ChecksBad int64     `json:"checks_failed"`
}

// snapshot is every dependency's status, in the order added.
func (h *health) snapshot() []DependencyStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]DependencyStatus, 0, len(h.deps))
	for _, d := range h.deps {
		out = append(out, DependencyStatus{Name: d.name, State: d.state, Since: d.since, LastCheck: d.lastCheck, LastError: d.lastErr, ChecksOK: d.ok, ChecksBad: d.bad})
	}
	return out
}

// collector exports the dependencies' health: jitbot_dependency_up and
// jitbot_dependency_checks_total for all of them, and the same for the
// Atlas integrations alone as jitbot_integration_up and
// jitbot_integration_checks_total (labelled by integration, which is what
// an alert on one project wants).
func (h *health) collector() prometheus.Collector { return healthCollector{h} }

var (
	descDepUp        = prometheus.NewDesc("jitbot_dependency_up", "1 if the dependency (slack, teams, atlas:<integration>) answered its last check, 0 if not or not checked yet.", []string{"dependency"}, nil)
	descDepChecks    = prometheus.NewDesc("jitbot_dependency_checks_total", "Dependency checks by outcome (ok, error).", []string{"dependency", "result"}, nil)
	descIntegUp      = prometheus.NewDesc("jitbot_integration_up", "1 if the Atlas integration answered its last check, 0 while it is degraded (or not checked yet).", []string{"integration"}, nil)
	descIntegChecks  = prometheus.NewDesc("jitbot_integration_checks_total", "Atlas integration checks by outcome (ok, error).", []string{"integration", "result"}, nil)
	descIntegDownFor = prometheus.NewDesc("jitbot_integration_degraded_seconds", "How long the Atlas integration has been degraded (0 while up).", []string{"integration"}, nil)
)

type healthCollector struct{ h *health }

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepUp, descDepChecks, descIntegUp, descIntegChecks, descIntegDownFor} {
		ch <- d
	}
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.h.clock.Now()
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	for _, d := range c.h.deps {
		up := 0.0
		if d.state == DepUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descDepUp, prometheus.GaugeValue, up, d.name)
		ch <- prometheus.MustNewConstMetric(descDepChecks, prometheus.CounterValue, float64(d.ok), d.name, "ok")
		ch <- prometheus.MustNewConstMetric(descDepChecks, prometheus.CounterValue, float64(d.bad), d.name, "error")
		if d.integration == "" {
			continue
		}
		down := 0.0
		if d.state == DepDegraded {
			down = now.Sub(d.since).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descIntegUp, prometheus.GaugeValue, up, d.integration)
		ch <- prometheus.MustNewConstMetric(descIntegChecks, prometheus.CounterValue, float64(d.ok), d.integration, "ok")
		ch <- prometheus.MustNewConstMetric(descIntegChecks, prometheus.CounterValue, float64(d.bad), d.integration, "error")
		ch <- prometheus.MustNewConstMetric(descIntegDownFor, prometheus.GaugeValue, down, d.integration)
	}
}

// atlasDependency is the dependency name of an Atlas integration.
func atlasDependency(integration string) string { return "atlas:" + integration }

// integrationOf is the Atlas integration a dependency name names, if any.
func integrationOf(name string) (string, bool) { return strings.CutPrefix(name, "atlas:") }

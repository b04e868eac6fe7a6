package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
	"github.com/jitbot/jitbot/flows"
)

// metrics are jitbot's Prometheus metrics. It is also a flows.Notifier, so it
// sees every event the service emits.
type metrics struct {
	reg    *prometheus.Registry
	events *prometheus.CounterVec
	// By kind of grant: a service account and an IP access-list entry
	// take other times than a database user.
	provisioning *prometheus.HistogramVec
	revocation   *prometheus.HistogramVec
	overstay     *prometheus.HistogramVec
	sweepLag     prometheus.Gauge
	sweepTime    prometheus.Histogram
	sweepStarted prometheus.Gauge
	sweepErrors  prometheus.Counter
	orphans      prometheus.Counter
	missing      prometheus.Counter

	mu            sync.Mutex
	revokingSince map[string]time.Time // request id -> when its revocation started
}

// counter is a source of cumulative counts read at scrape time (Atlas and
// Slack call counters kept by the adapters).
type counter struct {
	name, help string
	labels     []string
	read       func() map[string]float64 // label value(s) joined by "|" -> count
	gauge      bool                      // a level read now, not a cumulative count
}

func newMetrics(counts func(context.Context) (map[flows.State]int, error), extra []counter) *metrics {
	m := &metrics{
		reg:           prometheus.NewRegistry(),
		revokingSince: map[string]time.Time{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitbot_events_total", Help: "Request events by type (approvals, denials, revoke failures, ...).",
		}, []string{"type"}),
		provisioning: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitbot_provisioning_seconds", Help: "From approval to access, by kind of grant (the Atlas user, role, entry or credential made and applied).",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}, []string{"kind"}),
		revocation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitbot_revocation_seconds", Help: "From the start of a revocation to Atlas having removed what was granted, by kind of grant.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"kind"}),
		overstay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitbot_expiry_overstay_seconds", Help: "How long after its deadline an expired grant was removed from Atlas, by kind of grant (negative: before).",
			Buckets: []float64{-60, -10, -5, -1, 0, 1, 5, 10, 30, 60, 300},
		}, []string{"kind"}),
		sweepLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitbot_sweep_lag_seconds", Help: "The longest a due item waited past its time in the last sweep."}),
		sweepStarted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitbot_sweep_last_start_timestamp_seconds",
			Help: "When the last sweep of expiries started (Unix time): on the leader, a sweep stuck or not running; on a new leader, when its first sweep began."}),
		sweepTime:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitbot_sweep_duration_seconds", Help: "Sweep duration.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "jitbot_sweep_errors_total", Help: "Sweeps that failed."}),
		orphans:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jitbot_reconcile_orphans_deleted_total", Help: "Atlas users labelled managed-by=jitbot with no live grant, deleted by reconcile."}),
		missing:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jitbot_reconcile_missing_total", Help: "Active grants whose Atlas user was gone."}),
	}
	build := buildinfo.Read()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitbot_build_info", Help: "Always 1; its labels say which build runs (the release and its VCS revision).",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision}})
	info.Set(1)
	m.reg.MustRegister(info, m.events, m.provisioning, m.revocation, m.overstay, m.sweepLag, m.sweepTime, m.sweepStarted, m.sweepErrors, m.orphans, m.missing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(&stateCollector{counts: counts, desc: prometheus.NewDesc("jitbot_requests", "Requests by state.", []string{"state"}, nil)})
	for _, c := range extra {
		m.reg.MustRegister(&funcCollector{c: c, desc: prometheus.NewDesc(c.name, c.help, c.labels, nil)})
	}
	return m
}

// Notify implements flows.Notifier: it counts events and times grants.
func (m *metrics) Notify(_ context.Context, n flows.Notice) error {
	ev := n.Event
	m.events.WithLabelValues(string(ev.Type)).Inc()
	r := n.Request
	if r == nil {
		return nil
	}
	switch ev.Type {
	case flows.EventActivated:
		if approved := approvalTime(r); !approved.IsZero() {
			m.provisioning.WithLabelValues(kindOf(r)).Observe(ev.At.Sub(approved).Seconds())
		}
	case flows.EventRevoking:
		m.mu.Lock()
		m.revokingSince[string(r.ID)] = ev.At
		m.mu.Unlock()
	case flows.EventExpired, flows.EventRevoked:
		if r.EndState == flows.StateExpired && !r.ExpiresAt.IsZero() {
			m.overstay.WithLabelValues(kindOf(r)).Observe(ev.At.Sub(r.ExpiresAt).Seconds())
		}
		m.mu.Lock()
		since, ok := m.revokingSince[string(r.ID)]
		delete(m.revokingSince, string(r.ID))
		m.mu.Unlock()
		if ok {
			m.revocation.WithLabelValues(kindOf(r)).Observe(ev.At.Sub(since).Seconds())
		}
	}
	return nil
}

// kindOf is the request's kind as the metrics label it: requests stored
// before kinds existed are database users.
func kindOf(r *flows.Request) string {
	if r.Kind == "" {
		return string(flows.KindDatabaseUser)
	}
	return string(r.Kind)
}

// approvalTime is when the request was approved: its last approval, or its
// creation for an auto-approved one.
func approvalTime(r *flows.Request) time.Time {
	if len(r.Approvals) > 0 {
		return r.Approvals[len(r.Approvals)-1].At
	}
	return r.CreatedAt
}

func (m *metrics) observeSweep(rep flows.SweepReport, took time.Duration, err error) {
	m.sweepTime.Observe(took.Seconds())
	if err != nil {
		m.sweepErrors.Inc()
		return
	}
	m.sweepLag.Set(rep.MaxLag.Seconds())
}

func (m *metrics) observeReconcile(r flows.ReconcileReport) {
	m.orphans.Add(float64(len(r.OrphansDeleted)))
	m.missing.Add(float64(len(r.Missing)))
}

type stateCollector struct {
	counts func(context.Context) (map[flows.State]int, error)
	desc   *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		slog.Default().Warn("metrics: could not count requests", "err", err)
		return
	}
	for _, s := range flows.States() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

type funcCollector struct {
	c    counter
	desc *prometheus.Desc
}

func (f *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *funcCollector) Collect(ch chan<- prometheus.Metric) {
	for labels, v := range f.c.read() {
		vals := []string{}
		if len(f.c.labels) > 0 {
			vals = splitLabels(labels, len(f.c.labels))
		}
		kind := prometheus.CounterValue
		if f.c.gauge {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(f.desc, kind, v, vals...)
	}
}

func splitLabels(s string, n int) []string {
	out := strings.SplitN(s, "|", n)
	for len(out) < n {
		out = append(out, "")
	}
	return out
}

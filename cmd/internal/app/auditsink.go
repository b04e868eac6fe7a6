package app

import (
	"fmt"
	"log/slog"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/auditsink"
)

// The bbolt store keeps the audit sinks' cursors (another backend is
// asked for them when the configuration names a sink: newAuditSinks).
var _ auditsink.Cursors = (*store.DB)(nil)

// newAuditSinks builds a streamer for each configured audit sink (none
// without an audit section). The backend keeps each sink's cursor: one
// that cannot is refused here, not when the first event is sent.
func newAuditSinks(cfg *config.Config, db Backend, clock flows.Clock, log *slog.Logger) (auditsink.Streamers, error) {
	if cfg.Audit == nil || len(cfg.Audit.Sinks) == 0 {
		return nil, nil
	}
	cursors, ok := db.(auditsink.Cursors)
	if !ok {
		return nil, fmt.Errorf("audit: the store (%T) keeps no audit sink cursors: it cannot stream the audit log", db)
	}
	return auditsink.New(cfg.Audit, auditsink.Deps{StreamDeps: auditsink.StreamDeps{
		Log: db, Cursors: cursors, Clock: clock, Logger: log,
	}})
}

// auditSinkCounters are each audit sink's progress, for /metrics: how old
// the oldest event it has not acknowledged is (its lag), what it has
// acknowledged, and how many events went out and sends failed.
func auditSinkCounters(stats func() []auditsink.Stats, clock flows.Clock) []counter {
	per := func(pick func(auditsink.Stats) float64) func() map[string]float64 {
		return func() map[string]float64 {
			out := map[string]float64{}
			for _, s := range stats() {
				out[s.Sink] = pick(s)
			}
			return out
		}
	}
	return []counter{
		{name: "jitbot_audit_sink_lag_seconds", help: "How old the oldest audit event a sink has not acknowledged is (0 when it has every one).",
			labels: []string{"sink"}, gauge: true, read: per(func(s auditsink.Stats) float64 {
				if s.Oldest.IsZero() {
					return 0
				}
				return max(clock.Now().Sub(s.Oldest).Seconds(), 0)
			})},
		{name: "jitbot_audit_sink_behind", help: "Audit events after a sink's cursor at its last read (at most a batch).",
			labels: []string{"sink"}, gauge: true, read: per(func(s auditsink.Stats) float64 { return float64(s.Behind) })},
		{name: "jitbot_audit_sink_acked_seq", help: "The last audit sequence number a sink acknowledged.",
			labels: []string{"sink"}, gauge: true, read: per(func(s auditsink.Stats) float64 { return float64(s.Acked) })},
		{name: "jitbot_audit_sink_sent_total", help: "Audit events a sink acknowledged (repeats after a crash included).",
			labels: []string{"sink"}, read: per(func(s auditsink.Stats) float64 { return float64(s.Sent) })},
		{name: "jitbot_audit_sink_failures_total", help: "Sends to an audit sink that failed (each retried with backoff).",
			labels: []string{"sink"}, read: per(func(s auditsink.Stats) float64 { return float64(s.Failed) })},
	}
}

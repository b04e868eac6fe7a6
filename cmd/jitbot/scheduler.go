package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jitbot/jitbot/flows"
)

// Schedules. Expiry is driven by data (the store's due index), not by one
// cron entry per grant: the sweep reads only what is due.
const (
	sweepSchedule     = "@every 5s"
	reconcileSchedule = "@every 1h"
	rotateSchedule    = "0 0 3 * * *" // daily, 03:00 UTC
	sweepInterval     = 5 * time.Second
)

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// newScheduler runs the sweep, reconcile and rotation jobs. Overlapping runs
// are skipped (a slow sweep is not doubled) and panics are recovered.
func newScheduler(ctx context.Context, svc *flows.Service, clock flows.Clock, m *metrics, log *slog.Logger) (*cron.Cron, error) {
	cl := cronLogger{log: log}
	c := cron.New(cron.WithSeconds(), cron.WithLocation(time.UTC), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	jobs := []struct {
		spec string
		run  func()
	}{
		{sweepSchedule, func() { sweep(ctx, svc, clock, m, log) }},
		{reconcileSchedule, func() { reconcile(ctx, svc, m, log) }},
		{rotateSchedule, func() {
			jctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			if n, err := svc.RotateDue(jctx, clock.Now()); err != nil {
				log.Error("rotation failed", "err", err)
			} else if n > 0 {
				log.Info("rotated credentials", "grants", n)
			}
		}},
	}
	for _, j := range jobs {
		if _, err := c.AddFunc(j.spec, j.run); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func sweep(ctx context.Context, svc *flows.Service, clock flows.Clock, m *metrics, log *slog.Logger) {
	jctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := svc.Sweep(jctx, clock.Now())
	m.observeSweep(rep, time.Since(start), err)
	if err != nil {
		log.Error("sweep failed", "err", err)
		return
	}
	if rep.Due > 0 {
		log.Info("sweep", "due", rep.Due, "timed_out", rep.TimedOut, "reminded", rep.Reminded, "revocations", rep.Revocations,
			"early_revocations", rep.EarlyRevokes, "provisioned", rep.Provisioned, "max_lag", rep.MaxLag)
	}
}

func reconcile(ctx context.Context, svc *flows.Service, m *metrics, log *slog.Logger) {
	jctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	reps, err := svc.Reconcile(jctx)
	if err != nil {
		log.Error("reconcile failed", "err", err)
		return
	}
	for _, r := range reps {
		m.observeReconcile(r)
		log.Info("reconcile", "integration", r.Integration, "users", r.Users, "orphans_deleted", len(r.OrphansDeleted),
			"missing", len(r.Missing), "errors", len(r.Errors))
	}
}

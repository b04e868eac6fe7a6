package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jitbot/jitbot/flows"
)

// Schedules. Expiry is driven by data (the store's due index), not by one
// cron entry per grant: the sweep reads only what is due.
const (
	sweepSchedule      = "@every 5s"
	reconcileSchedule  = "@every 1h"
	rotateSchedule     = "0 0 3 * * *" // daily, 03:00 UTC
	groupSyncSchedule  = "@every 5m"
	inboxPurgeSchedule = "@every 10m" // tombstones older than bot.DefaultInboxRetention
	// SweepInterval is the sweep schedule's period: the budget of an expiry
	// is its deadline plus one of these (the scenarios check it).
	SweepInterval = 5 * time.Second
)

// job is a scheduled function beyond the flows ones (the Slack user group
// sync).
type job struct {
	spec string
	run  func()
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// newScheduler runs the sweep, reconcile and rotation jobs. Overlapping runs
// are skipped (a slow sweep is not doubled) and panics are recovered.
func newScheduler(ctx context.Context, svc *flows.Service, clock flows.Clock, m *metrics, log *slog.Logger, extra ...job) (*cron.Cron, error) {
	jobs := []job{
		// Two sweeps, each skipped while its last run goes on: expiries
		// never wait behind a provisioning attempt, which may wait long for
		// Atlas to apply a user.
		{sweepSchedule, func() { sweepFor(ctx, svc, clock, m, log, flows.SweepEnds) }},
		{sweepSchedule, func() { sweepFor(ctx, svc, clock, m, log, flows.SweepProvisioning) }},
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
	return newCron(log, append(jobs, extra...)...)
}

// newCron runs jobs on their schedules. Overlapping runs are skipped (a
// slow sweep is not doubled) and panics are recovered.
func newCron(log *slog.Logger, jobs ...job) (*cron.Cron, error) {
	cl := cronLogger{log: log}
	c := cron.New(cron.WithSeconds(), cron.WithLocation(time.UTC), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	for _, j := range jobs {
		if _, err := c.AddFunc(j.spec, j.run); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func sweepFor(ctx context.Context, svc *flows.Service, clock flows.Clock, m *metrics, log *slog.Logger, work flows.SweepWork) {
	jctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	if work&flows.SweepEnds != 0 {
		m.sweepStarted.Set(float64(start.UnixNano()) / 1e9)
	}
	rep, err := svc.SweepFor(jctx, clock.Now(), work)
	if work&flows.SweepEnds != 0 {
		// The sweep metrics are about expiry: how late and how long.
		m.observeSweep(rep, time.Since(start), err)
	}
	if err != nil {
		log.Error("sweep failed", "err", err)
		return
	}
	if rep.Due > 0 {
		log.Info("sweep", "due", rep.Due, "timed_out", rep.TimedOut, "reminded", rep.Reminded, "nudged", rep.Nudged, "revocations", rep.Revocations,
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
		log.Info("reconcile", "integration", r.Integration, "kind", string(r.Kind), "users", r.Managed, "orphans_deleted", len(r.OrphansDeleted),
			"missing", len(r.Missing), "errors", len(r.Errors))
	}
}

// syncUserGroups refreshes the members of the policy groups that include
// Slack user groups (slack:<handle>). A group changes only when all its user
// groups were read, so a Slack outage leaves the last good members in place
// rather than locking people out or in by half.
func syncUserGroups(ctx context.Context, policy *flows.Policy, members func(ctx context.Context, handle string) ([]string, error), log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var errs []error
	for group, handles := range policy.UserGroups() {
		var emails []string
		var err error
		for _, h := range handles {
			var got []string
			if got, err = members(ctx, h); err != nil {
				err = fmt.Errorf("group %s keeps its last members: %w", group, err)
				break
			}
			emails = append(emails, got...)
		}
		if err == nil {
			err = policy.SetSyncedMembers(group, emails)
		}
		if err != nil {
			log.Warn("slack user group sync failed", "group", group, "err", err)
			errs = append(errs, err)
			continue
		}
		log.Info("synced slack user groups", "group", group, "user_groups", len(handles), "members", len(emails))
	}
	return errors.Join(errs...)
}

package flows

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// SweepReport says what one sweep did.
type SweepReport struct {
	Due          int           // requests found due
	TimedOut     int           // pending requests nobody decided on
	Reminded     int           // reminders sent
	Revocations  int           // revocations started or retried
	EarlyRevokes int           // of those, started early to beat Atlas's rate limit
	Provisioned  int           // provisioning attempts resumed
	Backstops    int           // backstops moved
	MaxLag       time.Duration // the longest a due item waited past its time
}

// SweepWork selects what a sweep does.
type SweepWork uint8

const (
	// SweepEnds: pending requests time out, reminders go out, grants are
	// revoked (or their revocations retried) and backstops moved.
	SweepEnds SweepWork = 1 << iota
	// SweepProvisioning: interrupted or failed provisioning is retried. An
	// attempt may wait long for Atlas to apply the user, so a scheduler runs
	// it apart from SweepEnds, which must never wait behind it.
	SweepProvisioning
	SweepAll = SweepEnds | SweepProvisioning
)

// Sweep does all that is due at now (SweepAll).
func (s *Service) Sweep(ctx context.Context, now time.Time) (SweepReport, error) {
	return s.SweepFor(ctx, now, SweepAll)
}

// SweepFor does the work selected that is due at now: pending requests time
// out, reminders go out, grants that would expire before the next sweep (or,
// under a rate limit, whose planned revocation would start before it) are
// revoked, and failed Atlas operations are retried. It reads only what is
// due, through the store's due index.
func (s *Service) SweepFor(ctx context.Context, now time.Time, work SweepWork) (SweepReport, error) {
	var rep SweepReport
	// Look one tick ahead for expiries: a grant due before the next sweep is
	// revoked now rather than up to a tick late.
	ids, err := s.store.Due(ctx, now.Add(s.cfg.SweepInterval), s.cfg.SweepBatch)
	if err != nil {
		return rep, fmt.Errorf("flows: sweep: %w", err)
	}
	var early []RequestID
	if work&SweepEnds != 0 {
		if early, err = s.earlyRevocations(ctx, now); err != nil {
			return rep, fmt.Errorf("flows: sweep: %w", err)
		}
	}
	seen := make(map[RequestID]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range early {
		if !seen[id] {
			ids = append(ids, id)
			seen[id] = true
		}
	}
	earlySet := make(map[RequestID]bool, len(early))
	for _, id := range early {
		earlySet[id] = true
	}
	rep.Due = len(ids)

	var mu sync.Mutex
	record := func(f func(*SweepReport)) {
		mu.Lock()
		defer mu.Unlock()
		f(&rep)
	}
	queue := make(chan RequestID)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max(1, len(ids))) {
		wg.Go(func() {
			for id := range queue {
				s.handleDue(ctx, id, now, work, earlySet[id], record)
			}
		})
	}
	for _, id := range ids {
		queue <- id
	}
	close(queue)
	wg.Wait()
	return rep, nil
}

func (s *Service) handleDue(ctx context.Context, id RequestID, now time.Time, work SweepWork, early bool, record func(func(*SweepReport))) {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		s.log.ErrorContext(ctx, "sweep: could not read a due request", "request_id", id, "err", err)
		return
	}
	provisioning := r.State == StateApproved || r.State == StateProvisioning
	if provisioning && work&SweepProvisioning == 0 || !provisioning && work&SweepEnds == 0 {
		return
	}
	if due := r.DueAt(); !due.IsZero() && now.After(due) {
		lag := now.Sub(due)
		record(func(rep *SweepReport) { rep.MaxLag = max(rep.MaxLag, lag) })
	}
	switch r.State {
	case StatePending:
		if !now.Before(r.PendingUntil) {
			if _, err := s.step(ctx, id, func(r *Request, _ time.Time) (Event, error) { return r.TimeOut(now) }); err == nil {
				record(func(rep *SweepReport) { rep.TimedOut++ })
			}
		}
	case StateApproved, StateProvisioning:
		if !now.Before(r.NextAttemptAt) {
			record(func(rep *SweepReport) { rep.Provisioned++ })
			s.provision(ctx, id, respectLease)
		}
	case StateRevoking, StateRevokeFailed:
		if !now.Before(r.NextAttemptAt) {
			record(func(rep *SweepReport) { rep.Revocations++ })
			s.revoke(ctx, id, respectLease)
		}
	case StateActive:
		if !r.RemindAt.IsZero() && !now.Before(r.RemindAt) && now.Before(r.ExpiresAt) {
			if reminded, err := s.step(ctx, id, func(r *Request, _ time.Time) (Event, error) { return r.Remind(now) }); err == nil {
				r = reminded
				record(func(rep *SweepReport) { rep.Reminded++ })
			}
		}
		if now.Add(s.cfg.SweepInterval).After(r.ExpiresAt) || early {
			reason := "expired"
			if now.Before(r.ExpiresAt) {
				reason = fmt.Sprintf("expired (revoked %s early to finish within Atlas's rate limit)", FormatDuration(r.ExpiresAt.Sub(now)))
			}
			if _, err := s.step(ctx, id, func(r *Request, now time.Time) (Event, error) {
				return r.StartRevoking(now, SystemActor, StateExpired, reason)
			}); err == nil {
				record(func(rep *SweepReport) {
					rep.Revocations++
					if early && now.Before(r.ExpiresAt) {
						rep.EarlyRevokes++
					}
				})
				s.revoke(ctx, id, respectLease)
			}
			return
		}
		if !r.BackstopRefreshAt.IsZero() && !now.Before(r.BackstopRefreshAt) {
			record(func(rep *SweepReport) { rep.Backstops++ })
			s.moveBackstop(ctx, r)
		}
	}
}

package flows

import (
	"context"
	"fmt"
	"sort"
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
	var early []string
	if work&SweepEnds != 0 {
		if early, err = s.earlyRevocations(ctx, now); err != nil {
			return rep, fmt.Errorf("flows: sweep: %w", err)
		}
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range early {
		if !seen[id] {
			ids = append(ids, id)
			seen[id] = true
		}
	}
	earlySet := make(map[string]bool, len(early))
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
	queue := make(chan string)
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

func (s *Service) handleDue(ctx context.Context, id string, now time.Time, work SweepWork, early bool, record func(func(*SweepReport))) {
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
			if _, err := s.step(ctx, id, func(r *Request, _ time.Time) (Event, error) { return r.Remind(now) }); err == nil {
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
			s.moveBackstop(ctx, id)
		}
	}
}

// earlyRevocations returns the active grants that must start revoking now so
// that every grant of a rate-limited integration is gone by its deadline.
func (s *Service) earlyRevocations(ctx context.Context, now time.Time) ([]string, error) {
	if len(s.cfg.RateLimits) == 0 {
		return nil, nil
	}
	var horizon time.Duration
	for _, rl := range s.cfg.RateLimits {
		// Atlas caps a project at 100 users, so no chain of deletes is longer.
		horizon = max(horizon, 100*rl.interval())
	}
	expiring, err := s.store.Expiring(ctx, now.Add(horizon), 0)
	if err != nil {
		return nil, err
	}
	byIntegration := map[string][]*Request{}
	for _, r := range expiring {
		byIntegration[r.Resource.Integration] = append(byIntegration[r.Resource.Integration], r)
	}
	var out []string
	for name, rs := range byIntegration {
		rl, ok := s.cfg.RateLimits[name]
		if !ok {
			continue
		}
		deadlines := make([]time.Time, len(rs))
		for i, r := range rs {
			deadlines[i] = r.ExpiresAt
		}
		for i, start := range PlanRevocations(deadlines, rl) {
			if now.Add(s.cfg.SweepInterval).After(start) {
				out = append(out, rs[i].ID)
			}
		}
	}
	return out, nil
}

func (rl RateLimit) interval() time.Duration { return rl.Per / time.Duration(rl.Refill) }

// PlanRevocations returns, for deadlines in ascending order, the latest time
// each revocation may start so that all finish by their deadlines when Atlas
// admits one call per refill interval. Working back from the last deadline,
// each start is at most its deadline and at least one interval before the
// next start. (This ignores the bucket's initial burst, which only makes the
// plan start a little earlier than strictly needed.)
func PlanRevocations(deadlines []time.Time, rl RateLimit) []time.Time {
	if !sort.SliceIsSorted(deadlines, func(i, j int) bool { return deadlines[i].Before(deadlines[j]) }) {
		panic("flows: PlanRevocations needs deadlines in ascending order")
	}
	starts := make([]time.Time, len(deadlines))
	step := rl.interval()
	for i := len(deadlines) - 1; i >= 0; i-- {
		starts[i] = deadlines[i]
		if i+1 < len(deadlines) {
			if bound := starts[i+1].Add(-step); bound.Before(starts[i]) {
				starts[i] = bound
			}
		}
	}
	return starts
}

// Resume finishes what a crash interrupted: requests left approved,
// provisioning or revoking. It takes over the leases a dead process left
// (those taken before this service started), and leaves alone the ones
// this process's sweeps hold, so it may run while the sweeps go on.
// Revocations go first: each is one quick delete, while a provisioning may
// wait long for Atlas to apply it, and access must not outlive its end
// because of that wait (nor, if the process keeps crashing, for ever).
func (s *Service) Resume(ctx context.Context) (int, error) {
	rs, err := s.store.Find(ctx, Query{States: []State{StateApproved, StateProvisioning, StateRevoking, StateRevokeFailed}})
	if err != nil {
		return 0, fmt.Errorf("flows: resume: %w", err)
	}
	revoking := func(r *Request) bool { return r.State == StateRevoking || r.State == StateRevokeFailed }
	for _, r := range rs {
		if revoking(r) {
			s.log.InfoContext(ctx, "resuming", "request_id", r.ID, "state", string(r.State))
			s.revoke(ctx, r.ID, takeDeadLease)
		}
	}
	for _, r := range rs {
		if !revoking(r) {
			s.log.InfoContext(ctx, "resuming", "request_id", r.ID, "state", string(r.State))
			s.provision(ctx, r.ID, takeDeadLease)
		}
	}
	return len(rs), nil
}

// ReconcileReport says what a reconcile found in one integration.
type ReconcileReport struct {
	Integration    string
	Users          int      // jitbot-managed users in Atlas
	OrphansDeleted []string // usernames with no live grant, deleted
	Missing        []string // request ids of active grants whose user is gone
	Errors         []string
}

// Reconcile compares Atlas with the store. Users labelled as jitbot's that
// belong to no request holding access are deleted and reported; active
// grants whose user has disappeared are reported.
func (s *Service) Reconcile(ctx context.Context) ([]ReconcileReport, error) {
	if s.inv == nil {
		return nil, fmt.Errorf("flows: reconcile: no inventory configured")
	}
	active, err := s.store.Find(ctx, Query{States: []State{StateActive}})
	if err != nil {
		return nil, fmt.Errorf("flows: reconcile: %w", err)
	}
	var reports []ReconcileReport
	for _, in := range s.policy.integrations {
		rep := ReconcileReport{Integration: in.Name}
		listedAt := s.clock.Now()
		users, err := s.inv.ManagedUsers(ctx, in.Name)
		if err != nil {
			rep.Errors = append(rep.Errors, ErrorMessage(err))
			s.log.WarnContext(ctx, "reconcile: could not list users", "integration", in.Name, "err", err)
			reports = append(reports, rep)
			continue
		}
		rep.Users = len(users)
		present := map[string]bool{}
		for _, u := range users {
			present[u.Username] = true
			r, err := s.store.Get(ctx, u.RequestID)
			if err != nil && ErrorCode(err) != ENOTFOUND {
				rep.Errors = append(rep.Errors, ErrorMessage(err))
				continue
			}
			if r != nil && r.State.HoldsAccess() && r.Username == u.Username {
				continue
			}
			if r != nil && r.EndedAt.After(listedAt) {
				continue // it ended after the listing: its own revocation removed the user
			}
			s.deleteOrphan(ctx, in.Name, u, r, &rep)
		}
		for _, r := range active {
			if r.Resource.Integration == in.Name && !present[r.Username] {
				rep.Missing = append(rep.Missing, r.ID)
				ev := Event{Type: EventGrantMissing, RequestID: r.ID, Actor: SystemActor, At: s.clock.Now(), From: r.State, To: r.State, Username: r.Username,
					Message: "the Atlas user of this active grant is gone"}
				if err := s.store.AppendEvents(ctx, ev); err != nil {
					rep.Errors = append(rep.Errors, err.Error())
				}
				s.announce(ctx, ev, r, nil)
			}
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func (s *Service) deleteOrphan(ctx context.Context, integration string, u ManagedUser, r *Request, rep *ReconcileReport) {
	g := Grant{RequestID: u.RequestID, Integration: integration, Username: u.Username}
	if r != nil {
		g = s.grant(r)
		g.Username = u.Username
	}
	if err := s.prov.Delete(ctx, g); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("delete %s: %s", u.Username, ErrorMessage(err)))
		s.log.WarnContext(ctx, "reconcile: could not delete an orphan", "username", u.Username, "err", err)
		return
	}
	rep.OrphansDeleted = append(rep.OrphansDeleted, u.Username)
	why := "no request holds this user"
	if r != nil {
		why = "its request is " + string(r.State)
	}
	ev := Event{Type: EventOrphanDeleted, RequestID: u.RequestID, Actor: SystemActor, At: s.clock.Now(), Username: u.Username,
		Message: "deleted an Atlas user labelled managed-by=jitbot: " + why}
	if r != nil {
		ev.From, ev.To = r.State, r.State
	}
	if err := s.store.AppendEvents(ctx, ev); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	s.log.WarnContext(ctx, "reconcile: deleted an orphaned user", "integration", integration, "username", u.Username, "request_id", u.RequestID)
	s.announce(ctx, ev, r, nil)
}

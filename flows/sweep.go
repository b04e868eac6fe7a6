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
	Nudged       int           // reminders of approvers and escalations of pending requests (escalate.go)
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

	// Read what is due and plan it. The transitions that need no Atlas call
	// before them (time-outs, reminders, the start of a revocation with its
	// claim, the claim of a retry) are then committed together: one commit
	// for all of them rather than one or two per item (DESIGN §8: a sweep
	// of 100 due grants costs at most 10 fsyncs).
	plans := make(map[RequestID]duePlan, len(ids))
	var batch []RequestID
	var jobs []func()      // provisioning attempts and backstop moves: one Atlas call each, on the workers
	var tickets []*Request // active grants whose ticket is due a look (tickets.go)
	for i, r := range s.readDue(ctx, ids) {
		id := ids[i]
		if r == nil {
			continue
		}
		provisioning := r.State == StateApproved || r.State == StateProvisioning
		if provisioning && work&SweepProvisioning == 0 || !provisioning && work&SweepEnds == 0 {
			continue
		}
		if due := r.DueAt(); !due.IsZero() && now.After(due) {
			rep.MaxLag = max(rep.MaxLag, now.Sub(due))
		}
		p := duePlan{expiresAt: r.ExpiresAt, early: earlySet[id]}
		switch r.State {
		case StatePending:
			p.timeOut = !now.Before(r.PendingUntil)
			p.nudge = !p.timeOut && r.NudgeDue(now)
		case StateApproved, StateProvisioning:
			if !now.Before(r.NextAttemptAt) {
				rep.Provisioned++
				jobs = append(jobs, func() { s.provision(ctx, id, respectLease) })
			}
		case StateRevoking, StateRevokeFailed:
			if !now.Before(r.NextAttemptAt) {
				rep.Revocations++
				p.retry = true
			}
		case StateActive:
			p.remind = !r.RemindAt.IsZero() && !now.Before(r.RemindAt) && now.Before(r.ExpiresAt)
			p.end = now.Add(s.cfg.SweepInterval).After(r.ExpiresAt) || p.early
			if !p.end && !r.BackstopRefreshAt.IsZero() && !now.Before(r.BackstopRefreshAt) {
				rep.Backstops++
				jobs = append(jobs, func() { s.moveBackstop(ctx, r) })
			}
			if !p.end && !r.TicketCheckAt.IsZero() && !now.Before(r.TicketCheckAt) {
				tickets = append(tickets, r)
			}
		}
		p.review = r.ReviewNudgeDue(now) // a break-glass review, whatever the grant's state (breakglass.go)
		if p.timeOut || p.nudge || p.retry || p.remind || p.end || p.review {
			plans[id] = p
			batch = append(batch, id)
		}
	}
	claimed := s.commitDue(ctx, now, batch, plans, &rep)
	if len(tickets) > 0 {
		// One job for the batch: each ticket read once, one commit.
		jobs = append(jobs, func() { s.ticketChecks(ctx, now, tickets) })
	}

	// The Atlas side, on a fixed number of workers; the outcomes of the
	// deletes are committed in a few batches as they come back.
	outcomes := make(chan revokeOutcome, len(claimed)) // a worker never waits for a commit
	queue := make(chan func())
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max(1, len(jobs)+len(claimed))) {
		wg.Go(func() {
			for job := range queue {
				job()
			}
		})
	}
	go func() {
		// Revocations first: an expiry never waits behind a provisioning attempt.
		for _, r := range claimed {
			queue <- func() { outcomes <- s.deleteClaimed(ctx, r) }
		}
		for _, job := range jobs {
			queue <- job
		}
		close(queue)
	}()
	s.commitOutcomes(ctx, outcomes, len(claimed))
	wg.Wait()
	return rep, nil
}

// duePlan is what a sweep means to do with one due request, decided on a
// read and done in a transaction that checks it again.
type duePlan struct {
	timeOut bool // a pending request nobody decided on
	nudge   bool // a pending request's reminder of its approvers, or its escalation
	remind  bool // an active grant's reminder
	end     bool // an active grant to revoke (its expiry is before the next sweep, or planned early)
	early   bool // planned early, to finish within Atlas's rate limit
	retry   bool // a revocation to try again
	review  bool // a break-glass review's reminder, tier or overdue notice
	// expiresAt is the grant's expiry as read, for the report.
	expiresAt time.Time
}

// dueResult is what the sweep's transaction did to one request.
type dueResult struct {
	notices []Notice // events to announce, each with the request as it left it
	claimed bool     // a revocation claimed: the worker deletes the grant
}

// commitDue applies the planned transitions in one UpdateMany (one commit)
// and announces them. It returns the revocations it claimed: their intent
// (revoking, with a lease) is committed before any Atlas delete, so a crash
// leaves them for Resume or the next sweep.
func (s *Service) commitDue(ctx context.Context, now time.Time, ids []RequestID, plans map[RequestID]duePlan, rep *SweepReport) []*Request {
	if len(ids) == 0 {
		return nil
	}
	results := make(map[RequestID]*dueResult, len(ids))
	updated, errs, err := s.store.UpdateMany(ctx, ids, func(r *Request) ([]Event, error) {
		// The store may run this more than once: the result starts afresh.
		res := &dueResult{}
		results[r.ID] = res
		p := plans[r.ID]
		clock := s.clock.Now()
		var evs []Event
		if p.review && r.ReviewNudgeDue(now) {
			nudges, err := r.NudgeReview(now)
			if err != nil {
				return nil, err
			}
			for _, ev := range nudges {
				evs = append(evs, ev)
				res.notices = append(res.notices, Notice{Event: ev, Request: r.Clone()})
			}
		}
		switch {
		case p.timeOut:
			ev, err := r.TimeOut(now)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
			res.notices = append(res.notices, Notice{Event: ev, Request: r.Clone()})
		case p.nudge:
			nudges, err := r.Nudge(now)
			if err != nil {
				return nil, err
			}
			for _, ev := range nudges {
				evs = append(evs, ev)
				res.notices = append(res.notices, Notice{Event: ev, Request: r.Clone()})
			}
		case p.retry:
			if err := r.ClaimRevocation(clock, clock.Add(s.cfg.RevokeLease)); err != nil {
				return nil, err
			}
			res.claimed = true
		default:
			if p.remind {
				// A reminder stands even if the revocation below is refused.
				if ev, err := r.Remind(now); err == nil {
					evs = append(evs, ev)
					res.notices = append(res.notices, Notice{Event: ev, Request: r.Clone()})
				}
			}
			if p.end {
				reason := "expired"
				if now.Before(r.ExpiresAt) {
					reason = fmt.Sprintf("expired (revoked %s early to finish within Atlas's rate limit)", FormatDuration(r.ExpiresAt.Sub(now)))
				}
				if ev, err := r.StartRevoking(clock, SystemActor, StateExpired, reason); err == nil {
					evs = append(evs, ev)
					res.notices = append(res.notices, Notice{Event: ev, Request: r.Clone()})
					// Claimed in the same transaction: the intent and the
					// lease are one commit, the delete comes after it.
					res.claimed = r.ClaimRevocation(clock, clock.Add(s.cfg.RevokeLease)) == nil
				}
			}
			if len(evs) == 0 {
				return nil, Errorf(ECONFLICT, "nothing is due for request %s any more", r.ID)
			}
		}
		return evs, nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "sweep: could not record the due transitions", "requests", len(ids), "err", err)
		return nil
	}
	var claimed []*Request
	for i, id := range ids {
		if errs[i] != nil {
			if ErrorCode(errs[i]) != ECONFLICT {
				s.log.ErrorContext(ctx, "could not record a transition", "request_id", id, "err", errs[i])
			}
			continue
		}
		res, p := results[id], plans[id]
		for _, n := range res.notices {
			s.announce(ctx, n.Event, n.Request)
			switch n.Event.Type {
			case EventTimedOut:
				rep.TimedOut++
			case EventReminder:
				rep.Reminded++
			case EventApproversReminded, EventEscalated, EventReviewReminded, EventReviewEscalated, EventReviewOverdue:
				rep.Nudged++
			default: // the start of a revocation
				rep.Revocations++
				if p.early && now.Before(p.expiresAt) {
					rep.EarlyRevokes++
				}
			}
		}
		if res.claimed {
			claimed = append(claimed, updated[i])
		}
	}
	return claimed
}

// revokeOutcome is how one claimed revocation's delete went.
type revokeOutcome struct {
	id   RequestID
	err  error  // the delete failed: retry with backoff
	skip bool   // the lease ran out before the delete began: left to whoever takes it over
	note string // for the audit record: other live grants kept the shared target
}

// deleteClaimed deletes the grant of a revocation the sweep claimed.
func (s *Service) deleteClaimed(ctx context.Context, r *Request) revokeOutcome {
	// The principal is recorded before any create, so without one (revoked
	// before provisioning began) there is nothing in Atlas to delete.
	if r.Principal == "" {
		return revokeOutcome{id: r.ID}
	}
	if !s.clock.Now().Before(r.NextAttemptAt) {
		// Queued behind other deletes past its lease: another sweep may have
		// taken it over, and one delete at a time is the rule.
		return revokeOutcome{id: r.ID, skip: true}
	}
	note, err := s.deleteNoting(ctx, r)
	if err != nil {
		s.log.WarnContext(ctx, "revocation failed", "request_id", r.ID, "principal", r.Principal, "attempt", r.Attempts, "err", err)
	}
	return revokeOutcome{id: r.ID, err: err, note: note}
}

// outcomeCommits bounds the commits a sweep spends on the outcomes of its
// deletes: they are recorded in batches of a third of the sweep's
// revocations, so with the commit of the intents a sweep costs at most 4
// commits, 8 fsyncs (DESIGN §8: at most 10). An outcome may therefore wait
// for a third of the deletes before it is recorded and announced; Atlas is done by then, and a crash in
// between repeats an idempotent delete (404 is done).
const outcomeCommits = 3

// commitOutcomes records the outcomes of n deletes as they come back, in
// at most outcomeCommits commits.
func (s *Service) commitOutcomes(ctx context.Context, outcomes <-chan revokeOutcome, n int) {
	size := (n + outcomeCommits - 1) / outcomeCommits
	byID := make(map[RequestID]revokeOutcome, size)
	var ids []RequestID
	for got := 0; got < n; got++ {
		o := <-outcomes
		if !o.skip {
			byID[o.id] = o
			ids = append(ids, o.id)
		}
		if len(ids) > 0 && (len(ids) >= size || got == n-1) {
			s.recordOutcomes(ctx, ids, byID)
			ids = nil
			clear(byID)
		}
	}
}

// recordOutcomes commits the end (or the retry) of each revocation in ids
// in one UpdateMany and announces it.
func (s *Service) recordOutcomes(ctx context.Context, ids []RequestID, byID map[RequestID]revokeOutcome) {
	events := make(map[RequestID]Event, len(ids))
	updated, errs, err := s.store.UpdateMany(ctx, ids, func(r *Request) ([]Event, error) {
		now := s.clock.Now()
		var ev Event
		var err error
		if o := byID[r.ID]; o.err != nil {
			ev, err = r.RetryRevocation(now, now.Add(s.backoff(r.Attempts)), ErrorMessage(o.err), s.cfg.RevokeAlertAfter)
		} else {
			ev, err = r.FinishRevocation(now)
			ev = withNote(ev, o.note)
		}
		if err != nil {
			return nil, err
		}
		events[r.ID] = ev
		return []Event{ev}, nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "sweep: could not record the outcomes of revocations", "requests", len(ids), "err", err)
		return
	}
	for i, id := range ids {
		if errs[i] != nil {
			if ErrorCode(errs[i]) != ECONFLICT {
				s.log.ErrorContext(ctx, "could not record a transition", "request_id", id, "err", errs[i])
			}
			continue
		}
		s.announce(ctx, events[id], updated[i])
	}
}

// ManyGetter is a Store that reads many requests in a few round trips
// rather than one each (etcd): the sweep reads what is due through it.
type ManyGetter interface {
	// GetMany returns the requests named, in order, nil for one not
	// stored.
	GetMany(ctx context.Context, ids []RequestID) ([]*Request, error)
}

// GetManyByID reads the requests ids names with one GetMany when st has
// it (a ManyGetter), by id, nil for one not stored; nothing (nil, nil)
// when st cannot, and the caller reads each alone.
func GetManyByID(ctx context.Context, st any, ids []RequestID) (map[RequestID]*Request, error) {
	mg, ok := st.(ManyGetter)
	if !ok || len(ids) < 2 {
		return nil, nil
	}
	rs, err := mg.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[RequestID]*Request, len(ids))
	for i, id := range ids {
		byID[id] = rs[i]
	}
	return byID, nil
}

// dueReaders bounds the reads of due requests a sweep has under way at
// once.
const dueReaders = 16

// readDue reads the due requests, several at a time: on etcd each read is
// a round trip, and a sweep of a thousand due grants read one after another
// took longer than the sweep interval on a loaded cluster. A request that
// cannot be read is logged and left nil (the next sweep finds it again).
func (s *Service) readDue(ctx context.Context, ids []RequestID) []*Request {
	if mg, ok := s.store.(ManyGetter); ok && len(ids) > 1 {
		rs, err := mg.GetMany(ctx, ids)
		if err == nil {
			return rs
		}
		if ctx.Err() != nil {
			// The sweep was called off (a leader deposed): one at a time
			// would fail each the same way.
			s.log.WarnContext(ctx, "sweep: called off while reading the due requests", "requests", len(ids), "err", err)
			return make([]*Request, len(ids))
		}
		s.log.WarnContext(ctx, "sweep: could not read the due requests together; reading them one at a time", "requests", len(ids), "err", err)
	}
	out := make([]*Request, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(dueReaders, len(ids)) {
		wg.Go(func() {
			for i := range next {
				r, err := s.store.Get(ctx, ids[i])
				if err != nil {
					s.log.ErrorContext(ctx, "sweep: could not read a due request", "request_id", ids[i], "err", err)
					continue
				}
				out[i] = r
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

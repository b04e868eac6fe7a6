package atlas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Atlas applies database user changes in the background and says so through
// each cluster's change status: PENDING while it works (new users cannot log
// in yet), then APPLIED. Credentials go out only once it says APPLIED.
//
// Everyone waiting on one cluster shares a watcher: one goroutine that polls
// that cluster's status, one poll in flight at a time, and only while
// somebody waits. A wait counts a poll only if the poll started after the
// wait began, that is after the caller's own Atlas write returned: a poll
// sent earlier may have reached Atlas before the write and read an APPLIED
// that says nothing about it. Each wait asks for polls on its own schedule
// (Config.ApplyPoll), counted from when it began; the watcher polls when the
// first of them asks, and each poll answers every wait that began before it
// started. So ten grants approved together cost what one costs, and each
// sees APPLIED as soon as it would alone.

// watchKey names one cluster of one project of one integration (an
// organization-wide integration has many projects, whose clusters may share
// names).
type watchKey struct{ integration, project, cluster string }

// pollFunc reads one cluster's change status: true when APPLIED.
type pollFunc func(ctx context.Context, pr *project, cluster string) (applied bool, err error)

// schedule says when a wait wants its polls; see Config.ApplyPoll.
type schedule struct {
	first, poll, fastFor, max, timeout time.Duration
}

// next returns when a wait that began at since wants its next poll, after
// the one that started at at read PENDING: ApplyPoll later, and no sooner
// than ApplyFirstPoll after it began; once it is ApplyFastFor old, a gap in
// proportion to the time waited (so APPLIED is noticed late by a bounded
// share of the wait), at most ApplyPollMax.
func (s schedule) next(since, at time.Time) time.Time {
	gap := s.poll
	if waited := at.Sub(since); waited > s.fastFor {
		// In floating point: ApplyPoll × waited overflows int64 nanoseconds.
		gap = time.Duration(float64(s.poll) * float64(waited) / float64(s.fastFor))
	}
	next := at.Add(min(gap, s.max))
	if first := since.Add(s.first); first.After(next) {
		return first
	}
	return next
}

// watchers runs the change-status watchers of a Provisioner.
type watchers struct {
	poll  pollFunc
	clock flows.Clock
	sleep func(context.Context, time.Duration) error
	sched schedule
	log   *slog.Logger

	// ctx ends at close; the polls run on it, not on any caller's context,
	// so that one caller giving up does not cut a poll others wait for.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[watchKey]*watcher
	closed bool
	// blocked counts the waits without their answer yet.
	blocked                   int
	applied, timedOut, failed int64
}

// watcher polls one cluster for the waits registered on it.
type watcher struct {
	key     watchKey
	pr      *project
	waiters map[*waiter]struct{}
	// started counts the polls started; a waiter counts only those numbered
	// above the count when it registered.
	started uint64
	// virtual is where the sleeps have brought the watcher's time: a test's
	// frozen fake clock does not move while a fake sleep returns at once,
	// and the schedule must still move on.
	virtual time.Time
	// wake ends the current sleep early (a new waiter wants a sooner poll, or
	// the last one left); nil while not sleeping.
	wake   context.CancelFunc
	wakeAt time.Time
}

// waiter is one wait on one cluster.
type waiter struct {
	w        *watcher
	call     *waitCall
	after    uint64    // the watcher's started count at registration
	since    time.Time // when it registered, on the watcher's time
	due      time.Time // when it wants the next poll to start
	deadline time.Time // since + ApplyTimeout
	polls    int       // polls that counted for it
}

// waitCall is one call of wait, over all its clusters.
type waitCall struct {
	result chan error // receives the answer once
	left   int        // clusters not yet APPLIED
	over   bool       // the answer is given (or the caller gave up)
}

func newWatchers(poll pollFunc, clock flows.Clock, sleep func(context.Context, time.Duration) error, sched schedule, log *slog.Logger) *watchers {
	ctx, cancel := context.WithCancel(context.Background())
	return &watchers{
		poll: poll, clock: clock, sleep: sleep, sched: sched, log: log,
		ctx: ctx, cancel: cancel, active: map[watchKey]*watcher{},
	}
}

// close stops every watcher, failing the waits still open, and returns once
// their goroutines are gone.
func (ws *watchers) close() {
	ws.mu.Lock()
	ws.closed = true
	ws.mu.Unlock()
	ws.cancel()
	ws.wg.Wait()
}

// WatchStats describes the change-status watchers, for metrics. The polls
// themselves are counted in Stats.Calls["getClusterStatus"].
type WatchStats struct {
	// Watchers is the number of clusters being polled now.
	Watchers int
	// Waiting is the number of waits (a grant's, or a rotation's) not yet answered.
	Waiting int
	// Applied, TimedOut and Failed count the answers given: APPLIED on
	// every cluster, flows.ErrNotApplied after ApplyTimeout, or an error
	// Atlas gave (including a caller giving up).
	Applied, TimedOut, Failed int64
}

// WatchStats returns the watchers' gauges and counters.
func (p *Provisioner) WatchStats() WatchStats {
	ws := p.watch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return WatchStats{Watchers: len(ws.active), Waiting: ws.blocked, Applied: ws.applied, TimedOut: ws.timedOut, Failed: ws.failed}
}

// pollStatus is the watchers' pollFunc: one GetClusterStatus call.
func (p *Provisioner) pollStatus(ctx context.Context, pr *project, cluster string) (bool, error) {
	var status string
	err := p.do(ctx, pr, "getClusterStatus", func(ctx context.Context) (*http.Response, error) {
		s, resp, err := pr.api.ClustersApi.GetClusterStatus(ctx, pr.ProjectID, cluster).Execute()
		status = s.GetChangeStatus()
		return resp, err
	})
	if _, code := failure(err); code == "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API" {
		// A Flex cluster has no change status to poll: Atlas applies a user
		// change to it without one.
		return true, nil
	}
	if err != nil {
		return false, clusterError(err, pr, cluster)
	}
	return status == statusApplied, nil
}

// wait returns once a poll that started after the call began has read
// APPLIED on every one of clusters. The caller's Atlas write must have
// returned before it calls. It gives up with flows.ErrNotApplied when a
// cluster is still PENDING ApplyTimeout after the call, with the error Atlas
// gave when a poll fails for good (an unknown cluster, lost rights), and
// with an EUNAVAILABLE error when ctx ends or the Provisioner closes. A poll
// that fails for a while (Atlas unavailable after the transport's retries)
// counts as PENDING.
func (ws *watchers) wait(ctx context.Context, pr *project, clusters ...string) error {
	clusters = slices.Compact(slices.Sorted(slices.Values(clusters)))
	if len(clusters) == 0 {
		return flows.Errorf(flows.EINTERNAL, "no cluster to wait for in integration %s", pr.Name)
	}
	if err := ctx.Err(); err != nil {
		return flows.WrapError(flows.EUNAVAILABLE, err, "stopped waiting for Atlas to apply the change")
	}
	call := &waitCall{result: make(chan error, 1), left: len(clusters)}
	regs := make([]*waiter, len(clusters))
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		return flows.Errorf(flows.EUNAVAILABLE, "stopped waiting for Atlas to apply the change: jitbot is shutting down")
	}
	ws.blocked++
	for i, cluster := range clusters {
		regs[i] = ws.registerLocked(pr, cluster, call)
	}
	ws.mu.Unlock()

	var err error
	select {
	case err = <-call.result:
	case <-ctx.Done():
		err = flows.WrapError(flows.EUNAVAILABLE, ctx.Err(), "stopped waiting for Atlas to apply the change")
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !call.over { // the caller gave up
		call.over = true
		ws.blocked--
		ws.failed++
	}
	// Whatever the answer, none of its registrations waits any longer
	// (another cluster may still be PENDING after one failed).
	for _, wt := range regs {
		ws.unregisterLocked(wt)
	}
	return err
}

// registerLocked adds a waiter on cluster, starting its watcher if none runs.
func (ws *watchers) registerLocked(pr *project, cluster string, call *waitCall) *waiter {
	key := watchKey{pr.Name, pr.ProjectID, cluster}
	w := ws.active[key]
	fresh := w == nil
	if fresh {
		w = &watcher{key: key, pr: pr, waiters: map[*waiter]struct{}{}}
		ws.active[key] = w
		ws.wg.Add(1)
		go ws.run(w)
	}
	now := w.now(ws.clock)
	wt := &waiter{w: w, call: call, after: w.started, since: now, deadline: now.Add(ws.sched.timeout)}
	// A cluster nobody was watching is polled at once: a change Atlas has
	// applied already costs no wait, and the call is one per watcher. A
	// wait joining a watcher takes the polls it gets, the next of which
	// starts after it began, and asks for one ApplyFirstPoll in.
	wt.due = now
	if !fresh {
		wt.due = earlier(now.Add(ws.sched.first), wt.deadline)
	}
	w.waiters[wt] = struct{}{}
	if w.wake != nil && wt.due.Before(w.wakeAt) {
		w.wake()
	}
	return wt
}

// unregisterLocked removes wt from its watcher if it is still there, and
// wakes a watcher left with nobody so that it stops at once.
func (ws *watchers) unregisterLocked(wt *waiter) {
	w := wt.w
	if _, ok := w.waiters[wt]; !ok {
		return
	}
	delete(w.waiters, wt)
	if len(w.waiters) == 0 && w.wake != nil {
		w.wake()
	}
}

// now is the watcher's time: the clock's, or where its sleeps have brought
// it if that is later.
func (w *watcher) now(clock flows.Clock) time.Time {
	now := clock.Now()
	if w.virtual.After(now) {
		return w.virtual
	}
	return now
}

// run is a watcher's goroutine: sleep until some waiter wants a poll, poll,
// hand out the answer, until nobody waits.
func (ws *watchers) run(w *watcher) {
	defer ws.wg.Done()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for {
		if err := ws.ctx.Err(); err != nil {
			for wt := range w.waiters {
				ws.finishLocked(w, wt, flows.WrapError(flows.EUNAVAILABLE, err,
					"stopped waiting for Atlas to apply the change: jitbot is shutting down"))
			}
		}
		if len(w.waiters) == 0 {
			delete(ws.active, w.key)
			return
		}
		now := w.now(ws.clock)
		next := w.nextPoll()
		if d := next.Sub(now); d > 0 {
			ctx, cancel := context.WithCancel(ws.ctx)
			w.wake, w.wakeAt = cancel, next
			ws.mu.Unlock()
			err := ws.sleep(ctx, d)
			cancel()
			ws.mu.Lock()
			w.wake = nil
			if err == nil && now.Add(d).After(w.virtual) {
				w.virtual = now.Add(d)
			}
			continue
		}
		w.started++
		seq := w.started
		ws.mu.Unlock()
		applied, err := ws.poll(ws.ctx, w.pr, w.key.cluster)
		ws.mu.Lock()
		ws.settleLocked(w, seq, now, applied, err)
	}
}

// nextPoll is the earliest time a waiter wants a poll.
func (w *watcher) nextPoll() time.Time {
	var next time.Time
	for wt := range w.waiters {
		if next.IsZero() || wt.due.Before(next) {
			next = wt.due
		}
	}
	return next
}

// settleLocked hands the outcome of poll number seq, started at at, to the
// waiters it counts for.
func (ws *watchers) settleLocked(w *watcher, seq uint64, at time.Time, applied bool, err error) {
	// EUNAVAILABLE is Atlas failing for now (the transport has retried
	// already): the next poll may get through. Anything else will repeat.
	lasting := err != nil && flows.ErrorCode(err) != flows.EUNAVAILABLE
	if err != nil && !lasting && ws.ctx.Err() == nil {
		ws.log.Warn("atlas change status unavailable; polling on", "integration", w.key.integration,
			"cluster", w.key.cluster, "err", err)
	}
	for wt := range w.waiters {
		if wt.after >= seq {
			continue // registered while this poll was in flight
		}
		wt.polls++
		switch {
		case applied:
			ws.log.Debug("atlas change applied", "integration", w.key.integration, "cluster", w.key.cluster,
				"polls", wt.polls, "waited", at.Sub(wt.since))
			ws.finishLocked(w, wt, nil)
		case lasting:
			ws.finishLocked(w, wt, err)
		case !at.Before(wt.deadline):
			ws.log.Warn("atlas change not applied in time", "integration", w.key.integration,
				"cluster", w.key.cluster, "polls", wt.polls, "waited", ws.sched.timeout)
			ws.finishLocked(w, wt, fmt.Errorf("cluster %q still PENDING after %s and %d polls: %w",
				w.key.cluster, ws.sched.timeout, wt.polls, flows.ErrNotApplied))
		default:
			wt.due = earlier(ws.sched.next(wt.since, at), wt.deadline)
		}
	}
}

// finishLocked removes wt and gives its call the answer once it has one:
// the first error, or APPLIED on its last cluster.
func (ws *watchers) finishLocked(w *watcher, wt *waiter, err error) {
	delete(w.waiters, wt)
	c := wt.call
	if c.over {
		return
	}
	if err == nil {
		if c.left--; c.left > 0 {
			return
		}
	}
	c.over = true
	ws.blocked--
	switch {
	case err == nil:
		ws.applied++
	case errors.Is(err, flows.ErrNotApplied):
		ws.timedOut++
	default:
		ws.failed++
	}
	c.result <- err
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

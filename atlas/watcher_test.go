package atlas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// The watcher tests run on simulated time: a discrete-event clock that
// moves only when every watcher is asleep and every wait the test started
// is blocked, straight to the earliest wake-up asked for. Atlas answers in
// zero simulated time, so "noticed" is the simulated time a wait returned.

// fakeTime is the Provisioner's Sleep and the clock the simulator and the
// Provisioner share.
type fakeTime struct {
	t     testing.TB
	clock *flowstest.Clock
	ws    *watchers

	mu       sync.Mutex
	sleepers []*sleeper
	// pending counts the waits started by start and not yet returned.
	pending atomic.Int64
}

type sleeper struct {
	ctx context.Context
	at  time.Time
	ch  chan struct{}
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	s := &sleeper{ctx: ctx, at: f.clock.Now().Add(d), ch: make(chan struct{})}
	f.mu.Lock()
	f.sleepers = append(f.sleepers, s)
	f.mu.Unlock()
	select {
	case <-s.ch:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		f.sleepers = slices.DeleteFunc(f.sleepers, func(x *sleeper) bool { return x == s })
		f.mu.Unlock()
		return ctx.Err()
	}
}

// asleep returns the sleepers still waiting for their time (a cancelled
// one is on its way out).
func (f *fakeTime) asleep() []*sleeper {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sleeper
	for _, s := range f.sleepers {
		if s.ctx.Err() == nil {
			out = append(out, s)
		}
	}
	return out
}

// settled says nothing happens until the clock moves: every watcher asleep,
// every wait the test started blocked or reported.
func (f *fakeTime) settled() bool {
	f.ws.mu.Lock()
	running, blocked := len(f.ws.active), f.ws.blocked
	f.ws.mu.Unlock()
	return len(f.asleep()) == running && int64(blocked) == f.pending.Load()
}

// settle waits (in real time, briefly) until settled.
func (f *fakeTime) settle() {
	f.t.Helper()
	waitFor(f.t, "the watchers to settle", f.settled)
}

// waitFor spins until cond holds; it fails the test after 10 real seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !cond(); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// step moves the clock to the earliest wake-up and releases the sleepers due
// then. It reports false when nobody sleeps.
func (f *fakeTime) step() bool {
	f.t.Helper()
	f.settle()
	due := f.asleep()
	if len(due) == 0 {
		return false
	}
	at := due[0].at
	for _, s := range due {
		if s.at.Before(at) {
			at = s.at
		}
	}
	if at.After(f.clock.Now()) {
		f.clock.Set(at)
	}
	f.mu.Lock()
	f.sleepers = slices.DeleteFunc(f.sleepers, func(s *sleeper) bool {
		if s.ctx.Err() == nil && !s.at.After(at) {
			close(s.ch)
			return true
		}
		return false
	})
	f.mu.Unlock()
	return true
}

// runUntil steps until done holds.
func (f *fakeTime) runUntil(done func() bool) {
	f.t.Helper()
	for range 100_000 {
		f.settle()
		if done() {
			return
		}
		if !f.step() {
			f.t.Fatalf("at %s nobody sleeps and the test still waits", f.clock.Now().Sub(t0))
		}
	}
	f.t.Fatal("too many steps")
}

// advance moves the clock by d, waking the sleepers due on the way in order.
func (f *fakeTime) advance(d time.Duration) {
	f.t.Helper()
	end := f.clock.Now().Add(d)
	for {
		f.settle()
		due := f.asleep()
		if !slices.ContainsFunc(due, func(s *sleeper) bool { return !s.at.After(end) }) {
			break
		}
		f.step()
	}
	if end.After(f.clock.Now()) {
		f.clock.Set(end)
	}
}

// started is a wait (or a rotation) running in its own goroutine.
type started struct {
	done chan struct{}
	err  error
	at   time.Time // simulated time it returned
}

// start runs fn in a goroutine the clock waits for.
func (f *fakeTime) start(fn func() error) *started {
	f.pending.Add(1)
	s := &started{done: make(chan struct{})}
	go func() {
		defer f.pending.Add(-1)
		err := fn()
		s.err, s.at = err, f.clock.Now()
		close(s.done)
	}()
	return s
}

func (s *started) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func allFinished(ss ...*started) func() bool {
	return func() bool {
		for _, s := range ss {
			if !s.finished() {
				return false
			}
		}
		return true
	}
}

// statusHook sits under authentication and retries (so it sees every HTTP
// request, Digest challenges included) and watches the change-status polls.
type statusHook struct {
	next  http.RoundTripper
	clock *flowstest.Clock

	mu          sync.Mutex
	inFlight    map[string]int
	maxInFlight map[string]int
	polls       []statusPoll
	// forcePending makes a cluster read PENDING whatever the simulator says
	// (the simulator's status is per project).
	forcePending map[string]bool
	// hold, when set, runs after Atlas answered a poll and before the answer
	// is handed back.
	hold func(req *http.Request, cluster string)
	// took is how long each poll takes on the simulated clock.
	took time.Duration
}

type statusPoll struct {
	cluster string
	at      time.Time // simulated time Atlas answered
	status  string
}

func newStatusHook() *statusHook {
	return &statusHook{
		next:     http.DefaultTransport.(*http.Transport).Clone(),
		inFlight: map[string]int{}, maxInFlight: map[string]int{}, forcePending: map[string]bool{},
	}
}

func (h *statusHook) CloseIdleConnections() {
	h.next.(*http.Transport).CloseIdleConnections()
}

func (h *statusHook) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := strings.CutSuffix(req.URL.Path, "/status")
	if !ok || !strings.Contains(rest, "/clusters/") {
		return h.next.RoundTrip(req)
	}
	cluster := rest[strings.LastIndex(rest, "/")+1:]
	h.mu.Lock()
	h.inFlight[cluster]++
	h.maxInFlight[cluster] = max(h.maxInFlight[cluster], h.inFlight[cluster])
	took, hold := h.took, h.hold
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight[cluster]--
		h.mu.Unlock()
	}()
	if took > 0 {
		h.clock.Advance(took)
	}
	resp, err := h.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.forcePending[cluster] {
		body = bytes.ReplaceAll(body, []byte(`"APPLIED"`), []byte(`"PENDING"`)) // same length
	}
	status := "PENDING"
	if bytes.Contains(body, []byte(`"APPLIED"`)) {
		status = "APPLIED"
	}
	h.polls = append(h.polls, statusPoll{cluster: cluster, at: h.clock.Now(), status: status})
	h.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if hold != nil {
		hold(req, cluster)
	}
	return resp, nil
}

// answered returns the polls Atlas answered on cluster ("" for all).
func (h *statusHook) answered(cluster string) []statusPoll {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []statusPoll
	for _, p := range h.polls {
		if cluster == "" || p.cluster == cluster {
			out = append(out, p)
		}
	}
	return out
}

// maxFlight is the most polls of cluster that were in flight at once.
func (h *statusHook) maxFlight(cluster string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxInFlight[cluster]
}

func (h *statusHook) setForcePending(cluster string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forcePending[cluster] = on
}

func (h *statusHook) setHold(fn func(req *http.Request, cluster string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = fn
}

// watchEnv is an env on simulated time with its status polls watched.
type watchEnv struct {
	*env
	time *fakeTime
	hook *statusHook
}

func newWatchEnv(t testing.TB, opts ...option) *watchEnv {
	t.Helper()
	f := &fakeTime{t: t}
	hook := newStatusHook()
	base := []option{
		withSim(func(so *atlastest.Options) { f.clock = so.Clock.(*flowstest.Clock); hook.clock = f.clock }),
		withConfig(func(cfg *Config) { cfg.Sleep, cfg.Transport = f.sleep, hook }),
	}
	e := newEnv(t, append(base, opts...)...)
	f.ws = e.prov.watch
	return &watchEnv{env: e, time: f, hook: hook}
}

// statusCalls is the number of getClusterStatus SDK calls the Provisioner made.
func (e *watchEnv) statusCalls() int64 { return e.prov.Stats().Calls["getClusterStatus"] }

// checkCounts checks that the Provisioner's count of status calls is one per
// SDK call: the simulator's count of authenticated calls, and half the HTTP
// requests with Digest (each call is challenged first).
func (e *watchEnv) checkCounts(digest bool) {
	e.t.Helper()
	sdk := e.statusCalls()
	if sim := int64(e.srv.CountCalls("getClusterStatus")); sim != sdk {
		e.t.Errorf("status calls: the Provisioner counts %d, the simulator %d", sdk, sim)
	}
	var requests int64
	for _, c := range e.srv.Calls() {
		if c.OperationID == "getClusterStatus" {
			requests++
		}
	}
	want := sdk
	if digest {
		want = 2 * sdk
	}
	if requests != want {
		e.t.Errorf("status HTTP requests: %d for %d SDK calls (digest %v)", requests, sdk, digest)
	}
}

// grantOn is e.grant on another cluster.
func (e *watchEnv) grantOn(id, cluster string) flows.Grant {
	g := e.grant(id)
	g.Resource.Cluster = cluster
	return g
}

func (e *watchEnv) waitApplied(g flows.Grant) *started {
	return e.time.start(func() error { return e.prov.WaitApplied(e.ctx, g) })
}

// oneGrant creates one grant with Atlas applying after delay, waits for it
// and returns the status calls it took and how long after APPLIED the wait
// returned.
func oneGrant(t *testing.T, delay time.Duration, opts ...option) (calls int64, late time.Duration, e *watchEnv) {
	t.Helper()
	e = newWatchEnv(t, append([]option{withSim(func(so *atlastest.Options) { so.ApplyDelay = delay })}, opts...)...)
	g := e.grant("a7m2x9q4ta")
	e.create(g)
	applied := e.clock.Now().Add(delay)
	w := e.waitApplied(g)
	e.time.runUntil(w.finished)
	if w.err != nil {
		t.Fatalf("WaitApplied: %v", w.err)
	}
	if w.at.Before(applied) {
		t.Fatalf("WaitApplied returned at %s, before Atlas applied at %s", w.at.Sub(t0), delay)
	}
	return e.statusCalls(), w.at.Sub(applied), e
}

// (a) One grant, Atlas applying in about 3s: at most 12 status calls and
// APPLIED noticed within 300ms, wherever in a poll gap it falls.
func TestWatcherOneGrantAbout3s(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			var worstCalls int64
			var worstLate time.Duration
			for delay := 2750 * time.Millisecond; delay <= 3250*time.Millisecond; delay += 50 * time.Millisecond {
				calls, late, e := oneGrant(t, delay, m.opt)
				e.checkCounts(m.name == "digest")
				e.noViolations()
				t.Logf("apply %s: %d status calls, noticed %s after APPLIED", delay, calls, late)
				if calls > 12 || late > 300*time.Millisecond {
					t.Errorf("apply %s: %d status calls (want <= 12), noticed %s late (want <= 300ms)", delay, calls, late)
				}
				worstCalls, worstLate = max(worstCalls, calls), max(worstLate, late)
			}
			t.Logf("apply 2.75s-3.25s: at most %d status calls, at most %s late", worstCalls, worstLate)
		})
	}
}

// (b) Ten grants approved together on one cluster share the polls: at most
// 1.5x one grant's status calls, each grant noticed as quickly, one poll in
// flight at a time.
func TestWatcherTenGrantsShare(t *testing.T) {
	const delay = 3 * time.Second
	one, _, _ := oneGrant(t, delay)
	for _, tt := range []struct {
		name    string
		stagger time.Duration // between one grant's write and the next
	}{{"at once", 0}, {"30ms apart", 30 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = delay }))
			var waits []*started
			for i := range 10 {
				if i > 0 {
					e.time.advance(tt.stagger)
				}
				g := e.grant(fmt.Sprintf("b7m2x9q4%02d", i))
				e.create(g)
				waits = append(waits, e.waitApplied(g))
			}
			applied := e.clock.Now().Add(delay) // the simulator applies the project's last change
			e.time.runUntil(allFinished(waits...))
			var worst time.Duration
			for i, w := range waits {
				if w.err != nil {
					t.Fatalf("grant %d: %v", i, w.err)
				}
				late := w.at.Sub(applied)
				if late < 0 || late > 300*time.Millisecond {
					t.Errorf("grant %d noticed %s after APPLIED, want 0-300ms", i, late)
				}
				worst = max(worst, late)
			}
			calls := e.statusCalls()
			t.Logf("10 grants %s: %d status calls (one grant alone: %d), noticed at most %s after APPLIED", tt.name, calls, one, worst)
			if float64(calls) > 1.5*float64(one) {
				t.Errorf("10 grants cost %d status calls, more than 1.5 x %d", calls, one)
			}
			if n := e.hook.maxFlight("Cluster0"); n != 1 {
				t.Errorf("%d polls of Cluster0 in flight at once, want 1", n)
			}
			e.checkCounts(false)
			if s := e.prov.WatchStats(); s.Applied != 10 || s.Waiting != 0 || s.Watchers != 0 {
				t.Errorf("watch stats: %+v", s)
			}
		})
	}
}

// (c) A poll sent before a grant's write may have read an APPLIED that says
// nothing about it: it satisfies the grants written earlier, not that one.
func TestWatcherIgnoresPollStartedBeforeWrite(t *testing.T) {
	e := newWatchEnv(t) // the simulator applies at once...
	a, b := e.grant("c7m2x9q4ta"), e.grant("c7m2x9q4tb")
	e.create(a)
	held, release := make(chan struct{}), make(chan struct{})
	e.hook.setHold(func(req *http.Request, _ string) {
		e.hook.setHold(nil)
		close(held)
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	wa := e.waitApplied(a)
	<-held // the first poll, at once: Atlas answers APPLIED, the answer is held on its way back

	e.srv.SetApply(time.Second, 0) // ...but takes a second for b
	writeB := e.clock.Now()
	e.create(b)
	wb := e.waitApplied(b)
	waitFor(t, "b's wait to register", func() bool { return e.prov.WatchStats().Waiting == 2 })
	if s := e.srv.ChangeStatus(projectID); s != "PENDING" {
		t.Fatalf("after b's write Atlas says %s", s)
	}
	close(release)

	e.time.runUntil(wa.finished)
	if wa.err != nil || wa.at != t0 {
		t.Fatalf("a: %v at %s, want APPLIED at the first poll (at once)", wa.err, wa.at.Sub(t0))
	}
	if wb.finished() {
		t.Fatalf("b was satisfied by the poll sent before its write (at %s)", wb.at.Sub(t0))
	}
	e.time.runUntil(wb.finished)
	if wb.err != nil || wb.at.Before(writeB.Add(time.Second)) {
		t.Fatalf("b: %v at %s, want APPLIED no sooner than %s", wb.err, wb.at.Sub(t0), writeB.Add(time.Second).Sub(t0))
	}
	// b's polls: 0.75s (PENDING), 1s (APPLIED).
	polls := e.hook.answered("Cluster0")
	if len(polls) != 3 || polls[2].status != "APPLIED" || wb.at != polls[2].at {
		t.Fatalf("polls: %+v, b returned at %s", polls, wb.at.Sub(t0))
	}
	t.Logf("a noticed at %s after 1 poll; b written at %s, applied at %s, noticed at %s after %d more polls",
		wa.at.Sub(t0), writeB.Sub(t0), writeB.Add(time.Second).Sub(t0), wb.at.Sub(t0), len(polls)-1)
}

// (d) Two clusters of one project are watched apart: one still PENDING
// does not hold up the other, a watcher stops when its cluster's waits are
// answered, and a wait scoped to both clusters needs both APPLIED.
func TestWatcherClustersAreIndependent(t *testing.T) {
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = time.Second }))
	e.hook.setForcePending("Cluster1", true)
	a, b, c := e.grantOn("d7m2x9q4ta", "Cluster0"), e.grantOn("d7m2x9q4tb", "Cluster1"), e.grantOn("d7m2x9q4tc", "Cluster0")
	for _, g := range []flows.Grant{a, b, c} {
		e.create(g)
	}
	wa, wb := e.waitApplied(a), e.waitApplied(b)
	// c stands for a grant of a kind scoped to several clusters.
	wc := e.time.start(func() error {
		return e.prov.watch.wait(e.ctx, e.prov.projects["prod"], "Cluster1", "Cluster0", "Cluster1")
	})

	e.time.runUntil(wa.finished)
	if wa.err != nil || wa.at.Sub(t0) != time.Second {
		t.Fatalf("a (Cluster0): %v at %s, want APPLIED at 1s", wa.err, wa.at.Sub(t0))
	}
	e.time.advance(4 * time.Second) // to 5s
	if wb.finished() || wc.finished() {
		t.Fatalf("a wait on Cluster1 ended while it reads PENDING: b %v, c %v", wb.err, wc.err)
	}
	zero := len(e.hook.answered("Cluster0"))
	oneBefore := len(e.hook.answered("Cluster1"))
	if zero != 3 || oneBefore < 10 {
		t.Fatalf("polls by 5s: Cluster0 %d (want 3: 0s, 0.75s, 1s), Cluster1 %d", zero, oneBefore)
	}
	e.hook.setForcePending("Cluster1", false)
	e.time.runUntil(allFinished(wb, wc))
	if wb.err != nil || wc.err != nil || wb.at != wc.at {
		t.Fatalf("b %v at %s, c %v at %s", wb.err, wb.at.Sub(t0), wc.err, wc.at.Sub(t0))
	}
	if n := len(e.hook.answered("Cluster0")); n != zero {
		t.Errorf("Cluster0 polled %d more times after its waits were answered", n-zero)
	}
	for _, cl := range []string{"Cluster0", "Cluster1"} {
		if n := e.hook.maxFlight(cl); n != 1 {
			t.Errorf("%s: %d polls in flight at once", cl, n)
		}
	}
	if s := e.prov.WatchStats(); s.Watchers != 0 || s.Applied != 3 {
		t.Errorf("watch stats: %+v", s)
	}
	t.Logf("Cluster0: %d polls, a noticed at %s; Cluster1: %d polls, b and c noticed at %s",
		zero, wa.at.Sub(t0), len(e.hook.answered("Cluster1")), wb.at.Sub(t0))
}

// (e) Atlas taking about 10s: noticed within 1s.
func TestWatcherAbout10s(t *testing.T) {
	for delay := 9500 * time.Millisecond; delay <= 10500*time.Millisecond; delay += 100 * time.Millisecond {
		calls, late, _ := oneGrant(t, delay)
		t.Logf("apply %s: %d status calls, noticed %s after APPLIED", delay, calls, late)
		if late > time.Second {
			t.Errorf("apply %s: noticed %s late, want <= 1s", delay, late)
		}
	}
}

// (f) A change still PENDING after ApplyTimeout: flows.ErrNotApplied at the
// timeout, after which nothing polls; an unknown cluster fails at once.
func TestWatcherTimesOutAndStops(t *testing.T) {
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = time.Hour }))
	g := e.grant("f7m2x9q4tf")
	e.create(g)
	w := e.waitApplied(g)
	e.time.runUntil(w.finished)
	if !errors.Is(w.err, flows.ErrNotApplied) || flows.ErrorCode(w.err) != flows.EUNAVAILABLE {
		t.Fatalf("want ErrNotApplied, got %v", w.err)
	}
	if got := w.at.Sub(t0); got != 90*time.Second {
		t.Fatalf("gave up at %s, want 90s", got)
	}
	calls := e.statusCalls()
	if last := e.hook.answered(""); last[len(last)-1].at != w.at {
		t.Fatalf("the last poll was at %s, not at the timeout", last[len(last)-1].at.Sub(t0))
	}
	t.Logf("gave up at %s after %d status calls: %v", w.at.Sub(t0), calls, w.err)
	if calls > 60 {
		t.Errorf("%d status calls in 90s", calls)
	}
	if e.time.step() {
		t.Fatal("something still sleeps after the only wait ended")
	}
	e.clock.Advance(time.Hour)
	if s := e.prov.WatchStats(); s.Watchers != 0 || s.Waiting != 0 || s.TimedOut != 1 || e.statusCalls() != calls {
		t.Fatalf("after the timeout: %+v, %d status calls", s, e.statusCalls())
	}

	bad := e.grantOn("f7m2x9q4tg", "Nope")
	w = e.waitApplied(bad)
	e.time.runUntil(w.finished)
	wantError(t, w.err, flows.EINVALID, `unknown cluster "Nope"`)
	if n := e.statusCalls() - calls; n != 1 {
		t.Fatalf("%d polls of an unknown cluster", n)
	}
}

// Atlas unavailable for a few polls (no retries here) is polled on: the
// wait ends when it says APPLIED, not on the first failure.
func TestWatcherPollsOnThroughOutage(t *testing.T) {
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = 3 * time.Second }),
		withConfig(func(cfg *Config) { cfg.MaxRetries = -1 }))
	g := e.grant("o7m2x9q4to")
	e.create(g)
	e.srv.Inject(atlastest.Fault{OperationID: "getClusterStatus", Kind: atlastest.FaultUnavailable, Times: 4})
	w := e.waitApplied(g)
	e.time.runUntil(w.finished)
	if w.err != nil || w.at.Sub(t0) != 3*time.Second {
		t.Fatalf("%v at %s, want APPLIED at 3s", w.err, w.at.Sub(t0))
	}
	if n := e.statusCalls(); n != 11 {
		t.Errorf("%d status calls, want 11 (4 of them failed)", n)
	}
}

// A poll answered later than the next one is due is followed at once by the
// next, never overlapped by it.
func TestWatcherPacesBySlowAnswers(t *testing.T) {
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = 2 * time.Second }))
	e.hook.took = 400 * time.Millisecond
	g := e.grant("p7m2x9q4tp")
	e.create(g)
	w := e.waitApplied(g)
	e.time.runUntil(w.finished)
	var at []time.Duration
	for _, p := range e.hook.answered("") {
		at = append(at, p.at.Sub(t0))
	}
	// Sent at 0s, 0.75s, 1.15s, 1.55s, 1.95s; answered 0.4s later each.
	ms := time.Millisecond
	want := []time.Duration{400 * ms, 1150 * ms, 1550 * ms, 1950 * ms, 2350 * ms}
	if w.err != nil || !slices.Equal(at, want) {
		t.Fatalf("%v; polls answered at %v, want %v", w.err, at, want)
	}
	if n := e.hook.maxFlight("Cluster0"); n != 1 {
		t.Errorf("%d polls in flight at once", n)
	}
}

// (g) A caller giving up ends its own wait only: the others' polls go on,
// and a watcher left with nobody stops.
func TestWatcherCancelOneWait(t *testing.T) {
	one, _, _ := oneGrant(t, 3*time.Second)
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = 3 * time.Second }))
	a, b := e.grant("g7m2x9q4ta"), e.grant("g7m2x9q4tb")
	e.create(a)
	e.create(b)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wa := e.time.start(func() error { return e.prov.WaitApplied(ctx, a) })
	wb := e.waitApplied(b)
	e.time.advance(time.Second)
	cancel() // an event from outside: wait for it in real time
	<-wa.done
	if !errors.Is(wa.err, context.Canceled) || flows.ErrorCode(wa.err) != flows.EUNAVAILABLE || wa.at.Sub(t0) != time.Second {
		t.Fatalf("a: %v at %s", wa.err, wa.at.Sub(t0))
	}
	e.time.runUntil(wb.finished)
	if wb.err != nil || wb.at.Sub(t0) != 3*time.Second {
		t.Fatalf("b: %v at %s, want APPLIED at 3s", wb.err, wb.at.Sub(t0))
	}
	if n := e.statusCalls(); n != one {
		t.Errorf("%d status calls, want %d as for b alone", n, one)
	}

	// Alone, a wait given up stops its watcher: no poll after it.
	c := e.grant("g7m2x9q4tc")
	e.create(c)
	ctx, cancel = context.WithCancel(e.ctx)
	wc := e.time.start(func() error { return e.prov.WaitApplied(ctx, c) })
	e.time.advance(time.Second)
	before := e.statusCalls()
	cancel()
	<-wc.done
	e.time.settle()
	if e.time.step() || e.prov.WatchStats().Watchers != 0 || e.statusCalls() != before {
		t.Fatalf("the watcher polls on for nobody: %+v", e.prov.WatchStats())
	}
}

// (h) Rotate hands out the new password once Atlas has applied it; when
// that takes longer than ApplyTimeout, it hands it out anyway and says so.
func TestRotateWaitsForApplied(t *testing.T) {
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = 3 * time.Second }),
		withConfig(func(cfg *Config) { cfg.ApplyTimeout = 20 * time.Second }))
	g := e.grant("h7m2x9q4th")
	e.create(g)
	e.time.advance(time.Minute) // long applied
	before := e.statusCalls()

	var creds flows.Credentials
	rotated := e.clock.Now()
	w := e.time.start(func() (err error) { creds, err = e.prov.Reissue(e.ctx, g); return err })
	e.time.runUntil(w.finished)
	if w.err != nil {
		t.Fatal(w.err)
	}
	if late := w.at.Sub(rotated.Add(3 * time.Second)); late < 0 || late > 300*time.Millisecond {
		t.Fatalf("Rotate returned %s after Atlas applied the new password, want 0-300ms", late)
	}
	if !e.srv.CheckPassword(projectID, g.Principal, password(creds)) {
		t.Fatal("the rotated password does not work")
	}
	if n := e.statusCalls() - before; n > 12 {
		t.Errorf("rotation took %d status calls", n)
	}
	if strings.Contains(e.logs.String(), "not yet applied") {
		t.Fatalf("a warning for an applied rotation:\n%s", e.logs.String())
	}

	e.srv.SetApply(time.Hour, 0)
	rotated = e.clock.Now()
	w = e.time.start(func() (err error) { creds, err = e.prov.Reissue(e.ctx, g); return err })
	e.time.runUntil(w.finished)
	if w.err != nil || w.at.Sub(rotated) != 20*time.Second || password(creds) == "" {
		t.Fatalf("slow rotation: %v after %s", w.err, w.at.Sub(rotated))
	}
	if !strings.Contains(e.logs.String(), "new password not yet applied; handing it out anyway") {
		t.Fatal("no warning for a password handed out before Atlas applied it")
	}
}

// Close ends every wait and leaves no goroutine behind, a poll in flight
// included.
func TestWatchersCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last, after the env's cleanups
	e := newWatchEnv(t, withSim(func(so *atlastest.Options) { so.ApplyDelay = time.Hour }))
	a, b := e.grantOn("z7m2x9q4ta", "Cluster0"), e.grantOn("z7m2x9q4tb", "Cluster1")
	e.create(a)
	e.create(b)
	held := make(chan struct{})
	e.hook.setHold(func(req *http.Request, cluster string) {
		if cluster == "Cluster1" {
			e.hook.setHold(nil)
			close(held)
			<-req.Context().Done() // until Close cancels it
		}
	})
	wa, wb := e.waitApplied(a), e.waitApplied(b)
	<-held // Cluster1's first poll is in flight, Cluster0's watcher about to sleep
	e.prov.Close()
	for _, w := range []*started{wa, wb} {
		<-w.done
		wantError(t, w.err, flows.EUNAVAILABLE, "shutting down")
	}
	err := e.prov.WaitApplied(e.ctx, a)
	wantError(t, err, flows.EUNAVAILABLE, "shutting down")
}

// The schedule alone, Atlas answering in no time: polls and lateness for a
// change applied after d, checked over 0-90s in 10ms steps.
func TestPollSchedule(t *testing.T) {
	cfg := Config{}.withDefaults()
	s := schedule{first: cfg.ApplyFirstPoll, poll: cfg.ApplyPoll, fastFor: cfg.ApplyFastFor, max: cfg.ApplyPollMax, timeout: cfg.ApplyTimeout}
	run := func(d time.Duration) (polls int, late time.Duration, ok bool) {
		since := t0
		deadline := since.Add(s.timeout)
		at := since // a cluster nobody watched is polled at once
		for {
			polls++
			if !at.Before(since.Add(d)) {
				return polls, at.Sub(since.Add(d)), true
			}
			if !at.Before(deadline) {
				return polls, 0, false
			}
			at = earlier(s.next(since, at), deadline)
		}
	}
	for d := time.Duration(0); d <= s.timeout; d += 10 * time.Millisecond {
		polls, late, ok := run(d)
		switch {
		case !ok:
			t.Fatalf("apply %s: not noticed within the timeout", d)
		case d <= 3*time.Second && (polls > 12 || late > max(250*time.Millisecond, s.first-d)):
			t.Errorf("apply %s: %d polls, %s late", d, polls, late)
		case d > 3*time.Second && late > max(d*85/1000, 250*time.Millisecond):
			t.Errorf("apply %s: %s late, more than 8.5%%", d, late)
		case d > 3*time.Second && d <= 10*time.Second && late > time.Second:
			t.Errorf("apply %s: %s late", d, late)
		}
	}
	var table []string
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3*time.Second + 10*time.Millisecond,
		5 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second} {
		polls, late, _ := run(d)
		table = append(table, fmt.Sprintf("%s: %d polls, %s late", d, polls, late))
	}
	never, _, _ := run(time.Hour)
	table = append(table, "never: "+strconv.Itoa(never)+" polls in "+s.timeout.String())
	t.Logf("schedule:\n%s", strings.Join(table, "\n"))
	if never > 60 {
		t.Errorf("%d polls for a change never applied", never)
	}
}

// BenchmarkSharedWait: ten grants waiting together on one cluster after a
// write, Atlas applying after three polls, on loopback with no sleeping.
func BenchmarkSharedWait(b *testing.B) {
	e := newEnv(b, withSim(func(so *atlastest.Options) { so.ApplyAfterPolls = 3 }), withConfig(func(cfg *Config) {
		cfg.Log, cfg.Sleep = nil, func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}))
	grants := make([]flows.Grant, 10)
	for i := range grants {
		grants[i] = e.grant(fmt.Sprintf("bench%05d", i))
		e.create(grants[i])
	}
	before := e.prov.Stats().Calls["getClusterStatus"]
	for b.Loop() {
		if err := e.prov.SetBackstop(e.ctx, grants[0]); err != nil { // a write: PENDING for three polls
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, g := range grants {
			wg.Go(func() {
				if err := e.prov.WaitApplied(e.ctx, g); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(e.prov.Stats().Calls["getClusterStatus"]-before)/float64(b.N*len(grants)), "status-calls/grant")
}

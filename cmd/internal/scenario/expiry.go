package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// simClock is simulated time: it moves only when told to, and only forward.
// Its sleep is the Atlas client's retry sleep in scenarios: a Retry-After
// passes simulated time, not real time. Concurrent sleepers that start
// together wake together, as they would in real time; a sleeper may move
// the clock ahead of the driver, never behind, so the distortion can only
// make deadlines harder to meet.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func newSimClock(t time.Time) *simClock { return &simClock{now: t} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// advanceTo moves the clock to t, unless it is already past it.
func (c *simClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *simClock) sleep(ctx context.Context, d time.Duration) error {
	c.advanceTo(c.Now().Add(d))
	return ctx.Err()
}

// SweepTick is how often the schedules sweep: an expiry's budget is its
// deadline plus one tick (and a round trip).
const SweepTick = app.SweepInterval

// autoApproveFlow is a flow anyone may use without approval, so scenarios
// can make many grants quickly.
const autoApproveFlow = `  - name: self-serve
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [read]
    max_duration: 8h
    auto_approve: true
`

// makeGrants submits n auto-approved requests at the current (simulated)
// instant, so their deadlines fall in the same second.
func makeGrants(ctx context.Context, r *rig.Rig, n int, d time.Duration) ([]*flows.Request, error) {
	var out []*flows.Request
	for i := range n {
		req, err := r.Main.Service().Submit(ctx, flows.SubmitInput{
			Requester: rig.Requester(i).Email, Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "sales", Collection: "orders"},
			Roles: []string{"read"}, Duration: d, Reason: fmt.Sprintf("grant %d", i), Origin: "prove",
		})
		if err != nil {
			return nil, fmt.Errorf("grant %d: %w", i, err)
		}
		if req.State != flows.StateActive {
			return nil, fmt.Errorf("grant %d is %s, not active: %s", i, req.State, req.LastError)
		}
		out = append(out, req)
	}
	return out, nil
}

// deleteTimes are the simulated times at which Atlas accepted the deletion
// of each user, by username.
func deleteTimes(calls []atlastest.Call) map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range calls {
		if c.OperationID != "deleteDatabaseUser" || c.Challenge || c.Status >= 300 {
			continue
		}
		name, err := url.PathUnescape(path.Base(c.Path))
		if err != nil {
			continue
		}
		if _, seen := out[name]; !seen {
			out[name] = c.Time
		}
	}
	return out
}

func countStatus(calls []atlastest.Call, status int) int {
	n := 0
	for _, c := range calls {
		if c.Status == status && !c.Challenge {
			n++
		}
	}
	return n
}

// ExpiryResult is what the expiry scenario measured, in simulated time.
type ExpiryResult struct {
	Grants        int
	Capacity      int
	Refill        int
	Per           time.Duration
	Planner       bool          // the integration's rate_limit was configured
	Expired       int           // requests that ended expired
	UsersLeft     int           // jitbot users still in Atlas at the end
	MaxOverstay   time.Duration // latest delete minus its deadline (negative: before it)
	EarliestStart time.Duration // how long before its deadline the earliest revocation began
	RateLimited   int           // 429 answers from Atlas
	Sweeps        int
	Violations    []string // requests or answers that broke the Atlas spec
	Wall          time.Duration
}

// Expiry makes n grants due in the same second in one project, turns
// the simulator's token bucket on, and ticks the sweep every 5 s of
// simulated time until every grant has ended. With planner, the
// integration's atlas.rate_limit tells jitbot the bucket, so revocations
// start early enough; without, they start at the deadline (a comparison).
func Expiry(ctx context.Context, n, capacity, refill int, per time.Duration, planner bool, reporter atlastest.Reporter) (ExpiryResult, error) {
	res := ExpiryResult{Grants: n, Capacity: capacity, Refill: refill, Per: per, Planner: planner}
	start := time.Now()
	clock := newSimClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	o := rig.Options{Clock: clock, Slack: true, NobodyInSlack: true, Flows: autoApproveFlow, Reporter: reporter}
	if planner {
		o.RateLimit = fmt.Sprintf("{capacity: %d, refill: %d, per: %s}", capacity, refill, flows.FormatDuration(per))
	}
	r, err := rig.New(o)
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Start(ctx, app.Options{NoScheduler: true, AtlasSleep: clock.sleep}); err != nil {
		return res, err
	}
	const d = time.Hour
	grants, err := makeGrants(ctx, r, n, d)
	if err != nil {
		return res, err
	}
	deadline := grants[0].ExpiresAt
	for _, g := range grants {
		if !g.ExpiresAt.Equal(deadline) {
			return res, fmt.Errorf("grants are not due together: %s and %s", deadline, g.ExpiresAt)
		}
	}
	// The bucket goes on after the grants exist: the scenario is about
	// revocation, and creating a hundred users is a separate matter.
	r.Atlas.SetRateLimit(capacity, refill, per)
	r.Atlas.ResetCalls()

	// From 30 minutes before the deadline (the plan for 100 grants under
	// 5/min starts about 20 minutes early) to 30 minutes after, at most.
	clock.advanceTo(deadline.Add(-30 * time.Minute))
	for t := clock.Now(); !t.After(deadline.Add(30 * time.Minute)); {
		r.Main.Sweep(ctx)
		res.Sweeps++
		if len(r.ManagedUsers()) == 0 {
			if done, err := allEnded(ctx, r, grants); err != nil {
				return res, err
			} else if done {
				break
			}
		}
		t = t.Add(SweepTick)
		clock.advanceTo(t)
		t = clock.Now()
	}

	calls := r.Atlas.Calls()
	deleted := deleteTimes(calls)
	res.MaxOverstay = -24 * time.Hour
	for _, g := range grants {
		at, ok := deleted[g.Principal]
		if !ok {
			continue
		}
		res.MaxOverstay = max(res.MaxOverstay, at.Sub(g.ExpiresAt))
	}
	res.UsersLeft = len(r.ManagedUsers())
	res.RateLimited = countStatus(calls, 429)
	res.Violations = r.Atlas.SpecViolations()
	if res.Expired, err = countExpired(ctx, r, grants); err != nil {
		return res, err
	}
	err = r.Main.Store().Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.Type == flows.EventRevoking {
			res.EarliestStart = max(res.EarliestStart, deadline.Sub(rec.Event.At))
		}
		return nil
	})
	res.Wall = time.Since(start)
	return res, errors.Join(err, r.Stop())
}

// countExpired counts the grants that ended expired.
func countExpired(ctx context.Context, r *rig.Rig, grants []*flows.Request) (int, error) {
	n := 0
	for _, g := range grants {
		cur, err := r.Main.Store().Get(ctx, g.ID)
		if err != nil {
			return 0, err
		}
		if cur.State == flows.StateExpired {
			n++
		}
	}
	return n, nil
}

// allEnded reports whether every grant has reached a terminal state.
func allEnded(ctx context.Context, r *rig.Rig, grants []*flows.Request) (bool, error) {
	for _, g := range grants {
		cur, err := r.Main.Store().Get(ctx, g.ID)
		if err != nil {
			return false, err
		}
		if !cur.State.Terminal() {
			return false, nil
		}
	}
	return true, nil
}

// DowntimeResult is what the downtime scenario measured.
type DowntimeResult struct {
	Grants      int
	Downtime    time.Duration // simulated time jitbot was down past the deadlines
	Sweeps      int           // sweeps run after the restart before every user was gone
	UsersLeft   int           // jitbot users in Atlas after those sweeps
	Expired     int           // requests that ended expired
	Deletes     int           // deleteDatabaseUser calls after the restart
	StartToDone time.Duration // wall time from New to the end of the start-up sweep
	Violations  []string
}

// Downtime makes n grants, stops jitbot, lets simulated time run past
// every deadline, and starts a new jitbot on the same store: the start-up
// sweep (Run resumes, then sweeps once) must delete every user.
func Downtime(ctx context.Context, n int, reporter atlastest.Reporter) (DowntimeResult, error) {
	res := DowntimeResult{Grants: n, Downtime: 30 * time.Minute}
	clock := newSimClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	r, err := rig.New(rig.Options{Clock: clock, Slack: true, NobodyInSlack: true, Flows: autoApproveFlow, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Start(ctx, app.Options{NoScheduler: true, AtlasSleep: clock.sleep}); err != nil {
		return res, err
	}
	grants, err := makeGrants(ctx, r, n, time.Hour)
	if err != nil {
		return res, err
	}
	if err := r.Stop(); err != nil {
		return res, err
	}
	// Down for half an hour past the deadlines (the Atlas backstop, an hour
	// after them, has not fired).
	clock.advanceTo(grants[0].ExpiresAt.Add(res.Downtime))
	r.Atlas.ResetCalls()
	began := time.Now()
	if err := r.Start(ctx, app.Options{NoScheduler: true, AtlasSleep: clock.sleep}); err != nil {
		return res, err
	}
	res.StartToDone = time.Since(began)
	res.Sweeps = 1
	for len(r.ManagedUsers()) > 0 && res.Sweeps < 10 {
		r.Main.Sweep(ctx)
		res.Sweeps++
	}
	res.UsersLeft = len(r.ManagedUsers())
	res.Deletes = len(deleteTimes(r.Atlas.Calls()))
	res.Violations = r.Atlas.SpecViolations()
	if res.Expired, err = countExpired(ctx, r, grants); err != nil {
		return res, err
	}
	return res, r.Stop()
}

// percentile returns the p-th percentile (0 < p <= 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

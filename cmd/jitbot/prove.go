package main

// The scenarios behind DESIGN §8's budget. Each runs the real jitbot (Main,
// its HTTP handlers, the store on disk) against the simulators (Atlas, the
// Slack Web API, the Bot Framework) and returns what it measured.
// `jitbot bench` prints the figures; prove_test.go runs the same scenarios,
// smaller, and asserts their invariants (never their timings). Like the
// demo, this file imports the test servers: DESIGN §2 rule 4 allows it for
// `jitbot demo`, and `jitbot bench` is the same kind of command.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
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

// The people of the scenarios. olivia owns Cluster0 (its Atlas owner tag
// names her) and approves; dana is an admin; requesters are generated.
var (
	proveOlivia = slacktest.User{ID: "U0OLIVIA", Name: "olivia", Email: "olivia@example.com", TZ: "UTC"}
	proveDana   = slacktest.User{ID: "U0DANA", Name: "dana", Email: "dana@example.com", TZ: "UTC"}
	// oliviaInTeams is olivia as the Bot Framework knows her.
	oliviaInTeams = teamstest.Member{ID: "29:olivia", Name: "Olivia", Email: "olivia@example.com", AadObjectID: "aad-olivia"}
)

const (
	proveProject     = "5cf5a45a9ccf6400e60981b6"
	proveSecret      = "prove-signing-secret-0123456789"
	proveBotToken    = "xoxb-prove-0000"
	proveAdminToken  = "prove-admin-token-0123456789"
	proveOliviaConv  = "a:olivia-1on1"
	proveSweepTick   = app.SweepInterval
	proveClusterName = "Cluster0"
)

// requester is the nth generated requester.
func requester(n int) slacktest.User {
	return slacktest.User{ID: fmt.Sprintf("U%05d", n), Name: fmt.Sprintf("user%05d", n), Email: fmt.Sprintf("user%05d@example.com", n), TZ: "UTC"}
}

// rigOptions describe one scenario's world.
type rigOptions struct {
	clock *simClock // nil: real time
	slack bool      // run the Slack fake and configure jitbot for it
	teams bool      // run the Bot Framework fake and configure jitbot for it
	// listen is jitbot's address ("127.0.0.1:0" when empty).
	listen string
	// rateLimit configures the integration's atlas.rate_limit (YAML flow map).
	rateLimit string
	// flows is the configuration's flows: section.
	flows string
	// clusters replace the default Cluster0 owned by olivia.
	clusters []atlastest.Cluster
	// slackUsers are added to the Slack fake, besides olivia and dana.
	slackUsers []slacktest.User
	// nobodyInSlack leaves the Slack workspace empty, so no direct message is
	// sent. Scenarios on a frozen simulated clock need it: Slack's one
	// message per second per channel would otherwise cost a real second for
	// each message sent at the same simulated instant.
	nobodyInSlack bool
	// applyPolls and applyDelay are the simulator's change-status delay.
	applyPolls int
	applyDelay time.Duration
	// reporter receives the simulator's spec violations (tests pass t).
	reporter atlastest.Reporter
	// logLevel of jitbot's log file (Info when zero).
	logLevel slog.Level
	// storePath puts jitbot's store elsewhere than in the rig's directory.
	storePath string
}

// rig is one scenario's world: the simulators, jitbot's configuration and
// store in a directory of their own, and jitbot when it runs.
type rig struct {
	opts   rigOptions
	dir    string
	cfg    string // path of jitbot.yaml
	atlas  *atlastest.Server
	slack  *slacktest.Server
	bf     *teamstest.BotFramework
	logf   *os.File
	log    *slog.Logger
	main   *app.Main
	runErr chan error
}

const rigConfig = `
listen: LISTEN
store: {path: STORE}
admin_token: ` + proveAdminToken + `
admins: [dana@example.com]
SLACK
TEAMS
groups:
  dba: [dana@example.com]
integrations:
  - name: prod
    project_id: ` + proveProject + `
    atlas: {base_url: ATLAS_URL, client_id: CLIENT_ID, client_secret: CLIENT_SECRET RATE_LIMIT}
    owners: [group:dba]
    databases:
      Cluster0: {sales: [orders, customers]}
flows:
FLOWS
`

func newRig(o rigOptions) (r *rig, err error) {
	r = &rig{opts: o}
	built := r // the returns below set r to nil; close what was built
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	if r.dir, err = os.MkdirTemp("", "jitbot-prove-"); err != nil {
		return nil, err
	}
	if r.logf, err = os.Create(filepath.Join(r.dir, "jitbot.log")); err != nil {
		return nil, err
	}
	r.log = slog.New(slog.NewJSONHandler(r.logf, &slog.HandlerOptions{Level: o.logLevel}))
	var clock atlastest.Clock
	if o.clock != nil {
		clock = o.clock
	}
	r.atlas, err = atlastest.New(atlastest.Options{T: o.reporter, Clock: clock, ApplyAfterPolls: o.applyPolls, ApplyDelay: o.applyDelay})
	if err != nil {
		return nil, fmt.Errorf("start the Atlas simulator: %w", err)
	}
	r.atlas.AddProject(proveProject, "prod")
	clusters := o.clusters
	if clusters == nil {
		clusters = []atlastest.Cluster{{Name: proveClusterName, Tags: []atlastest.Tag{{Key: "owner", Value: proveOlivia.Email}}}}
	}
	for _, c := range clusters {
		r.atlas.AddCluster(proveProject, c)
	}

	slackYAML, teamsYAML := "", ""
	if o.slack {
		r.slack = slacktest.New(slacktest.WithBotToken(proveBotToken))
		for _, u := range append([]slacktest.User{proveOlivia, proveDana}, o.slackUsers...) {
			if !o.nobodyInSlack {
				r.slack.AddUser(u)
			}
		}
		slackYAML = fmt.Sprintf("slack: {bot_token: %s, signing_secret: %s, api_url: %q}", proveBotToken, proveSecret, r.slack.APIURL())
	}
	if o.teams {
		r.bf = teamstest.New()
		r.bf.AddMember(teamstest.AllConversations, oliviaInTeams)
		// The fake's users are in its tenant, and its connector is on loopback, not on
		// Microsoft's service hosts.
		teamsYAML = fmt.Sprintf("teams: {app_id: %q, app_password: %q, tenant_id: %q, openid_metadata_url: %q, token_url: %q, service_hosts: [127.0.0.1]}",
			r.bf.AppID(), r.bf.AppPassword(), r.bf.TenantID(), r.bf.MetadataURL(), r.bf.TokenURL(r.bf.TenantID()))
	}
	listen := o.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	rateLimit := ""
	if o.rateLimit != "" {
		rateLimit = ", rate_limit: " + o.rateLimit
	}
	storePath := o.storePath
	if storePath == "" {
		storePath = filepath.Join(r.dir, "jitbot.db")
	}
	text := strings.NewReplacer("LISTEN", fmt.Sprintf("%q", listen), "STORE", storePath,
		"SLACK", slackYAML, "TEAMS", teamsYAML, "ATLAS_URL", r.atlas.URL(), "CLIENT_ID", atlastest.DefaultClientID,
		"CLIENT_SECRET", atlastest.DefaultClientSecret, " RATE_LIMIT", rateLimit, "FLOWS", o.flows).Replace(rigConfig)
	r.cfg = filepath.Join(r.dir, "jitbot.yaml")
	if err := os.WriteFile(r.cfg, []byte(text), 0o600); err != nil {
		return nil, err
	}
	if _, err := r.config(); err != nil {
		return nil, fmt.Errorf("scenario configuration: %w", err)
	}
	return r, nil
}

func (r *rig) config() (*config.Config, error) {
	return config.Load(r.cfg, func(string) (string, bool) { return "", false })
}

// start runs jitbot in this process and waits until it has resumed and
// swept once. extra sets the options a scenario needs (a fake clock's sleep,
// no scheduler).
func (r *rig) start(ctx context.Context, extra app.Options) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	opts := extra
	opts.Log = r.log
	if r.opts.clock != nil {
		opts.Clock = r.opts.clock
		if opts.AtlasSleep == nil {
			opts.AtlasSleep = r.opts.clock.sleep
		}
	}
	if opts.Listener == nil {
		if opts.Listener, err = net.Listen("tcp", cfg.Listen); err != nil {
			return err
		}
	}
	if r.main, err = app.New(ctx, cfg, opts); err != nil {
		return err
	}
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.main.Run(ctx) }()
	select {
	case <-r.main.Started():
		return nil
	case err := <-r.runErr:
		r.main = nil
		return fmt.Errorf("jitbot stopped at start-up: %v", err)
	}
}

// stop closes jitbot as a shutdown would.
func (r *rig) stop() error {
	if r.main == nil {
		return nil
	}
	err := r.main.Close()
	if rerr := <-r.runErr; rerr != nil {
		err = errors.Join(err, rerr)
	}
	r.main = nil
	return err
}

func (r *rig) close() {
	_ = r.stop()
	if r.slack != nil {
		r.slack.Close()
	}
	if r.bf != nil {
		r.bf.Close()
	}
	if r.atlas != nil {
		r.atlas.Close()
	}
	if r.logf != nil {
		_ = r.logf.Close()
	}
	if r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// logTail is the end of jitbot's log, for failure reports.
func (r *rig) logTail(n int) string {
	raw, _ := os.ReadFile(filepath.Join(r.dir, "jitbot.log"))
	if len(raw) > n {
		raw = raw[len(raw)-n:]
	}
	return string(raw)
}

// sweepOnce runs the scheduler's sweep now, on jitbot's clock.
func (r *rig) sweepOnce(ctx context.Context) {
	r.main.Sweep(ctx)
}

// managedUsers are the simulator's users labelled as jitbot's.
func (r *rig) managedUsers() []atlastest.User {
	var out []atlastest.User
	for _, u := range r.atlas.Users(proveProject) {
		if v, _ := u.Label("managed-by"); v == "jitbot" {
			out = append(out, u)
		}
	}
	return out
}

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
func (r *rig) makeGrants(ctx context.Context, n int, d time.Duration) ([]*flows.Request, error) {
	var out []*flows.Request
	for i := range n {
		req, err := r.main.Service().Submit(ctx, flows.SubmitInput{
			Requester: requester(i).Email, Resource: flows.Resource{Integration: "prod", Cluster: proveClusterName, Database: "sales", Collection: "orders"},
			Role: "read", Duration: d, Reason: fmt.Sprintf("grant %d", i), Origin: "prove",
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

// proveExpiry makes n grants due in the same second in one project, turns
// the simulator's token bucket on, and ticks the sweep every 5 s of
// simulated time until every grant has ended. With planner, the
// integration's atlas.rate_limit tells jitbot the bucket, so revocations
// start early enough; without, they start at the deadline (a comparison).
func proveExpiry(ctx context.Context, n, capacity, refill int, per time.Duration, planner bool, reporter atlastest.Reporter) (ExpiryResult, error) {
	res := ExpiryResult{Grants: n, Capacity: capacity, Refill: refill, Per: per, Planner: planner}
	start := time.Now()
	clock := newSimClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	o := rigOptions{clock: clock, slack: true, nobodyInSlack: true, flows: autoApproveFlow, reporter: reporter}
	if planner {
		o.rateLimit = fmt.Sprintf("{capacity: %d, refill: %d, per: %s}", capacity, refill, flows.FormatDuration(per))
	}
	r, err := newRig(o)
	if err != nil {
		return res, err
	}
	defer r.close()
	if err := r.start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	const d = time.Hour
	grants, err := r.makeGrants(ctx, n, d)
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
	r.atlas.SetRateLimit(capacity, refill, per)
	r.atlas.ResetCalls()

	// From 30 minutes before the deadline (the plan for 100 grants under
	// 5/min starts about 20 minutes early) to 30 minutes after, at most.
	clock.advanceTo(deadline.Add(-30 * time.Minute))
	for t := clock.Now(); !t.After(deadline.Add(30 * time.Minute)); {
		r.sweepOnce(ctx)
		res.Sweeps++
		if len(r.managedUsers()) == 0 {
			if done, err := r.allEnded(ctx, grants); err != nil {
				return res, err
			} else if done {
				break
			}
		}
		t = t.Add(proveSweepTick)
		clock.advanceTo(t)
		t = clock.Now()
	}

	calls := r.atlas.Calls()
	deleted := deleteTimes(calls)
	res.MaxOverstay = -24 * time.Hour
	for _, g := range grants {
		at, ok := deleted[g.Username]
		if !ok {
			continue
		}
		res.MaxOverstay = max(res.MaxOverstay, at.Sub(g.ExpiresAt))
	}
	res.UsersLeft = len(r.managedUsers())
	res.RateLimited = countStatus(calls, 429)
	res.Violations = r.atlas.SpecViolations()
	for _, g := range grants {
		cur, err := r.main.Store().Get(ctx, g.ID)
		if err != nil {
			return res, err
		}
		if cur.State == flows.StateExpired {
			res.Expired++
		}
	}
	err = r.main.Store().Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.Type == flows.EventRevoking {
			res.EarliestStart = max(res.EarliestStart, deadline.Sub(rec.Event.At))
		}
		return nil
	})
	res.Wall = time.Since(start)
	return res, errors.Join(err, r.stop())
}

// allEnded reports whether every grant has reached a terminal state.
func (r *rig) allEnded(ctx context.Context, grants []*flows.Request) (bool, error) {
	for _, g := range grants {
		cur, err := r.main.Store().Get(ctx, g.ID)
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

// proveDowntime makes n grants, stops jitbot, lets simulated time run past
// every deadline, and starts a new jitbot on the same store: the start-up
// sweep (Run resumes, then sweeps once) must delete every user.
func proveDowntime(ctx context.Context, n int, reporter atlastest.Reporter) (DowntimeResult, error) {
	res := DowntimeResult{Grants: n, Downtime: 30 * time.Minute}
	clock := newSimClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	r, err := newRig(rigOptions{clock: clock, slack: true, nobodyInSlack: true, flows: autoApproveFlow, reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.close()
	if err := r.start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	grants, err := r.makeGrants(ctx, n, time.Hour)
	if err != nil {
		return res, err
	}
	if err := r.stop(); err != nil {
		return res, err
	}
	// Down for half an hour past the deadlines (the Atlas backstop, an hour
	// after them, has not fired).
	clock.advanceTo(grants[0].ExpiresAt.Add(res.Downtime))
	r.atlas.ResetCalls()
	began := time.Now()
	if err := r.start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	res.StartToDone = time.Since(began)
	res.Sweeps = 1
	for len(r.managedUsers()) > 0 && res.Sweeps < 10 {
		r.sweepOnce(ctx)
		res.Sweeps++
	}
	res.UsersLeft = len(r.managedUsers())
	res.Deletes = len(deleteTimes(r.atlas.Calls()))
	res.Violations = r.atlas.SpecViolations()
	for _, g := range grants {
		cur, err := r.main.Store().Get(ctx, g.ID)
		if err != nil {
			return res, err
		}
		if cur.State == flows.StateExpired {
			res.Expired++
		}
	}
	return res, r.stop()
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

package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/identity"
	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/auditsink"
)

// Options are what the caller of New may replace: the demo, the scenarios
// and the tests inject a clock, HTTP clients pointed at simulators, and a
// listener.
type Options struct {
	Clock    flows.Clock
	Log      *slog.Logger
	Listener net.Listener // nil: listen on the configured address
	// AtlasSleep replaces the Atlas client's retry sleep (tests).
	AtlasSleep func(context.Context, time.Duration) error
	// NoStartupCheck skips proving Atlas is reachable before an offline
	// admin verb (NewOffline). New never requires it: serve runs whatever
	// state Atlas is in, and watches it (health.go).
	NoStartupCheck bool
	// HealthSleep replaces the wait between dependency checks (tests step
	// the checks with it; nil: a real timer).
	HealthSleep func(context.Context, time.Duration) error
	// NoScheduler leaves the sweep and the other schedules to the caller
	// (scenarios on a fake clock tick it themselves). Run still resumes and
	// sweeps once at start-up, and checks each dependency once; the
	// dependency checks are not repeated (they would spend the Atlas rate
	// limit a scenario measures, on real time).
	NoScheduler bool
	// Reload asks Run to reload the policy from the configuration file
	// (serve sends it SIGHUP); nil: only the file's changes reload it.
	Reload <-chan struct{}
	// PolicyPoll is how often Run looks at the configuration file for a
	// change, to reload the policy (DefaultPolicyPoll; negative: never).
	PolicyPoll time.Duration
	// Env looks up the ${NAME} references of the configuration when it is
	// reloaded, as serve's loading did (nil: the process's environment).
	Env config.Env
}

// Main is one running jitbot: the store, the Atlas adapter, the chat
// adapters, the domain service, the scheduler and the HTTP server.
type Main struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	clock   flows.Clock
	db      Backend
	atlas   *atlas.Provisioner
	svc     *flows.Service
	slack   *slack.Bot
	teams   *teams.Bot
	metrics *metrics
	health  *health
	engine  *bot.Engine
	// identity binds chat accounts through the identity provider (nil
	// without one: identity.go).
	identity *identity.Identities
	outbox   *outbox // the current term's dispatcher (leadership.go)
	// held sends the credentials this replica keeps while another leads
	// (leadership.go; nil with one replica).
	held  *heldSender
	inbox *bot.Inbox
	// audit streams the audit log to the configured sinks (auditsink.go).
	audit auditsink.Streamers
	// lead decides whether this replica runs what must run once
	// (leadership.go); leader is its state, for /metrics.
	lead   Leadership
	leader leaderState
	// etcd is compaction, the database's size and its alarms on the etcd
	// store (etcdops.go; nil on bbolt).
	etcd *etcdOps
	// clocks compares this replica's clock with the others' on etcd, and
	// keeps it from leading while it is off (clockskew.go; nil on bbolt).
	clocks *clockGuard
	// offline revokes what is due while the store cannot be reached, on
	// every replica on etcd (offline.go; nil on bbolt).
	offline *offline
	// sched runs, while this replica leads, the sweeps, reconcile,
	// rotation and the inbox purge (a new one each term); replicaSched
	// what every replica runs (the Slack user-group sync).
	sched        *cron.Cron
	replicaSched *cron.Cron
	server       *http.Server
	ln           net.Listener
	// adminServer serves the admin API and /metrics on adminLn when
	// admin_listen is set (nil otherwise: they share server).
	adminServer *http.Server
	adminLn     net.Listener

	// syncGroups reads the Slack user groups the policy's groups include
	// (nil without Slack).
	syncGroups func()

	// policy is what the reloads of the policy found; reloadMu keeps them
	// one at a time.
	policy   policyState
	reloadMu sync.Mutex

	// ctx is the base of background work; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	// firstTerm is closed once the first term of leadership swept and
	// resumed (the sole leader's Started waits for it).
	firstTerm     chan struct{}
	firstTermOnce sync.Once

	// schedMu orders starting the schedules with Close stopping them.
	schedMu     sync.Mutex
	schedClosed bool

	// started is closed once Run has swept once and resumed interrupted
	// work: from then on jitbot has caught up with its downtime.
	started chan struct{}

	// serving is true while the listeners serve: from Run until Close
	// begins (a replica shutting down stops taking webhooks).
	serving   atomic.Bool
	closeOnce sync.Once
}

// New wires a jitbot from its configuration. It opens the store (failing
// fast when another process holds it). It does not wait for Atlas, Slack or
// Teams: Run checks them in the background, and an Atlas integration that
// does not answer is degraded (logged, in /metrics and the admin status,
// retried with backoff) while the others go on.
func New(ctx context.Context, cfg *config.Config, opts Options) (m *Main, err error) {
	if opts.Clock == nil {
		opts.Clock = flows.SystemClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.PolicyPoll == 0 {
		opts.PolicyPoll = DefaultPolicyPoll
	}
	m = &Main{cfg: cfg, opts: opts, log: opts.Log, clock: opts.Clock, started: make(chan struct{}), firstTerm: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	built := m // the returns below set m to nil; close what was built
	defer func() {
		if err != nil {
			_ = built.Close()
		}
	}()

	if m.db, err = OpenBackend(cfg, false, 0); err != nil {
		return nil, err
	}
	// The adapters' errors name the adapter already ("atlas: ..."): they
	// are returned as they are, not prefixed again.
	if m.atlas, err = NewAtlas(m.ctx, cfg, opts); err != nil {
		return nil, named("atlas", err)
	}
	m.health = newHealth(m.clock, opts.HealthSleep, m.log.With("component", "health"))
	for _, in := range cfg.Integrations {
		// Not the readiness of the whole: the sweeps go on for every other
		// integration, and this one's revocations are still attempted (they
		// retry with backoff in flows) in case only the check fails.
		m.health.add(atlasDependency(in.Name), in.Name, true, func(ctx context.Context) error { return m.atlas.Ping(ctx, in.Name) })
	}

	slackHTTP, teamsHTTP := newCountingTransport(slackMethod), newCountingTransport(teamsMethod)
	counters := atlasCounters(m.atlas)
	if cfg.Slack != nil {
		counters = append(counters, chatCounters("slack", slackHTTP)...)
	}
	if cfg.Teams != nil {
		counters = append(counters, chatCounters("teams", teamsHTTP)...)
	}
	counters = append(counters, inboxCounters(m.db, m.clock, m.log)...)
	counters = append(counters, outboxCounters(m.db, m.clock, m.log)...)
	counters = append(counters, deliveryCounters(func() []bot.DeliveryCount { return addCounts(m.outbox.Stats(), m.held.stats()) })...)
	counters = append(counters, expandLagGauge(func() time.Duration { return m.outbox.expandLag() }))
	counters = append(counters, yieldGauges(func() time.Duration { return m.inbox.Lag() }, func() bool { return m.outbox.yielding() })...)
	counters = append(counters, policyCounters(&m.policy)...)
	counters = append(counters, auditSinkCounters(func() []auditsink.Stats { return m.audit.Stats() }, m.clock)...)
	counters = append(counters, m.leader.counters()...)
	if m.etcd = newEtcdOps(m.db, cfg.StoreEtcd, m.clock, m.log.With("component", "etcd")); m.etcd != nil {
		counters = append(counters, m.etcd.counters()...)
	}
	if m.clocks, err = newClockGuard(m.db, m.clock, 0, m.log); err != nil {
		return nil, err
	}
	if m.clocks != nil {
		counters = append(counters, m.clocks.counters()...)
	}
	m.metrics = newMetrics(m.db.CountByState, counters)
	m.metrics.reg.MustRegister(m.health.collector())
	m.engine = bot.NewEngine(m.log)
	// Credentials live in memory only, from the transaction that records
	// them until their message is sent (DESIGN §4).
	secrets := bot.NewSecrets(m.clock, 0, 0)
	oncall, tickets, err := integrations(cfg)
	if err != nil {
		return nil, err
	}
	svcConfig := serviceConfig(cfg)
	var self string // this replica among several: it sends the secrets it keeps (bot/held.go)
	var alive func(string) bool
	if m.clocks != nil {
		self, alive = m.clocks.id, m.clocks.alive
	}
	svcConfig.Replica = self
	// A store several replicas share locks shared targets among them (etcd);
	// bbolt's one process locks its own.
	locks, _ := m.db.(flows.Locks)
	m.svc, err = flows.NewService(svcConfig, flows.Deps{
		Store: m.db, Provisioners: provisioners(m.atlas), Catalog: m.atlas.Catalog(), Secrets: secrets,
		Notifier: committed{metrics: m.metrics, kick: func() { m.outbox.Kick(); m.audit.Kick() }},
		OnCall:   oncall, Tickets: tickets, Locks: locks,
		Clock: m.clock, Log: m.log.With("component", "flows"),
	})
	if err != nil {
		return nil, err
	}
	m.engine.SetService(m.svc)
	// What the admins must hear while the store takes no writes (etcd out
	// of space, or out of reach) goes to them straight away.
	tellNow := func(ctx context.Context, ev flows.Event) (int, error) {
		return bot.TellNow(ctx, m.engine.Platforms(), m.svc.Audience(ev, nil), ev)
	}
	if m.etcd != nil {
		m.etcd.tellNow = tellNow
	}
	if m.offline = newOffline(m.db, m.svc, m.clock, m.log); m.offline != nil {
		m.offline.leads, m.offline.tellNow = m.leader.leading.Load, tellNow
		m.offline.reach = func(ctx context.Context) (int, error) {
			ev := alarmEvent(m.clock.Now(), "")
			return bot.Reachable(ctx, m.engine.Platforms(), m.svc.Audience(ev, nil), ev)
		}
		m.metrics.addCounters(m.offline.counters()...)
	}
	// The answers of inbox items join the outbox with their finish.
	if m.inbox, err = bot.NewInbox(bot.InboxConfig{Store: m.db, Clock: m.clock, Log: m.log,
		Answered: func(ds []flows.Delivery) { m.outbox.Schedule(ds) }}); err != nil {
		return nil, err
	}

	if cfg.Slack != nil {
		sc := *cfg.Slack
		sc.Clock, sc.HTTPClient, sc.Inbox = m.clock, slackHTTP.client(), m.inbox
		m.slack, err = slack.New(sc, m.engine, m.log)
		if err != nil {
			return nil, named("slack", err)
		}
		m.engine.Register(m.slack)
		m.health.add("slack", "", false, m.slack.Ping)
	}

	if cfg.Teams != nil {
		tc := *cfg.Teams
		tc.Clock, tc.HTTPClient, tc.Inbox = m.clock, teamsHTTP.client(), m.inbox
		m.teams, err = teams.New(tc, m.engine, m.db, m.log)
		if err != nil {
			return nil, named("teams", err)
		}
		m.engine.Register(m.teams)
		m.health.add("teams", "", false, m.teams.Ping)
	}

	if m.identity, err = m.newIdentity(); err != nil {
		return nil, err
	}
	renderers := map[string]bot.Renderer{}
	if m.identity != nil {
		renderers[identity.WhatSignIn] = m.identity.Render
	}

	pacing := map[string]time.Duration{}
	if m.slack != nil {
		pacing[m.slack.Name()] = m.slack.Pacing()
	}
	if m.outbox, err = newOutbox(func() (*bot.Dispatcher, error) {
		return bot.NewDispatcher(bot.DispatcherConfig{Pacing: pacing}, bot.DispatcherDeps{
			Store: m.db, Platforms: m.engine.Platforms, Audience: m.svc.Audience, Secrets: secrets,
			Reissue: m.svc.ReissueLost,
			OnUndeliverable: func(ctx context.Context, id flows.RequestID, why string) {
				if _, err := m.svc.CredentialsUndeliverable(ctx, id, why); err != nil && flows.ErrorCode(err) != flows.ECONFLICT {
					m.log.ErrorContext(ctx, "could not revoke a grant whose credentials cannot be delivered", "request_id", id, "err", err)
				}
			},
			Clock: m.clock, Log: m.log, Renderers: renderers, Self: self, Alive: alive, InboxLag: m.inbox.Lag,
		})
	}); err != nil {
		return nil, err
	}
	if self != "" {
		d, err := m.outbox.make()
		if err != nil {
			return nil, err
		}
		m.held = &heldSender{d: d}
	}
	if m.lead, err = newLeadership(m.db, &m.leader, m.log.With("component", "leadership")); err != nil {
		return nil, err
	}
	if m.clocks != nil {
		m.lead = clockGated{Leadership: m.lead, guard: m.clocks}
	}

	if m.audit, err = newAuditSinks(cfg, m.db, m.clock, m.log); err != nil {
		return nil, err
	}

	var replicaJobs []job
	if m.slack != nil {
		// Whatever the policy in force: a reload may add groups that
		// include Slack user groups (with none, a sync reads nothing).
		// Every replica: the members are kept in its memory.
		syncLog := m.log.With("component", "groups")
		m.syncGroups = func() { _ = syncUserGroups(m.ctx, m.svc.Policy(), m.slack.UserGroupMembers, syncLog) }
		replicaJobs = append(replicaJobs, job{groupSyncSchedule, m.syncGroups})
	}
	if m.offline != nil {
		// Every replica: each keeps its own due list.
		replicaJobs = append(replicaJobs, job{sweepSchedule, func() { m.offline.tick(m.ctx) }})
	}
	m.initPolicy()
	if m.replicaSched, err = newCron(m.log.With("component", "scheduler"), replicaJobs...); err != nil {
		return nil, err
	}
	public, admin := m.routes()
	m.server = newHTTPServer(public)
	if cfg.AdminListen != "" {
		m.adminServer = newHTTPServer(admin)
		if m.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return nil, fmt.Errorf("admin_listen on %s: %w", cfg.AdminListen, err)
		}
	}
	m.ln = opts.Listener
	if m.ln == nil {
		if m.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	return m, nil
}

// named is err said as from part ("atlas: ..."), unless it says so
// already: an adapter's errors name it, and wrapping them again would say
// it twice.
func named(part string, err error) error {
	if strings.HasPrefix(err.Error(), part+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", part, err)
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 16,
	}
}

// NewAtlas is the Atlas adapter of cfg's integrations, on opts' clock and
// log (`jitbot check -online` and the offline verbs use it without a Main).
func NewAtlas(ctx context.Context, cfg *config.Config, opts Options) (*atlas.Provisioner, error) {
	return atlas.New(ctx, atlasConfig(cfg, opts))
}

// atlasCounters exposes the Atlas adapter's call counters as metrics.
func atlasCounters(p *atlas.Provisioner) []counter {
	stat := func(pick func(atlas.Stats) int64) func() map[string]float64 {
		return func() map[string]float64 { return map[string]float64{"": float64(pick(p.Stats()))} }
	}
	return []counter{
		{name: "jitbot_atlas_calls_total", help: "Atlas Admin API calls by operation.", labels: []string{"operation"}, read: func() map[string]float64 {
			out := map[string]float64{}
			for op, n := range p.Stats().Calls {
				out[op] = float64(n)
			}
			return out
		}},
		{name: "jitbot_atlas_errors_total", help: "Atlas calls that failed.", read: stat(func(s atlas.Stats) int64 { return s.Errors })},
		{name: "jitbot_atlas_retries_total", help: "Atlas calls retried.", read: stat(func(s atlas.Stats) int64 { return s.Retries })},
		{name: "jitbot_atlas_rate_limited_total", help: "Atlas answers of 429 Too Many Requests.", read: stat(func(s atlas.Stats) int64 { return s.RateLimited })},
		// The change-status watchers (their polls are getClusterStatus in
		// jitbot_atlas_calls_total).
		{name: "jitbot_atlas_watchers", help: "Clusters whose change status is being polled now (one watcher per project and cluster).", gauge: true,
			read: func() map[string]float64 { return map[string]float64{"": float64(p.WatchStats().Watchers)} }},
		{name: "jitbot_atlas_apply_waits", help: "Waits for Atlas to apply a change (a grant's, a rotation's) not yet answered.", gauge: true,
			read: func() map[string]float64 { return map[string]float64{"": float64(p.WatchStats().Waiting)} }},
		{name: "jitbot_atlas_apply_waits_total", help: "Waits for Atlas to apply a change, by outcome: applied, timed_out (not APPLIED within the apply timeout), failed (an Atlas error, or the caller gave up).",
			labels: []string{"result"}, read: func() map[string]float64 {
				s := p.WatchStats()
				return map[string]float64{"applied": float64(s.Applied), "timed_out": float64(s.TimedOut), "failed": float64(s.Failed)}
			}},
	}
}

func atlasConfig(cfg *config.Config, opts Options) atlas.Config {
	return atlas.Config{
		Integrations: cfg.Integrations, Clock: opts.Clock, Log: opts.Log.With("component", "atlas"), Sleep: opts.AtlasSleep,
	}
}

// Addr is where the HTTP server listens.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// AdminAddr is where the admin API and /metrics are served: the admin
// listener when admin_listen is set, else Addr.
func (m *Main) AdminAddr() string {
	if m.adminLn != nil {
		return m.adminLn.Addr().String()
	}
	return m.Addr()
}

// Service is the domain service (the demo and tests drive it directly).
func (m *Main) Service() *flows.Service { return m.svc }

// Store is the store.
func (m *Main) Store() Backend { return m.db }

// Started is closed once Run has swept once, resumed interrupted work and
// checked each dependency once: from then on jitbot has caught up with its
// downtime (the scenarios wait for it before they measure) and the admin
// status knows what is up.
func (m *Main) Started() <-chan struct{} { return m.started }

// Sweep does all that is due now, on jitbot's clock, as the schedules
// would: the demo and the scenarios step time with it.
func (m *Main) Sweep(ctx context.Context) {
	sweepFor(ctx, m.svc, m.clock, m.metrics, m.log, flows.SweepAll)
}

// routes returns the handlers of the public listener (Slack, Teams, the
// probes) and of the admin one (the admin API, /metrics, the probes). With
// no admin_listen they are one and the same mux.
func (m *Main) routes() (public, admin http.Handler) {
	pub := http.NewServeMux()
	adm := pub
	if m.cfg.AdminListen != "" {
		adm = http.NewServeMux()
	}
	probes := func(mux *http.ServeMux) {
		mux.HandleFunc("GET /healthz", healthz)
		mux.HandleFunc("GET /readyz", m.readyz)
	}
	probes(pub)
	if adm != pub {
		probes(adm)
	}
	adm.Handle("GET /metrics", promhttp.HandlerFor(m.metrics.reg, promhttp.HandlerOpts{}))
	api := &adminAPI{token: m.cfg.AdminToken, svc: m.svc, db: m.db, clock: m.clock, log: m.log.With("component", "admin"), status: m.status}
	if m.teams != nil {
		api.forgetTeams = m.teams.ForgetContact // its caches must forget too
	}
	api.routes(adm)
	if m.slack != nil {
		pub.Handle("/slack/", m.slack.Handler())
	}
	if m.teams != nil {
		pub.Handle("/teams/", m.teams.Handler())
	}
	if m.identity != nil {
		pub.Handle("/id/", m.identity.Handler())
	}
	return pub, adm
}

// Health is what /healthz answers: the process is alive, and which build
// it runs.
type Health struct {
	Status string `json:"status"` // always "ok": an answer is the proof
	buildinfo.Info
}

// healthz says the process is alive, and what it is (buildinfo).
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Info: buildinfo.Read()})
}

// readyz says whether this replica can take webhooks: the store is open
// and the listener is up. It does not look at Atlas, Slack or Teams: a
// webhook taken is committed and its work retried until they answer, and a
// replica taken out of the load balancer for their sake would only lose
// webhooks (their health is in /metrics and GET /admin/status).
func (m *Main) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	err := m.ready(ctx)
	cancel()
	if err != nil {
		// The probe may be reachable from outside: it names the part that
		// is down, and the log says why.
		var nr notReady
		part := "unknown"
		if errors.As(err, &nr) {
			part = nr.part
		}
		m.log.Warn("not ready", "part", part, "err", err)
		http.Error(w, "not ready: "+part, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// notReady is a failed readiness check: which part, and why.
type notReady struct {
	part string
	err  error
}

func (e notReady) Error() string { return e.part + ": " + e.err.Error() }
func (e notReady) Unwrap() error { return e.err }

// ready is nil when this replica can take webhooks.
func (m *Main) ready(ctx context.Context) error {
	if !m.serving.Load() {
		return notReady{"listener", errors.New("not serving (starting or shutting down)")}
	}
	if err := m.checkStore(ctx); err != nil {
		return notReady{"store", err}
	}
	return nil
}

// checkStore proves the store answers: on etcd, this replica reaches a
// quorum (a cheap read, with a short timeout; who leads is only in
// /metrics); on bbolt, a read of its state counters.
func (m *Main) checkStore(ctx context.Context) error {
	if p, ok := m.db.(pinger); ok {
		return p.Ping(ctx)
	}
	_, err := m.db.CountByState(ctx)
	return err
}

// pinger is a store that proves cheaply it can be reached (etcd).
type pinger interface {
	Ping(ctx context.Context) error
}

// Run serves until ctx is done, then shuts down gracefully. Before its
// schedules start it sweeps once, to catch up on anything that fell due
// while jitbot was down, and resumes what a previous process left half-done.
func (m *Main) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	m.serving.Store(true)
	go func() { serveErr <- m.server.Serve(m.ln) }()
	if m.adminServer != nil {
		go func() { serveErr <- m.adminServer.Serve(m.adminLn) }()
		m.log.Info("jitbot admin API and metrics", "addr", m.AdminAddr())
	}
	build := buildinfo.Read()
	m.log.Info("jitbot serving", "addr", m.Addr(), "version", build.Version, "revision", build.Revision)
	// Dependencies are checked in the background from now on: an Atlas
	// integration that does not answer degrades alone, nothing waits for it
	// (Started does, so that their state is known by then).
	checked := m.health.run(m.ctx, m.bg.Go, m.opts.NoScheduler)
	if !m.opts.NoScheduler {
		// Organization-wide integrations discover their projects and
		// clusters now and on a schedule (the loops end with m.atlas.Close).
		m.atlas.Catalog().Start(m.ctx)
	}
	m.inbox.Start() // resumes what a previous process received and did not finish
	if m.clocks != nil {
		m.bg.Go(func() { m.clocks.run(m.ctx) })
	}
	// What must run once runs on the leader: this replica, on bbolt. Until
	// it leads, it sends the credentials it keeps.
	m.held.start(m.ctx, m.bg.Go)
	m.bg.Go(func() {
		if err := m.lead.Run(m.ctx, m.leadTerm); err != nil && m.ctx.Err() == nil {
			m.log.Error("leadership stopped", "err", err)
		}
	})

	if m.syncGroups != nil && len(m.svc.Policy().UserGroups()) > 0 {
		// Groups that include Slack user groups have only their configured
		// members until the first sync; it must not wait for the schedule.
		m.bg.Go(m.syncGroups)
	}
	if m.opts.Reload != nil || m.opts.PolicyPoll > 0 {
		m.bg.Go(func() { m.watchPolicy(m.ctx) })
	}
	m.startSchedules(m.replicaSched)
	m.bg.Go(func() {
		// The sole leader has caught up with its downtime once its term
		// swept and resumed; a replica among others has no downtime of its
		// own to catch up with (the leader's term does, wherever it runs).
		if _, sole := m.lead.(soleLeader); sole {
			select {
			case <-m.firstTerm:
			case <-m.ctx.Done():
			}
		}
		select {
		case <-checked:
		case <-m.ctx.Done():
		}
		close(m.started)
	})
	if m.slack != nil && m.cfg.Slack.AppToken != "" {
		m.bg.Go(func() {
			if err := m.slack.RunSocketMode(m.ctx); err != nil && m.ctx.Err() == nil {
				m.log.Error("slack socket mode stopped", "err", err)
			}
		})
	}

	select {
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return m.Close()
	}
}

// leadTerm runs what must run once, while this replica leads (ctx ends
// when it stops leading): the outbox dispatcher, the audit sink streamers,
// and the sweep, reconcile, rotation and inbox purge schedules. On etcd,
// ctx carries the term's fence: a write made after the term ended fails.
func (m *Main) leadTerm(ctx context.Context) error {
	_, sole := m.lead.(soleLeader)
	if !sole {
		m.log.Info("leading: running the sweeps, the outbox and the audit sinks")
	}
	var work sync.WaitGroup
	// The term's dispatcher sends everything, what this replica holds too.
	m.held.stop()
	defer m.held.start(m.ctx, m.bg.Go)
	// The outbox resumes: what was decided and not yet said goes out,
	// credentials lost with the last process are reissued.
	d, err := m.outbox.begin()
	if err != nil {
		return err
	}
	defer m.outbox.end(d)
	// What writes and tells runs on the leader only: the inbox purge, the
	// monthly access review, the identity re-verification.
	leaderJobs := []job{{inboxPurgeSchedule, func() {
		if _, err := m.inbox.Purge(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("inbox purge failed", "err", err)
		}
	}}, {reviewSchedule, func() {
		if err := monthlyReview(ctx, m.db, m.clock, m.log); err != nil && ctx.Err() == nil {
			m.log.Error("access review failed", "err", err)
		}
	}}}
	if m.identity != nil {
		leaderJobs = append(leaderJobs, job{identitySweepSchedule, func() {
			if err := m.identity.Sweep(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("identity sweep failed", "err", err)
			}
		}})
	}
	if m.etcd != nil {
		leaderJobs = append(leaderJobs, m.etcd.leaderJobs(ctx, m.cfg.StoreEtcd.CompactionRetention())...)
	}
	sched, err := newScheduler(ctx, m.svc, m.clock, m.metrics, m.log.With("component", "scheduler"), leaderJobs...)
	if err != nil {
		return err
	}
	work.Go(func() {
		// The sweep first, then the schedules: what expired while jitbot was
		// down, or expires from now on, must not wait behind the resumed
		// provisionings (each may wait long on Atlas, and in a crash loop
		// they would never let an expiry run). The sweeps leave alone the
		// work a dead process held a lease on; Resume finishes it,
		// revocations first, alongside them.
		if m.offline != nil {
			// What this replica deleted while the store could not be
			// reached is recorded first, as such, rather than found due
			// again by the sweep.
			m.offline.tick(ctx)
		}
		sweepFor(ctx, m.svc, m.clock, m.metrics, m.log, flows.SweepEnds)
		// Then the outbox, and each audit sink on its own worker from its
		// own cursor: a new leader inherits a backlog of both (what the
		// replicas did while none led), and its first sweep, the grants
		// that fell due meanwhile, must not queue behind it in the store
		// (the HA scenario: failovers of 22 s against the 20 s bound).
		work.Go(func() { d.Run(ctx) })
		m.audit.Run(ctx, work.Go)
		m.startLeaderSchedules(sched)
		if n, err := m.svc.Resume(ctx); err != nil {
			m.log.Error("resume failed", "err", err)
		} else if n > 0 {
			m.log.Info("resumed interrupted work", "requests", n)
		}
		m.firstTermOnce.Do(func() { close(m.firstTerm) })
		if !sole && !m.opts.NoScheduler {
			// A new leader: the last one may have died between an Atlas
			// call and recording it (a late create, a delete not
			// recorded); reconcile finds what is not as the store says.
			reconcile(ctx, m.svc, m.metrics, m.log)
		}
	})
	<-ctx.Done()
	m.stopLeaderSchedules(sched)
	work.Wait()
	return nil
}

// startSchedules starts c, unless the caller runs the schedules
// (NoScheduler) or Close came first.
func (m *Main) startSchedules(c *cron.Cron) {
	m.schedMu.Lock()
	defer m.schedMu.Unlock()
	if !m.opts.NoScheduler && !m.schedClosed {
		c.Start()
	}
}

// startLeaderSchedules starts a term's schedules.
func (m *Main) startLeaderSchedules(c *cron.Cron) {
	m.schedMu.Lock()
	m.sched = c
	m.schedMu.Unlock()
	m.startSchedules(c)
}

// stopLeaderSchedules stops a term's schedules and waits for their jobs.
func (m *Main) stopLeaderSchedules(c *cron.Cron) {
	m.schedMu.Lock()
	if m.sched == c {
		m.sched = nil
	}
	m.schedMu.Unlock()
	<-c.Stop().Done()
}

// Close stops taking work, lets in-flight work finish within a bound, and
// closes the store.
func (m *Main) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		m.serving.Store(false)
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if m.server != nil {
			if err := m.server.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
		} else if m.ln != nil {
			_ = m.ln.Close()
		}
		if m.adminServer != nil {
			if err := m.adminServer.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("admin http shutdown: %w", err))
			}
		}
		if m.adminLn != nil {
			_ = m.adminLn.Close() // Shutdown closes it only if Serve ran
		}
		m.schedMu.Lock()
		m.schedClosed = true
		scheds := []*cron.Cron{m.sched, m.replicaSched}
		m.schedMu.Unlock()
		for _, c := range scheds {
			if c == nil {
				continue
			}
			select {
			case <-c.Stop().Done():
			case <-sctx.Done():
				errs = append(errs, errors.New("scheduled jobs did not finish in time"))
			}
		}
		if m.slack != nil {
			if err := m.slack.Close(); err != nil {
				errs = append(errs, named("slack", err))
			}
		}
		if m.teams != nil {
			if err := m.teams.Close(); err != nil {
				errs = append(errs, named("teams", err))
			}
		}
		if m.inbox != nil {
			if err := m.inbox.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.cancel != nil {
			m.cancel()
		}
		done := make(chan struct{})
		go func() {
			m.bg.Wait()
			if m.offline != nil {
				m.offline.bg.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-sctx.Done():
			errs = append(errs, errors.New("background work did not finish in time"))
		}
		if err := m.audit.Close(); err != nil {
			errs = append(errs, named("audit", err))
		}
		if m.atlas != nil {
			m.atlas.Close()
		}
		if m.db != nil {
			if err := m.db.Close(); err != nil {
				errs = append(errs, named("store", err))
			}
		}
	})
	return errors.Join(errs...)
}

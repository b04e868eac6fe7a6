package flows

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Config tunes the service. Zero values take the defaults noted.
type Config struct {
	Policy *Policy
	// RemindBefore is how long before expiry the requester is reminded (15m).
	RemindBefore time.Duration
	// BackstopGrace is how long after expiry Atlas removes a grant by itself
	// should jitbot fail to (1h), for the kinds with a Backstopper.
	BackstopGrace time.Duration
	// Lease is how long one provisioning attempt holds the request before
	// another worker may take it over (15s). An attempt that waits longer
	// on Atlas (an apply) renews it every third of a lease; one whose
	// process died is taken over by the next sweep after its lease, on
	// whichever replica runs the sweeps.
	Lease time.Duration
	// RevokeLease is the same for a revocation (10s). A delete is one
	// idempotent call (gone already is done), so a second delete after a
	// slow first costs nothing, while a leader that dies after claiming
	// its sweep's revocations leaves them to the next leader only when
	// their leases run out: with several replicas that must fit in the
	// failover bound (20 s from the death, 10 s of which the election
	// takes).
	RevokeLease time.Duration
	// ProvisionAttempts is how many times creating a user is tried before the
	// request fails (5).
	ProvisionAttempts int
	// RevokeAlertAfter is how many failed deletes flag a grant revoke_failed
	// and alert the admins; retries continue (6).
	RevokeAlertAfter int
	// RetryBase and RetryMax bound the exponential backoff between attempts
	// (2s and 1m); each wait has ±50% jitter.
	RetryBase, RetryMax time.Duration
	// RotateAfter is the age at which an active grant's secret is replaced
	// by RotateDue (24h; negative disables).
	RotateAfter time.Duration
	// RateLimits per integration let the sweep start revocations early enough
	// to finish on time under Atlas's rate limit.
	RateLimits map[string]RateLimit
	// SweepInterval is how often Sweep runs (5s). A sweep revokes grants that
	// would expire before the next one, so no grant outlives its deadline by
	// waiting for a tick.
	SweepInterval time.Duration
	// SweepBatch bounds the due requests handled per sweep (1000).
	SweepBatch int
	// Workers bounds concurrent Atlas operations in a sweep (8).
	Workers int
	// MaxLiveRequests caps the requests one person may have under way
	// (pending, being set up, active, being removed) at once (10). One
	// person must not be able to fill the approvers' chats or the sweeps.
	MaxLiveRequests int
	// Replica names this process among the replicas on one store ("" with
	// one replica): the events that announce credentials it keeps say so
	// (Event.Keeper), so that it sends them itself.
	Replica string
}

// Deps are the ports the service uses.
type Deps struct {
	Store Store
	// Provisioners has one provisioner for each kind the policy's flows
	// grant; each also serves reconcile when it is an Inventory.
	Provisioners Provisioners
	Catalog      Catalog
	// Secrets holds the credentials of a grant in memory until the message
	// with them is sent. Required.
	Secrets SecretKeeper
	// Notifier, optional, observes every committed event (metrics, waking
	// the dispatcher).
	Notifier Notifier
	// OnCall says who is on call (PagerDuty), for flows with an oncall
	// rule; Tickets reads tickets (Jira), for flows with a ticket rule.
	// Required by a policy with such flows.
	OnCall  OnCall
	Tickets Tickets
	// Locks serialise the provisioners' calls on a shared target among the
	// processes on one store (the etcd store's); nil: this process's own,
	// enough for a store one process serves (bbolt).
	Locks Locks
	Clock Clock
	Log   *slog.Logger
}

// Service runs access requests through their lives.
type Service struct {
	cfg Config
	// policy is the policy in force. A reload swaps it (SetPolicy) while
	// requests run: an operation reads it once and keeps to what it read.
	policy  atomic.Pointer[Policy]
	store   Store
	provs   Provisioners
	catalog Catalog
	secrets SecretKeeper
	notify  Notifier
	oncall  OnCall
	tickets Tickets
	clock   Clock
	// Answers of PagerDuty and Jira, kept briefly (oncall.go, tickets.go).
	oncallCache onCallCache
	ticketCache ticketCache
	log         *slog.Logger
	// targets serialize the Atlas calls on one shared target (shared.go).
	targets Locks
	// submitters serialize one person's submissions from their checks to
	// their commit (submit.go).
	submitters targetLocks
	// started is when this service began: a lease that runs out before
	// started + Lease was taken by a process that is gone (see Resume).
	started time.Time
}

// NewService checks the configuration and dependencies and applies defaults.
func NewService(cfg Config, deps Deps) (*Service, error) {
	if cfg.Policy == nil {
		return nil, errors.New("flows: a policy is required")
	}
	if deps.Store == nil || len(deps.Provisioners) == 0 || deps.Catalog == nil || deps.Secrets == nil {
		return nil, errors.New("flows: store, provisioners, catalog and a secret keeper are required")
	}
	provs, err := checkProvisioners(cfg.Policy, deps.Provisioners)
	if err != nil {
		return nil, err
	}
	if err := checkServices(cfg.Policy, deps.OnCall, deps.Tickets); err != nil {
		return nil, err
	}
	setDefault(&cfg.RemindBefore, 15*time.Minute)
	setDefault(&cfg.BackstopGrace, time.Hour)
	setDefault(&cfg.Lease, 15*time.Second)
	setDefault(&cfg.RevokeLease, 10*time.Second)
	setDefault(&cfg.ProvisionAttempts, 5)
	setDefault(&cfg.RevokeAlertAfter, 6)
	setDefault(&cfg.RetryBase, 2*time.Second)
	setDefault(&cfg.RetryMax, time.Minute)
	setDefault(&cfg.RotateAfter, 24*time.Hour)
	setDefault(&cfg.SweepInterval, 5*time.Second)
	setDefault(&cfg.SweepBatch, 1000)
	setDefault(&cfg.MaxLiveRequests, 10)
	setDefault(&cfg.Workers, 8)
	for name, rl := range cfg.RateLimits {
		if rl.Capacity < 1 || rl.Refill < 1 || rl.Per <= 0 {
			return nil, fmt.Errorf("flows: rate limit of integration %q: capacity, refill and period must be positive", name)
		}
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Locks == nil {
		deps.Locks = &targetLocks{}
	}
	s := &Service{
		cfg: cfg, store: deps.Store, provs: provs,
		catalog: deps.Catalog, secrets: deps.Secrets, notify: deps.Notifier, oncall: deps.OnCall, tickets: deps.Tickets, clock: deps.Clock, log: deps.Log, started: deps.Clock.Now(),
		targets: deps.Locks,
	}
	s.policy.Store(cfg.Policy)
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Policy returns the policy in force.
func (s *Service) Policy() *Policy { return s.policy.Load() }

// SetPolicy puts p in force from now on: requests submitted from now are
// routed by it, and every approval is checked against it at the click
// (Decide). Requests under way keep what they copied from their flow at
// submission (quorum, durations). p must grant only kinds the service has a
// provisioner for; otherwise it is refused and the policy in force stays.
func (s *Service) SetPolicy(p *Policy) error {
	if p == nil {
		return errors.New("flows: a policy is required")
	}
	if _, err := checkProvisioners(p, s.provs); err != nil {
		return err
	}
	if err := checkServices(p, s.oncall, s.tickets); err != nil {
		return err
	}
	s.policy.Store(p)
	return nil
}

// RemindBefore is how long before expiry the requester is reminded.
func (s *Service) RemindBefore() time.Duration { return s.cfg.RemindBefore }

// checkServices refuses a policy whose flows need PagerDuty or Jira when
// the service has no port to them: such a flow would fall back or refuse
// every request, which is a configuration mistake to catch at start.
func checkServices(p *Policy, oncall OnCall, tickets Tickets) error {
	for _, f := range p.flows {
		if f.OnCall != nil && oncall == nil {
			return fmt.Errorf("flows: access flow %q approves the people on call, but no on-call service (pagerduty) is configured", f.Name)
		}
		if f.Ticket != nil && tickets == nil {
			return fmt.Errorf("flows: access flow %q checks tickets, but no ticket system (jira) is configured", f.Name)
		}
	}
	return nil
}

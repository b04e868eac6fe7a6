package flows

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config tunes the service. Zero values take the defaults noted.
type Config struct {
	Policy *Policy
	// RemindBefore is how long before expiry the requester is reminded (15m).
	RemindBefore time.Duration
	// BackstopGrace is how long after expiry Atlas deletes the user by itself
	// should jitbot fail to (1h).
	BackstopGrace time.Duration
	// Lease is how long one Atlas attempt may run before another worker may
	// take the request over (2m).
	Lease time.Duration
	// ProvisionAttempts is how many times creating a user is tried before the
	// request fails (5).
	ProvisionAttempts int
	// RevokeAlertAfter is how many failed deletes flag a grant revoke_failed
	// and alert the admins; retries continue (6).
	RevokeAlertAfter int
	// RetryBase and RetryMax bound the exponential backoff between attempts
	// (2s and 1m); each wait has ±50% jitter.
	RetryBase, RetryMax time.Duration
	// RotateAfter is the age at which an active grant's password is rotated by
	// RotateDue (24h; negative disables).
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
}

// RateLimit is a token bucket: Capacity calls at once, refilled by Refill
// calls every Per.
type RateLimit struct {
	Capacity int
	Refill   int
	Per      time.Duration
}

// Deps are the ports the service uses.
type Deps struct {
	Store       Store
	Provisioner Provisioner
	Inventory   Inventory
	Catalog     Catalog
	Notifier    Notifier
	Clock       Clock
	Log         *slog.Logger
}

// Service runs access requests through their lives.
type Service struct {
	cfg     Config
	policy  *Policy
	store   Store
	prov    Provisioner
	inv     Inventory
	catalog Catalog
	notify  Notifier
	clock   Clock
	log     *slog.Logger
	// started is when this service began: a lease that runs out before
	// started + Lease was taken by a process that is gone (see Resume).
	started time.Time
}

// NewService checks the configuration and dependencies and applies defaults.
func NewService(cfg Config, deps Deps) (*Service, error) {
	if cfg.Policy == nil {
		return nil, errors.New("flows: a policy is required")
	}
	if deps.Store == nil || deps.Provisioner == nil || deps.Catalog == nil || deps.Notifier == nil {
		return nil, errors.New("flows: store, provisioner, catalog and notifier are required")
	}
	setDefault(&cfg.RemindBefore, 15*time.Minute)
	setDefault(&cfg.BackstopGrace, time.Hour)
	setDefault(&cfg.Lease, 2*time.Minute)
	setDefault(&cfg.ProvisionAttempts, 5)
	setDefault(&cfg.RevokeAlertAfter, 6)
	setDefault(&cfg.RetryBase, 2*time.Second)
	setDefault(&cfg.RetryMax, time.Minute)
	setDefault(&cfg.RotateAfter, 24*time.Hour)
	setDefault(&cfg.SweepInterval, 5*time.Second)
	setDefault(&cfg.SweepBatch, 1000)
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
	return &Service{
		cfg: cfg, policy: cfg.Policy, store: deps.Store, prov: deps.Provisioner, inv: deps.Inventory,
		catalog: deps.Catalog, notify: deps.Notifier, clock: deps.Clock, log: deps.Log, started: deps.Clock.Now(),
	}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Policy returns the policy in force.
func (s *Service) Policy() *Policy { return s.policy }

// RemindBefore is how long before expiry the requester is reminded.
func (s *Service) RemindBefore() time.Duration { return s.cfg.RemindBefore }

// liveStates are the states in which a request still matters to its requester.
var liveStates = []State{StatePending, StateApproved, StateProvisioning, StateActive, StateRevoking, StateRevokeFailed}

// SubmitInput is a request for access as a person made it.
type SubmitInput struct {
	Requester string
	Resource  Resource
	Role      string
	Duration  time.Duration // zero: the flow's default
	Reason    string
	Origin    string // the chat platform, so private messages go back there
	// IdempotencyKey identifies the delivery (a Slack trigger id, a Teams
	// activity id): a replay returns the request already made.
	IdempotencyKey string
}

const maxReason = 500

// Submit checks a request against the policy, routes it to its approvers and
// records it; an auto-approved request is provisioned before Submit returns.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Request, error) {
	requester, err := NormalizeEmail(in.Requester)
	if err != nil {
		return nil, err
	}
	if in.IdempotencyKey != "" {
		if prior, err := s.store.Find(ctx, Query{IdempotencyKey: in.IdempotencyKey}); err != nil {
			return nil, fmt.Errorf("flows: submit: %w", err)
		} else if len(prior) > 0 {
			return prior[0], nil
		}
	}
	if err := in.Resource.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateRole(in.Role); err != nil {
		return nil, err
	}
	if err := checkRoleForResource(in.Role, in.Resource); err != nil {
		return nil, err
	}
	integration, ok := s.policy.Integration(in.Resource.Integration)
	if !ok {
		return nil, Errorf(ENOTFOUND, "there is no integration %q", in.Resource.Integration)
	}
	cluster, err := s.cluster(ctx, in.Resource)
	if err != nil {
		return nil, err
	}
	flow, err := s.policy.Match(requester, in.Resource, in.Role)
	if err != nil {
		return nil, err
	}
	d := in.Duration
	if d == 0 {
		d = flow.DefaultDuration
	}
	switch {
	case d < time.Minute:
		return nil, Errorf(EINVALID, "ask for at least 1 minute")
	case d > flow.MaxDuration:
		return nil, Errorf(EINVALID, "%s is longer than the %s that access flow %s allows", FormatDuration(d), FormatDuration(flow.MaxDuration), flow.Name)
	}
	reason := strings.TrimSpace(in.Reason)
	if len(reason) > maxReason {
		return nil, Errorf(EINVALID, "the reason is %d characters long; keep it under %d", len(reason), maxReason)
	}
	if reason == "" && flow.RequireReason {
		return nil, Errorf(EINVALID, "access flow %s requires a reason: say why you need access (a ticket or incident id helps)", flow.Name)
	}
	approvers := s.approvers(flow, integration, cluster, requester)
	if !flow.AutoApprove {
		if len(approvers) == 0 {
			return nil, Errorf(EFORBIDDEN, "nobody but you could approve access to %s: ask an admin to set the cluster's %q tag or the integration's owners", in.Resource, integration.OwnerTag)
		}
		if flow.Approvals > len(approvers) {
			return nil, Errorf(EFORBIDDEN, "access flow %s needs %d approvals but only %d people other than you can approve %s", flow.Name, flow.Approvals, len(approvers), in.Resource)
		}
	}
	mine, err := s.store.Find(ctx, Query{Requester: requester, States: liveStates})
	if err != nil {
		return nil, fmt.Errorf("flows: submit: %w", err)
	}
	for _, r := range mine {
		if r.Resource == in.Resource && r.Role == in.Role {
			return nil, Errorf(ECONFLICT, "you already have request %s for %s on %s (%s); extend it or cancel it instead", r.ID, r.Role, r.Resource, r.describeState())
		}
	}

	now := s.clock.Now()
	r := &Request{
		ID: newID(), Requester: requester, Resource: in.Resource, Role: in.Role, Duration: d,
		Reason: reason, Origin: in.Origin, Flow: flow.Name, Approvers: approvers, Quorum: flow.Approvals,
		MaxDuration: flow.MaxDuration, DenyReasonRequired: flow.RequireReason,
		ExtendNeedsApproval: flow.ExtendRequiresApproval && !flow.AutoApprove,
		ApprovalsChannel:    flow.ApprovalsChannel,
		State:               StatePending, CreatedAt: now, UpdatedAt: now, PendingUntil: now.Add(flow.PendingTTL),
	}
	ev := Event{Type: EventSubmitted, RequestID: r.ID, Actor: requester, At: now, To: StatePending, Message: reason, Duration: d}
	stored, created, err := s.store.Create(ctx, r, ev, in.IdempotencyKey)
	if err != nil {
		return nil, fmt.Errorf("flows: submit: %w", err)
	}
	if !created {
		return stored, nil
	}
	s.log.InfoContext(ctx, "request submitted", "request_id", r.ID, "requester", requester, "resource", r.Resource.String(), "role", r.Role, "flow", flow.Name)
	if flow.AutoApprove {
		stored, err = s.transition(ctx, r.ID, func(r *Request, now time.Time) (Event, error) { return r.AutoApprove(now) })
		if err != nil {
			return nil, err
		}
		s.provision(ctx, r.ID, respectLease)
		return s.store.Get(ctx, r.ID)
	}
	s.announce(ctx, ev, stored, nil)
	return stored, nil
}

// cluster finds the resource's cluster in the catalog.
func (s *Service) cluster(ctx context.Context, r Resource) (Cluster, error) {
	clusters, err := s.catalog.Clusters(ctx, r.Integration)
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			return Cluster{}, WrapError(EUNAVAILABLE, err, "could not list the clusters of %s right now; try again in a minute", r.Integration)
		}
		return Cluster{}, err
	}
	names := make([]string, 0, len(clusters))
	for _, c := range clusters {
		if c.Name == r.Cluster {
			return c, nil
		}
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return Cluster{}, Errorf(EINVALID, "there is no cluster %q in %s; its clusters are: %s", r.Cluster, r.Integration, strings.Join(names, ", "))
}

// approvers resolves a flow's approver rules into people, never including the
// requester. Owners come from the cluster's owner tag; when it names nobody
// else, the integration's owners stand in.
func (s *Service) approvers(f *Flow, in *Integration, c Cluster, requester string) []string {
	var out []string
	add := func(emails []string) {
		for _, e := range emails {
			if e != requester {
				out = append(out, e)
			}
		}
	}
	integrationOwners := func() []string {
		var emails []string
		for _, o := range in.Owners {
			emails = append(emails, s.policy.expand(o)...)
		}
		return emails
	}
	for _, a := range f.Approvers {
		switch a.Kind {
		case Owners:
			owners := s.ownerEmails(c, in)
			if !slices.ContainsFunc(owners, func(e string) bool { return e != requester }) {
				owners = integrationOwners()
			}
			add(owners)
		case IntegrationOwners:
			add(integrationOwners())
		default:
			add(s.policy.expand(a))
		}
	}
	return dedupe(out)
}

// ownerEmails reads the owner tag's tokens: emails, user:<email> or group:<name>.
func (s *Service) ownerEmails(c Cluster, in *Integration) []string {
	var out []string
	for _, tok := range c.Owners {
		kind, name, found := strings.Cut(tok, ":")
		if !found {
			kind, name = string(User), tok
		}
		switch PrincipalKind(kind) {
		case User:
			if email, err := NormalizeEmail(name); err == nil {
				out = append(out, email)
				continue
			}
		case Group:
			if members := s.policy.GroupMembers(name); len(members) > 0 {
				out = append(out, members...)
				continue
			}
		}
		s.log.Warn("ignoring an owner tag value that names nobody", "integration", in.Name, "cluster", c.Name, "tag", in.OwnerTag, "value", tok)
	}
	return out
}

// DecideInput is an approver's click.
type DecideInput struct {
	RequestID string
	Actor     string
	Approve   bool
	Reason    string
	// Extension is the number of the extension decided on; 0 for the request.
	Extension int
}

// Decide records an approval or a denial. The click is authorized here, on the
// current state: the actor must be an approver of this request and not its
// requester, and the request (or extension) must still wait for a decision.
// A repeated click changes nothing and says so.
func (s *Service) Decide(ctx context.Context, in DecideInput) (*Request, error) {
	actor, err := NormalizeEmail(in.Actor)
	if err != nil {
		return nil, err
	}
	var ev Event
	r, err := s.transition(ctx, in.RequestID, func(r *Request, now time.Time) (Event, error) {
		var e Event
		var err error
		switch {
		case in.Extension > 0:
			e, err = r.DecideExtension(in.Extension, actor, in.Approve, in.Reason, now, s.cfg.RemindBefore)
		case in.Approve:
			e, err = r.Approve(actor, now)
		default:
			e, err = r.Deny(actor, in.Reason, now)
		}
		ev = e
		return e, err
	})
	if err != nil {
		return nil, err
	}
	switch ev.Type {
	case EventApproved:
		s.provision(ctx, r.ID, respectLease)
		return s.store.Get(ctx, r.ID)
	case EventExtended:
		s.moveBackstop(ctx, r.ID)
	}
	return r, nil
}

// Cancel withdraws a pending request.
func (s *Service) Cancel(ctx context.Context, id, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		return r.Cancel(actor, s.policy.IsAdmin(actor), now)
	})
}

// Extend lengthens an active grant, or asks its approvers to.
func (s *Service) Extend(ctx context.Context, id, actor string, d time.Duration) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	var ev Event
	r, err := s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		e, err := r.Extend(actor, d, now, s.cfg.RemindBefore)
		ev = e
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if ev.Type == EventExtended {
		s.moveBackstop(ctx, id)
	}
	return r, nil
}

// Revoke ends access early. The requester, the request's approvers and admins
// may revoke; a pending request revoked by its requester is cancelled.
func (s *Service) Revoke(ctx context.Context, id, actor, reason string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	admin := s.policy.IsAdmin(actor)
	r, err := s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		if actor != r.Requester && !admin && !slices.Contains(r.Approvers, actor) {
			return Event{}, Errorf(EFORBIDDEN, "only %s, the request's approvers and admins can revoke request %s", r.Requester, r.ID)
		}
		if r.State == StatePending {
			if actor != r.Requester && !admin {
				return Event{}, Errorf(ECONFLICT, "request %s is still pending: deny it instead", r.ID)
			}
			return r.Cancel(actor, admin, now)
		}
		if reason == "" {
			reason = "revoked by " + actor
		}
		return r.StartRevoking(now, actor, StateRevoked, reason)
	})
	if err != nil {
		return nil, err
	}
	if r.State == StateRevoking {
		s.revoke(ctx, id, respectLease)
		return s.store.Get(ctx, id)
	}
	return r, nil
}

// Rotate gives an active grant a new password and sends it to its requester,
// for a requester who lost the first message.
func (s *Service) Rotate(ctx context.Context, id, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester != actor {
		return nil, Errorf(EFORBIDDEN, "only %s can get new credentials for request %s", r.Requester, r.ID)
	}
	if r.State != StateActive {
		return nil, Errorf(ECONFLICT, "request %s is %s, not active", r.ID, r.describeState())
	}
	return s.rotate(ctx, r)
}

// Get returns a request the actor may see: their own, one they approve, or
// any for an admin.
func (s *Service) Get(ctx context.Context, id, actor string) (*Request, error) {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester != actor && !slices.Contains(r.Approvers, actor) && !s.policy.IsAdmin(actor) {
		return nil, Errorf(ENOTFOUND, "there is no request %s that you can see", id)
	}
	return r, nil
}

// Mine lists the person's requests that are not over yet, newest first.
func (s *Service) Mine(ctx context.Context, actor string) ([]*Request, error) {
	return s.store.Find(ctx, Query{Requester: actor, States: liveStates})
}

// Pending lists the requests and extensions waiting for the person's approval.
func (s *Service) Pending(ctx context.Context, actor string) ([]*Request, error) {
	rs, err := s.store.Find(ctx, Query{Approver: actor})
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if slices.Contains(r.AwaitingApprovalFrom(), actor) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Requests lists requests for admins.
func (s *Service) Requests(ctx context.Context, q Query) ([]*Request, error) {
	return s.store.Find(ctx, q)
}

// Choice is something a person may ask for: a database (or one collection),
// the roles they may ask for on it, and the durations allowed.
type Choice struct {
	Resource        Resource // Database empty: any database of the cluster the flows cover
	Roles           []string
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	RequireReason   bool
}

// Options lists what the person may ask for, from the flows that admit them
// and the databases the catalog offers.
func (s *Service) Options(ctx context.Context, actor string) ([]Choice, error) {
	flows := s.policy.RequesterFlows(actor)
	var out []Choice
	var lastErr error
	for _, in := range s.policy.integrations {
		var roles []string
		for _, f := range flows {
			if f.Integration == in.Name {
				roles = append(roles, f.Roles...)
			}
		}
		if len(roles) == 0 {
			continue
		}
		slices.Sort(roles)
		roles = slices.Compact(roles)
		clusters, err := s.catalog.Clusters(ctx, in.Name)
		if err != nil {
			lastErr = err
			s.log.WarnContext(ctx, "catalog unavailable", "integration", in.Name, "err", err)
			continue
		}
		for _, c := range clusters {
			for _, res := range candidates(in.Name, c) {
				if ch, ok := s.choice(actor, res, roles); ok {
					out = append(out, ch)
				}
			}
			if ch, ok := anyDatabaseChoice(in.Name, c.Name, flows); ok {
				out = append(out, ch)
			}
		}
	}
	if len(out) == 0 && lastErr != nil {
		return nil, WrapError(EUNAVAILABLE, lastErr, "could not list the clusters right now; try again in a minute")
	}
	return out, nil
}

func candidates(integration string, c Cluster) []Resource {
	dbs := make([]string, 0, len(c.Databases))
	for db := range c.Databases {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	var out []Resource
	for _, db := range dbs {
		out = append(out, Resource{Integration: integration, Cluster: c.Name, Database: db})
		colls := slices.Clone(c.Databases[db])
		sort.Strings(colls)
		for _, coll := range colls {
			out = append(out, Resource{Integration: integration, Cluster: c.Name, Database: db, Collection: coll})
		}
	}
	return out
}

func (s *Service) choice(actor string, res Resource, roles []string) (Choice, bool) {
	if res.Validate() != nil {
		return Choice{}, false
	}
	ch := Choice{Resource: res}
	for _, role := range roles {
		if checkRoleForResource(role, res) != nil {
			continue
		}
		f, err := s.policy.Match(actor, res, role)
		if err != nil {
			continue
		}
		if len(ch.Roles) == 0 {
			ch.DefaultDuration, ch.MaxDuration, ch.RequireReason = f.DefaultDuration, f.MaxDuration, f.RequireReason
		}
		ch.Roles = append(ch.Roles, role)
	}
	return ch, len(ch.Roles) > 0
}

// anyDatabaseChoice offers a cluster whose flows cover every database (a
// pattern such as Cluster0 or Cluster0/*), so a person can name a database the
// configuration does not list.
func anyDatabaseChoice(integration, cluster string, flows []*Flow) (Choice, bool) {
	ch := Choice{Resource: Resource{Integration: integration, Cluster: cluster}}
	var allowed []string
	for _, f := range flows {
		if f.Integration != integration {
			continue
		}
		for _, g := range f.Resources {
			segs := strings.Split(g, "/")
			if len(segs) > 2 || (len(segs) == 2 && segs[1] != "*") {
				continue
			}
			if ok, _ := path.Match(segs[0], cluster); ok {
				if len(allowed) == 0 {
					ch.DefaultDuration, ch.MaxDuration, ch.RequireReason = f.DefaultDuration, f.MaxDuration, f.RequireReason
				}
				allowed = append(allowed, f.Roles...)
			}
		}
	}
	slices.Sort(allowed)
	ch.Roles = slices.Compact(allowed)
	return ch, len(ch.Roles) > 0
}

// transition applies one state-machine step inside a store transaction and
// announces its event.
func (s *Service) transition(ctx context.Context, id string, step func(r *Request, now time.Time) (Event, error)) (*Request, error) {
	var ev Event
	r, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		e, err := step(r, s.clock.Now())
		if err != nil {
			return nil, err
		}
		ev = e
		return []Event{e}, nil
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ev, r, nil)
	return r, nil
}

// announce hands an event to the notifier, with the people the domain wants
// told. A notification failure never undoes the transition: it is logged.
func (s *Service) announce(ctx context.Context, ev Event, r *Request, creds *Credentials) error {
	n := Notice{Event: ev, Request: r, To: s.audience(ev, r), Credentials: creds}
	err := s.notify.Notify(ctx, n)
	if err != nil {
		s.log.WarnContext(ctx, "notification failed", "request_id", ev.RequestID, "event", string(ev.Type), "err", err)
	}
	return err
}

// audience decides who is told of an event directly.
//
// An approval tells the requester nothing by itself: the credentials follow
// within seconds and name the approvers, and a slow or failed set-up has its
// own message (EventApplyDelayed, EventProvisionFailed). One message instead
// of two keeps the approval click to the credentials on the shortest path
// (DESIGN §8: two chat calls) and Slack's one-post-per-second pacing out of it.
func (s *Service) audience(ev Event, r *Request) []string {
	admins := s.policy.Admins()
	if r == nil {
		return admins
	}
	requester := []string{r.Requester}
	switch ev.Type {
	case EventSubmitted, EventExtensionRequested:
		return r.AwaitingApprovalFrom()
	case EventDenied, EventTimedOut, EventActivated, EventReminder,
		EventExtended, EventExtensionDenied, EventExpired, EventRevoked, EventApplyDelayed, EventCredentialsRotated:
		return requester
	case EventCancelled:
		if ev.Actor != r.Requester {
			return requester
		}
	case EventProvisionFailed, EventRevokeFailed:
		return dedupe(append(requester, admins...))
	case EventCredentialsUndelivered, EventOrphanDeleted, EventGrantMissing:
		return admins
	}
	return nil
}

// newID returns a short random request id that people can type: ten
// characters from an alphabet without look-alikes (50 bits).
func newID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("flows: crypto/rand failed: " + err.Error()) // the runtime guarantees it does not
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Username is the Atlas database user for a request: unique per request and
// derived from it, so a repeated create finds the same user.
func Username(requester, requestID string) string {
	local, _, _ := strings.Cut(strings.ToLower(requester), "@")
	clean := []byte(local)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			clean[i] = '-'
		}
	}
	if len(clean) > 24 {
		clean = clean[:24]
	}
	return "jit-" + string(clean) + "-" + requestID
}

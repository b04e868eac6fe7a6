package flows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a request is in its life (DESIGN §3).
type State string

// Request states.
const (
	StatePending      State = "pending"
	StateApproved     State = "approved"
	StateProvisioning State = "provisioning"
	StateActive       State = "active"
	StateRevoking     State = "revoking"
	StateRevokeFailed State = "revoke_failed"
	StateExpired      State = "expired"
	StateRevoked      State = "revoked"
	StateDenied       State = "denied"
	StateCancelled    State = "cancelled"
	StateTimedOut     State = "timed_out"
	StateFailed       State = "failed"
)

// States lists every state, live ones first (a new slice each call, so no
// caller can change another's).
func States() []State {
	return []State{
		StatePending, StateApproved, StateProvisioning, StateActive, StateRevoking, StateRevokeFailed,
		StateExpired, StateRevoked, StateDenied, StateCancelled, StateTimedOut, StateFailed,
	}
}

// Terminal reports whether nothing more can happen to a request in this state.
func (s State) Terminal() bool {
	switch s {
	case StateExpired, StateRevoked, StateDenied, StateCancelled, StateTimedOut, StateFailed:
		return true
	}
	return false
}

// HoldsAccess reports whether what the grant creates in Atlas may exist for
// a request in this state (it is being made, is in use, or is being removed).
func (s State) HoldsAccess() bool {
	switch s {
	case StateApproved, StateProvisioning, StateActive, StateRevoking, StateRevokeFailed:
		return true
	}
	return false
}

// Decision is one approver's approval or denial.
type Decision struct {
	By      string
	At      time.Time
	Approve bool
	Reason  string
	// MFA: the approval was made with a fresh multi-factor sign-in the
	// flow required (stepup.go).
	MFA bool
}

// Extension is a request to lengthen an active grant that waits for approval.
type Extension struct {
	Number      int
	By          string
	Duration    time.Duration
	RequestedAt time.Time
	Approvals   []Decision
}

// Request is one ask for access, from submission to its end, and the grant it
// leads to. Its methods are the state machine's transitions: each checks that
// it is allowed, changes the request, and returns the event that records it.
// They are pure (no I/O, time passed in) so the store can run them inside one
// transaction.
type Request struct {
	ID        RequestID
	Requester string
	Kind      Kind     // what is granted
	Resource  Resource // the target, in the kind's grammar
	// Auth is how a database user signs in: with a password (""), or
	// without one, through the identity provider or AWS IAM. Copied from
	// the flow, as the principal it names is.
	Auth     DatabaseAuth
	Roles    []string // sorted, each once
	Duration time.Duration
	Reason   string
	Origin   string // the chat platform the request came from

	// Copied from the flow at submission, so a later policy change does not
	// alter a request already under way. Who may still decide is the
	// exception: an approver the policy in force no longer names is refused
	// at the click (Service.Decide).
	Flow string
	// PolicyHash identifies the policy the request was routed under
	// (Policy.Hash); empty for requests made before it was recorded.
	PolicyHash          string
	Approvers           []string
	Quorum              int
	MaxDuration         time.Duration
	DenyReasonRequired  bool
	ExtendNeedsApproval bool
	ApprovalsChannel    string

	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
	Approvals []Decision
	Denial    *Decision

	PendingUntil time.Time // the pending TTL

	// Reminders and escalation while pending (escalate.go). The steps are
	// resolved into people when the request is made; Tier counts those
	// reached, whose approvers have joined Approvers (so approvals are
	// checked against the tiers reached, and nobody else). The due times
	// are part of DueAt, so the store's due index finds them after a crash.
	RemindApproversEvery time.Duration
	RemindApproversAt    time.Time // the next reminder of the approvers; zero: none
	Escalation           []EscalationStep
	Tier                 int
	// Requirements are the approvals needed from each of several groups
	// (conditions.go); the quorum is reached only when they are met too.
	Requirements []Requirement
	// OnCallApprovers are the approvers made so for being on call
	// (oncall.go), at submission or at their click; RoutingNote tells the
	// cards how the request was routed (outside working hours: hours.go;
	// who is on call, or that PagerDuty could not say: oncall.go; that Jira
	// could not check the ticket: tickets.go).
	OnCallApprovers []string
	RoutingNote     string
	// Ticket is the ticket the reason names (tickets.go); EndsWithTicket
	// ends the grant when the ticket is resolved, checked at
	// TicketCheckAt (part of DueAt).
	Ticket         string
	EndsWithTicket bool
	TicketCheckAt  time.Time
	// StartsAt is when a scheduled grant starts (scheduled.go); zero: when
	// approved.
	StartsAt time.Time
	// BreakGlass is the review of a break-glass use (breakglass.go); nil
	// for every other request.
	BreakGlass *Review
	// Guest is the external person a sponsor (the requester) asked for
	// (thirdparty.go); nil for every other request.
	Guest *Guest

	// The grant.
	Principal           string // what the grant creates in Atlas (a database user's name), decided before it is created
	ActivatedAt         time.Time
	ExpiresAt           time.Time
	RemindAt            time.Time // zero when no reminder is due
	BackstopAt          time.Time // Atlas deleteAfterDate
	BackstopRefreshAt   time.Time // when to move the backstop forward; zero when it is where it should be
	CredentialsIssuedAt time.Time
	Extension           *Extension // an extension waiting for approval
	Extensions          int        // extensions asked for so far
	// GrantState is what the kind's provisioner recorded of the grant
	// (Grant.Journal): the intent of each Atlas call, written before it, and
	// what it found. Opaque to everyone else.
	GrantState string

	// Side-effect bookkeeping: attempts at the current Atlas operation and when
	// the next may start (also a lease, so a second worker does not start it).
	Attempts      int
	NextAttemptAt time.Time
	LastError     string

	// How the grant ends.
	EndState  State // StateExpired or StateRevoked once revoking has begun
	EndedBy   string
	EndReason string
	EndedAt   time.Time
}

// Clone returns a deep copy.
func (r *Request) Clone() *Request {
	c := *r
	c.Roles = slices.Clone(r.Roles)
	c.Approvers = slices.Clone(r.Approvers)
	c.Approvals = slices.Clone(r.Approvals)
	c.OnCallApprovers = slices.Clone(r.OnCallApprovers)
	c.Escalation = cloneSteps(r.Escalation)
	c.BreakGlass = r.BreakGlass.clone()
	c.Requirements = slices.Clone(r.Requirements)
	for i := range c.Requirements {
		c.Requirements[i].Members = slices.Clone(r.Requirements[i].Members)
	}
	if r.Denial != nil {
		d := *r.Denial
		c.Denial = &d
	}
	if r.Extension != nil {
		e := *r.Extension
		e.Approvals = slices.Clone(r.Extension.Approvals)
		c.Extension = &e
	}
	return &c
}

// DueAt is when the request next needs the sweeper: the pending TTL, a retry,
// a reminder, the expiry or a backstop refresh. Zero means never.
func (r *Request) DueAt() time.Time {
	due := r.stateDueAt()
	// A break-glass review is due whatever became of the grant (breakglass.go).
	if at := r.reviewNudgeAt(); !at.IsZero() && (due.IsZero() || at.Before(due)) {
		due = at
	}
	return due
}

func (r *Request) stateDueAt() time.Time {
	switch r.State {
	case StatePending:
		due := r.PendingUntil
		if at := r.nextNudge(); !at.IsZero() && at.Before(due) {
			due = at
		}
		return due
	case StateApproved, StateProvisioning, StateRevoking, StateRevokeFailed:
		return r.NextAttemptAt
	case StateActive:
		due := r.ExpiresAt
		for _, t := range []time.Time{r.RemindAt, r.BackstopRefreshAt, r.TicketCheckAt} {
			if !t.IsZero() && t.Before(due) {
				due = t
			}
		}
		return due
	}
	return time.Time{}
}

// AwaitingApprovalFrom lists who can still move the request (or its pending
// extension) forward by approving: approvers who have not decided yet.
func (r *Request) AwaitingApprovalFrom() []string {
	var decided []Decision
	switch {
	case r.State == StatePending:
		decided = r.Approvals
	case r.State == StateActive && r.Extension != nil:
		decided = r.Extension.Approvals
	default:
		return nil
	}
	var out []string
	for _, a := range r.Approvers {
		if !slices.ContainsFunc(decided, func(d Decision) bool { return d.By == a }) {
			out = append(out, a)
		}
	}
	return out
}

func (r *Request) event(t EventType, actor string, now time.Time, from State) Event {
	r.UpdatedAt = now
	return Event{Type: t, RequestID: r.ID, Actor: actor, At: now, From: from, To: r.State, Principal: r.Principal}
}

// describeState says what has become of a request, for refusals.
func (r *Request) describeState() string {
	switch r.State {
	case StateDenied:
		if r.Denial != nil {
			return "denied by " + r.Denial.By
		}
	case StateApproved, StateProvisioning, StateActive:
		if len(r.Approvals) > 0 {
			names := make([]string, len(r.Approvals))
			for i, a := range r.Approvals {
				names[i] = a.By
			}
			return string(r.State) + " (approved by " + strings.Join(names, ", ") + ")"
		}
	case StateRevoked:
		if r.EndedBy != "" {
			return "revoked by " + r.EndedBy
		}
	}
	return strings.ReplaceAll(string(r.State), "_", " ")
}

func (r *Request) notPending(verb string) error {
	return Errorf(ECONFLICT, "cannot %s request %s: it is already %s", verb, r.ID, r.describeState())
}

func (r *Request) checkApprover(by, verb string) error {
	if by == r.Requester {
		return Errorf(EFORBIDDEN, "you cannot %s your own request", verb)
	}
	if !slices.Contains(r.Approvers, by) {
		return Errorf(EFORBIDDEN, "you are not an approver of request %s", r.ID)
	}
	return nil
}

// Approve records an approval; with the quorum reached, the request is approved.
func (r *Request) Approve(by string, now time.Time) (Event, error) {
	if r.State != StatePending {
		return Event{}, r.notPending("approve")
	}
	if err := r.checkApprover(by, "approve"); err != nil {
		return Event{}, err
	}
	if slices.ContainsFunc(r.Approvals, func(d Decision) bool { return d.By == by }) {
		return Event{}, Errorf(ECONFLICT, "you already approved request %s; it is waiting for %d more approval(s)", r.ID, r.Quorum-len(r.Approvals))
	}
	r.Approvals = append(r.Approvals, Decision{By: by, At: now, Approve: true})
	if len(r.Approvals) < r.Quorum || !r.requirementsMet() {
		ev := r.event(EventApprovalRecorded, by, now, StatePending)
		ev.Message = fmt.Sprintf("%d of %d approvals", len(r.Approvals), r.Quorum)
		if len(r.Requirements) > 0 {
			ev.Message = r.DescribeRequirements()
		}
		return ev, nil
	}
	r.State = StateApproved
	r.NextAttemptAt = r.provisionAt(now)
	return r.event(EventApproved, by, now, StatePending), nil
}

// AutoApprove approves a request whose flow needs no approver.
func (r *Request) AutoApprove(now time.Time) (Event, error) {
	if r.State != StatePending {
		return Event{}, r.notPending("approve")
	}
	r.State = StateApproved
	r.NextAttemptAt = r.provisionAt(now)
	return r.event(EventAutoApproved, SystemActor, now, StatePending), nil
}

// Deny ends a pending request. The reason is required when the flow says so.
func (r *Request) Deny(by, reason string, now time.Time) (Event, error) {
	if r.State != StatePending {
		return Event{}, r.notPending("deny")
	}
	if err := r.checkApprover(by, "deny"); err != nil {
		return Event{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" && r.DenyReasonRequired {
		return Event{}, Errorf(EINVALID, "say why you deny request %s: the requester will see your reason", r.ID)
	}
	r.Denial = &Decision{By: by, At: now, Reason: reason}
	r.State = StateDenied
	r.EndedAt = now
	ev := r.event(EventDenied, by, now, StatePending)
	ev.Message = reason
	return ev, nil
}

// Cancel withdraws a pending request; only its requester (or an admin) may.
func (r *Request) Cancel(by string, admin bool, now time.Time) (Event, error) {
	if by != r.Requester && !admin {
		return Event{}, Errorf(EFORBIDDEN, "only %s can cancel request %s", r.Requester, r.ID)
	}
	// A scheduled grant approved ahead may be cancelled until its
	// provisioning begins: nothing of it is in Atlas yet (scheduled.go).
	from := r.State
	if r.State != StatePending && (r.State != StateApproved || !r.Scheduled() || r.Attempts > 0) {
		return Event{}, r.notPending("cancel")
	}
	r.State = StateCancelled
	r.EndedBy, r.EndedAt = by, now
	r.NextAttemptAt = time.Time{}
	return r.event(EventCancelled, by, now, from), nil
}

// TimeOut ends a request nobody decided on within the flow's pending TTL.
func (r *Request) TimeOut(now time.Time) (Event, error) {
	if r.State != StatePending {
		return Event{}, r.notPending("time out")
	}
	if now.Before(r.PendingUntil) {
		return Event{}, Errorf(ECONFLICT, "request %s is pending until %s", r.ID, r.PendingUntil.Format(time.RFC3339))
	}
	r.State = StateTimedOut
	r.EndedAt = now
	ev := r.event(EventTimedOut, SystemActor, now, StatePending)
	ev.Message = "nobody decided within " + FormatDuration(r.PendingUntil.Sub(r.CreatedAt))
	return ev, nil
}

// StartProvisioning claims the creation of the grant: its principal and
// backstop (zero for a kind without one) are fixed here, before Atlas is
// called, and the attempt holds a lease until leaseUntil so that no second
// worker starts it meanwhile.
func (r *Request) StartProvisioning(now, leaseUntil time.Time, principal string, backstop, backstopRefresh time.Time) (Event, error) {
	switch r.State {
	case StateApproved:
		if now.Before(r.NextAttemptAt) {
			return Event{}, Errorf(ECONFLICT, "request %s is scheduled: it is provisioned from %s", r.ID, r.NextAttemptAt.UTC().Format(time.RFC3339))
		}
	case StateProvisioning:
		if now.Before(r.NextAttemptAt) {
			return Event{}, Errorf(ECONFLICT, "request %s is being provisioned already", r.ID)
		}
	default:
		return Event{}, Errorf(ECONFLICT, "cannot provision request %s: it is %s", r.ID, r.describeState())
	}
	from := r.State
	r.State = StateProvisioning
	r.Principal = principal
	r.BackstopAt, r.BackstopRefreshAt = backstop, backstopRefresh
	r.Attempts++
	r.NextAttemptAt = leaseUntil
	ev := r.event(EventProvisioning, SystemActor, now, from)
	ev.Attempt = r.Attempts
	return ev, nil
}

// RetryProvisioning records a failed attempt that may succeed later.
func (r *Request) RetryProvisioning(now, next time.Time, problem string) (Event, error) {
	if r.State != StateProvisioning {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not provisioning", r.ID, r.describeState())
	}
	r.NextAttemptAt = next
	r.LastError = problem
	ev := r.event(EventProvisionRetry, SystemActor, now, StateProvisioning)
	ev.Message, ev.Attempt = problem, r.Attempts
	return ev, nil
}

// RenewProvisioning extends the lease of provisioning attempt n to until,
// while the attempt still holds it: an attempt that waits long on Atlas
// keeps its lease short (a replica that dies mid-attempt leaves it to the
// next sweep within one lease) by renewing it. Nothing is recorded in the
// audit log: no step of the request is taken.
func (r *Request) RenewProvisioning(attempt int, until time.Time) error {
	if r.State != StateProvisioning || r.Attempts != attempt {
		return Errorf(ECONFLICT, "request %s is %s (attempt %d), no longer held by attempt %d", r.ID, r.describeState(), r.Attempts, attempt)
	}
	if until.After(r.NextAttemptAt) {
		r.NextAttemptAt = until
	}
	return nil
}

// HeldBy reports whether provisioning attempt n still holds r: r is
// provisioning and no attempt took it over since (each takes the next
// number). An attempt that lost its lease records nothing of its own: the
// one that took over made the grant again, with other credentials.
func (r *Request) HeldBy(attempt int) error {
	if r.State == StateProvisioning && r.Attempts != attempt {
		return Errorf(ECONFLICT, "request %s was taken over by attempt %d; attempt %d records nothing", r.ID, r.Attempts, attempt)
	}
	return nil
}

// NoteApplyDelayed records that Atlas has not applied the grant yet; the
// request stays in provisioning and is retried at next.
func (r *Request) NoteApplyDelayed(now, next time.Time) (Event, error) {
	ev, err := r.RetryProvisioning(now, next, "Atlas has not finished applying the user")
	ev.Type = EventApplyDelayed
	return ev, err
}

// FailProvisioning gives up on creating the grant.
func (r *Request) FailProvisioning(now time.Time, problem string) (Event, error) {
	if r.State != StateProvisioning && r.State != StateApproved {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not provisioning", r.ID, r.describeState())
	}
	from := r.State
	r.State = StateFailed
	r.LastError = problem
	r.NextAttemptAt = time.Time{}
	r.EndedAt = now
	ev := r.event(EventProvisionFailed, SystemActor, now, from)
	ev.Message, ev.Attempt = problem, r.Attempts
	return ev, nil
}

// Activate starts the grant's clock: access begins once Atlas has applied
// the grant, and lasts the requested duration from then.
func (r *Request) Activate(now time.Time, remindBefore time.Duration) (Event, error) {
	if r.State != StateProvisioning {
		return Event{}, Errorf(ECONFLICT, "cannot activate request %s: it is %s", r.ID, r.describeState())
	}
	r.State = StateActive
	r.ActivatedAt = now
	r.ExpiresAt = r.windowStart(now).Add(r.Duration)
	r.CredentialsIssuedAt = now
	if r.EndsWithTicket && r.Ticket != "" {
		r.TicketCheckAt = now.Add(TicketCheckEvery)
	}
	r.setReminder(now, remindBefore)
	r.Attempts, r.NextAttemptAt, r.LastError = 0, time.Time{}, ""
	return r.event(EventActivated, SystemActor, now, StateProvisioning), nil
}

func (r *Request) setReminder(now time.Time, before time.Duration) {
	r.RemindAt = time.Time{}
	if at := r.ExpiresAt.Add(-before); before > 0 && at.After(now) {
		r.RemindAt = at
	}
}

// Remind records the reminder before expiry.
func (r *Request) Remind(now time.Time) (Event, error) {
	if r.State != StateActive || r.RemindAt.IsZero() || now.Before(r.RemindAt) {
		return Event{}, Errorf(ECONFLICT, "no reminder is due for request %s", r.ID)
	}
	r.RemindAt = time.Time{}
	return r.event(EventReminder, SystemActor, now, StateActive), nil
}

// MaxExtension is how much longer the grant may still be made.
func (r *Request) MaxExtension() time.Duration {
	if r.State != StateActive {
		return 0
	}
	return max(0, r.MaxDuration-r.ExpiresAt.Sub(r.windowStart(r.ActivatedAt)))
}

// Extend lengthens an active grant by d, or asks for approval of that when the
// flow requires it. The total stays within the flow's maximum.
func (r *Request) Extend(by string, d time.Duration, now time.Time, remindBefore time.Duration) (Event, error) {
	if by != r.Requester {
		return Event{}, Errorf(EFORBIDDEN, "only %s can extend request %s", r.Requester, r.ID)
	}
	if r.State != StateActive {
		return Event{}, Errorf(ECONFLICT, "cannot extend request %s: it is %s", r.ID, r.describeState())
	}
	if d <= 0 {
		return Event{}, Errorf(EINVALID, "extend by a positive duration, like 30m or 1h")
	}
	if left := r.MaxExtension(); d > left {
		if left < time.Minute {
			return Event{}, Errorf(EINVALID, "request %s already lasts the %s its flow allows; ask for new access instead", r.ID, FormatDuration(r.MaxDuration))
		}
		return Event{}, Errorf(EINVALID, "extending request %s by %s would exceed the %s its flow allows; you can extend by at most %s", r.ID, FormatDuration(d), FormatDuration(r.MaxDuration), FormatDuration(left))
	}
	if r.ExtendNeedsApproval {
		if r.Extension != nil {
			return Event{}, Errorf(ECONFLICT, "an extension of request %s by %s is already waiting for approval", r.ID, FormatDuration(r.Extension.Duration))
		}
		r.Extensions++
		r.Extension = &Extension{Number: r.Extensions, By: by, Duration: d, RequestedAt: now}
		ev := r.event(EventExtensionRequested, by, now, StateActive)
		ev.Duration, ev.Extension = d, r.Extensions
		return ev, nil
	}
	r.Extensions++
	return r.applyExtension(by, d, r.Extensions, now, remindBefore), nil
}

func (r *Request) applyExtension(by string, d time.Duration, number int, now time.Time, remindBefore time.Duration) Event {
	r.ExpiresAt = r.ExpiresAt.Add(d)
	r.setReminder(now, remindBefore)
	r.Extension = nil
	ev := r.event(EventExtended, by, now, StateActive)
	ev.Duration, ev.Extension, ev.Ends = d, number, r.ExpiresAt
	return ev
}

// DecideExtension approves or denies the pending extension numbered n.
func (r *Request) DecideExtension(n int, by string, approve bool, reason string, now time.Time, remindBefore time.Duration) (Event, error) {
	if r.State != StateActive || r.Extension == nil || r.Extension.Number != n {
		return Event{}, Errorf(ECONFLICT, "extension %d of request %s is not waiting for a decision", n, r.ID)
	}
	if err := r.checkApprover(by, "decide on"); err != nil {
		return Event{}, err
	}
	ext := r.Extension
	if slices.ContainsFunc(ext.Approvals, func(d Decision) bool { return d.By == by }) {
		return Event{}, Errorf(ECONFLICT, "you already approved extension %d of request %s", n, r.ID)
	}
	if !approve {
		reason = strings.TrimSpace(reason)
		if reason == "" && r.DenyReasonRequired {
			return Event{}, Errorf(EINVALID, "say why you deny the extension: the requester will see your reason")
		}
		r.Extension = nil
		ev := r.event(EventExtensionDenied, by, now, StateActive)
		ev.Message, ev.Duration, ev.Extension = reason, ext.Duration, n
		return ev, nil
	}
	ext.Approvals = append(ext.Approvals, Decision{By: by, At: now, Approve: true})
	if len(ext.Approvals) < r.Quorum {
		ev := r.event(EventApprovalRecorded, by, now, StateActive)
		ev.Message = fmt.Sprintf("%d of %d approvals", len(ext.Approvals), r.Quorum)
		ev.Duration, ev.Extension = ext.Duration, n
		return ev, nil
	}
	return r.applyExtension(by, ext.Duration, n, now, remindBefore), nil
}

// SetBackstop records where the Atlas-side removal date now stands and
// when to move it again (zero: it is where it should be).
func (r *Request) SetBackstop(now, at, refreshAt time.Time) (Event, error) {
	if r.State != StateActive {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not active", r.ID, r.describeState())
	}
	r.BackstopAt, r.BackstopRefreshAt = at, refreshAt
	ev := r.event(EventBackstopMoved, SystemActor, now, StateActive)
	ev.Message = "Atlas deletes the user by itself at " + at.UTC().Format(time.RFC3339)
	return ev, nil
}

// DeferBackstop postpones a failed backstop move.
func (r *Request) DeferBackstop(refreshAt time.Time) {
	if r.State == StateActive {
		r.BackstopRefreshAt = refreshAt
	}
}

// NoteCredentials records that new credentials were handed to the requester
// (rotated), or that they could not be (undelivered).
func (r *Request) NoteCredentials(now time.Time, delivered bool, problem string) (Event, error) {
	if r.State != StateActive {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not active", r.ID, r.describeState())
	}
	if !delivered {
		ev := r.event(EventCredentialsUndelivered, SystemActor, now, StateActive)
		ev.Message = problem
		return ev, nil
	}
	r.CredentialsIssuedAt = now
	return r.event(EventCredentialsRotated, SystemActor, now, StateActive), nil
}

// StartRevoking begins removing access: on expiry (end = StateExpired) or
// because a person revoked it (end = StateRevoked).
func (r *Request) StartRevoking(now time.Time, by string, end State, reason string) (Event, error) {
	switch r.State {
	case StateApproved, StateProvisioning, StateActive:
	case StateRevoking, StateRevokeFailed:
		return Event{}, Errorf(ECONFLICT, "request %s is already being revoked", r.ID)
	default:
		return Event{}, Errorf(ECONFLICT, "cannot revoke request %s: it is %s", r.ID, r.describeState())
	}
	if end != StateExpired && end != StateRevoked {
		return Event{}, Errorf(EINTERNAL, "revocation must end in expired or revoked, not %s", end)
	}
	from := r.State
	next := now
	if from == StateProvisioning && r.NextAttemptAt.After(now) {
		// Atlas may be creating the user right now: a delete sent before that
		// create lands would leave the user behind. The attempt holding the
		// lease revokes when it returns; if it never does, the revocation
		// starts when the lease runs out.
		next = r.NextAttemptAt
	}
	r.State = StateRevoking
	r.EndState, r.EndedBy, r.EndReason = end, by, strings.TrimSpace(reason)
	r.Extension, r.RemindAt, r.BackstopRefreshAt, r.TicketCheckAt = nil, time.Time{}, time.Time{}, time.Time{}
	r.Attempts, r.NextAttemptAt, r.LastError = 0, next, ""
	ev := r.event(EventRevoking, by, now, from)
	ev.Message = r.EndReason
	return ev, nil
}

// ClaimRevocation takes a lease on the next delete attempt.
func (r *Request) ClaimRevocation(now, leaseUntil time.Time) error {
	if r.State != StateRevoking && r.State != StateRevokeFailed {
		return Errorf(ECONFLICT, "request %s is %s, not being revoked", r.ID, r.describeState())
	}
	if now.Before(r.NextAttemptAt) {
		return Errorf(ECONFLICT, "request %s is being revoked already", r.ID)
	}
	r.Attempts++
	r.NextAttemptAt = leaseUntil
	return nil
}

// RetryRevocation records a failed delete. After alertAfter attempts the
// request is flagged revoke_failed (which alerts people); retries go on.
func (r *Request) RetryRevocation(now, next time.Time, problem string, alertAfter int) (Event, error) {
	if r.State != StateRevoking && r.State != StateRevokeFailed {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not being revoked", r.ID, r.describeState())
	}
	from := r.State
	r.NextAttemptAt, r.LastError = next, problem
	t := EventRevokeRetry
	if r.State == StateRevoking && r.Attempts >= alertAfter {
		r.State = StateRevokeFailed
		t = EventRevokeFailed
	}
	ev := r.event(t, SystemActor, now, from)
	ev.Message, ev.Attempt = problem, r.Attempts
	return ev, nil
}

// FinishRevocation records that the grant is gone from Atlas.
func (r *Request) FinishRevocation(now time.Time) (Event, error) {
	if r.State != StateRevoking && r.State != StateRevokeFailed {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not being revoked", r.ID, r.describeState())
	}
	from := r.State
	r.State = r.EndState
	r.EndedAt = now
	r.Attempts, r.NextAttemptAt, r.LastError = 0, time.Time{}, ""
	t := EventExpired
	if r.State == StateRevoked {
		t = EventRevoked
	}
	actor := r.EndedBy
	if actor == "" {
		actor = SystemActor
	}
	ev := r.event(t, actor, now, from)
	ev.Message = r.EndReason
	return ev, nil
}

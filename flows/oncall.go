package flows

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// On-call approval: a flow may name on-call schedules or escalation
// policies (PagerDuty's, through the OnCall port): the people on call are
// approvers of its requests, judged when they click, and a requester on
// call right now may be approved at once. Who is on call is cached for at
// most OnCallTTL; when the on-call service cannot answer and the cache is
// stale, routing falls back to the flow's other approvers and says so on
// the card, and auto-approval fails closed: the request waits for a person.

// OnCallTTL bounds how long an answer about who is on call is trusted.
const OnCallTTL = 60 * time.Second

// onCallTimeout bounds one lookup, so that an on-call service that hangs
// delays a submission or a click by at most this much before the fallback.
const onCallTimeout = 3 * time.Second

// OnCallQuery names whose on-call shifts count: schedules, escalation
// policies, and the escalation levels of those policies (1 unless named).
type OnCallQuery struct {
	Schedules          []string
	EscalationPolicies []string
	Levels             []int
}

func (q OnCallQuery) key() string {
	levels := make([]string, len(q.Levels))
	for i, l := range q.Levels {
		levels[i] = strconv.Itoa(l)
	}
	return strings.Join(q.Schedules, ",") + "|" + strings.Join(q.EscalationPolicies, ",") + "|" + strings.Join(levels, ",")
}

// OnCall tells who is on call now (PagerDuty's /oncalls, in
// cmd/internal/pagerduty): the emails of the people, lower-case.
type OnCall interface {
	OnCall(ctx context.Context, q OnCallQuery) ([]string, error)
}

// OnCallSpec is a flow's on-call rule as written.
type OnCallSpec struct {
	Schedules          []string
	EscalationPolicies []string
	Levels             []int
	// AutoApproveOnCall approves at once a requester who is on call now.
	AutoApproveOnCall bool
}

// OnCallRule is a validated on-call rule.
type OnCallRule struct {
	Query             OnCallQuery
	AutoApproveOnCall bool
}

// maxOnCallLevel: PagerDuty escalation policies have at most 20 rules.
const maxOnCallLevel = 20

func (p *Policy) compileOnCall(v *validator, at string, fs FlowSpec, f *Flow) {
	spec := fs.OnCall
	if spec == nil {
		return
	}
	at += ".oncall"
	if len(spec.Schedules) == 0 && len(spec.EscalationPolicies) == 0 {
		v.add(at, "name schedules or escalation_policies (PagerDuty ids such as PABC123)")
		return
	}
	rule := &OnCallRule{AutoApproveOnCall: spec.AutoApproveOnCall}
	for i, id := range spec.Schedules {
		if !pagerDutyID(id) {
			v.add(fmt.Sprintf("%s.schedules[%d]", at, i), "%q is not a PagerDuty id (letters and digits, like PABC123)", excerpt(id))
		}
	}
	for i, id := range spec.EscalationPolicies {
		if !pagerDutyID(id) {
			v.add(fmt.Sprintf("%s.escalation_policies[%d]", at, i), "%q is not a PagerDuty id (letters and digits, like PABC123)", excerpt(id))
		}
	}
	if len(spec.Levels) > 0 && len(spec.EscalationPolicies) == 0 {
		v.add(at+".levels", "levels are of escalation policies: name escalation_policies, or leave levels out")
	}
	for i, l := range spec.Levels {
		if l < 1 || l > maxOnCallLevel {
			v.add(fmt.Sprintf("%s.levels[%d]", at, i), "%d: escalation levels run from 1 to %d", l, maxOnCallLevel)
		}
	}
	if fs.AutoApprove {
		v.add(at, "an auto-approved flow asks nobody: remove oncall or auto_approve")
	}
	rule.Query = OnCallQuery{Schedules: dedupe(spec.Schedules), EscalationPolicies: dedupe(spec.EscalationPolicies), Levels: slices.Compact(slices.Sorted(slices.Values(spec.Levels)))}
	if len(rule.Query.Levels) == 0 {
		rule.Query.Levels = []int{1}
	}
	f.OnCall = rule
}

func pagerDutyID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// onCallCache keeps the last answer per query, for at most OnCallTTL by
// the service's clock.
type onCallCache struct {
	mu      sync.Mutex
	entries map[string]onCallEntry
}

type onCallEntry struct {
	emails []string
	at     time.Time
}

// onCallNow says who is on call under q: from the cache when its answer is
// fresh, else from the on-call service. ok is false when neither can say
// (an outage with a stale cache): the caller falls back.
func (s *Service) onCallNow(ctx context.Context, q OnCallQuery) (emails []string, ok bool) {
	if s.oncall == nil {
		return nil, false
	}
	key := q.key()
	now := s.clock.Now()
	s.oncallCache.mu.Lock()
	e, hit := s.oncallCache.entries[key]
	s.oncallCache.mu.Unlock()
	if hit && now.Sub(e.at) < OnCallTTL && !now.Before(e.at) {
		return e.emails, true
	}
	ctx, cancel := context.WithTimeout(ctx, onCallTimeout)
	defer cancel()
	got, err := s.oncall.OnCall(ctx, q)
	if err != nil {
		s.log.WarnContext(ctx, "could not read who is on call; falling back to the flow's other approvers", "err", err)
		return nil, false
	}
	var norm []string
	for _, g := range got {
		if email, err := NormalizeEmail(g); err == nil {
			norm = append(norm, email)
		}
	}
	norm = dedupe(norm)
	s.oncallCache.mu.Lock()
	if s.oncallCache.entries == nil {
		s.oncallCache.entries = map[string]onCallEntry{}
	}
	s.oncallCache.entries[key] = onCallEntry{emails: norm, at: now}
	s.oncallCache.mu.Unlock()
	return norm, true
}

// routeOnCall adds the people on call to a request's approvers at
// submission. It returns the approvers, those of them on call (the
// requester never among them), the note the cards show, and whether the
// requester is on call now (false whenever that could not be told).
func (s *Service) routeOnCall(ctx context.Context, f *Flow, approvers []string, requester string) (all, onCall []string, note string, requesterOnCall bool) {
	if f.OnCall == nil {
		return approvers, nil, "", false
	}
	emails, ok := s.onCallNow(ctx, f.OnCall.Query)
	if !ok {
		note = "PagerDuty could not be reached: routed to the flow's other approvers"
		if f.OnCall.AutoApproveOnCall {
			note += "; on-call auto-approval waits for a person"
		}
		return approvers, nil, note, false
	}
	for _, e := range emails {
		if e == requester {
			requesterOnCall = true
			continue
		}
		onCall = append(onCall, e)
	}
	if len(onCall) > 0 {
		note = "on call now (PagerDuty): " + strings.Join(onCall, ", ")
	} else {
		note = "nobody else is on call now (PagerDuty)"
	}
	return dedupe(append(slices.Clone(approvers), onCall...)), onCall, note, requesterOnCall
}

// onCallVerdict is what the on-call service says of a click's actor.
type onCallVerdict struct {
	checked bool // the actor's standing depends on being on call, and it was looked up
	on      bool // they are on call now
}

// clickOnCall judges whether the actor of a click is on call now, when that
// decides whether they may click: they were made an approver for being on
// call, or they are no approver at all and the flow in force approves the
// people on call. It reads outside any store transaction. An outage fails
// closed: nobody is let in for being on call when that cannot be told.
func (s *Service) clickOnCall(ctx context.Context, policy *Policy, id RequestID, actor string) (onCallVerdict, error) {
	if !policy.approvesOnCall() {
		// No flow approves the people on call: reauthorize judges anyone
		// made an approver for it under an earlier policy.
		return onCallVerdict{}, nil
	}
	r, err := s.store.Get(ctx, id)
	if err != nil || actor == r.Requester {
		return onCallVerdict{}, nil // the transaction answers
	}
	flow, ok := policy.Flow(r.Flow)
	static := slices.Contains(r.Approvers, actor) && !slices.Contains(r.OnCallApprovers, actor)
	if static {
		return onCallVerdict{}, nil
	}
	if !ok || flow.OnCall == nil {
		if slices.Contains(r.OnCallApprovers, actor) {
			return onCallVerdict{}, Errorf(EFORBIDDEN, "you are no longer an approver of request %s: access flow %s no longer approves the people on call", r.ID, r.Flow)
		}
		return onCallVerdict{}, nil
	}
	emails, ok := s.onCallNow(ctx, flow.OnCall.Query)
	if !ok {
		if slices.Contains(r.OnCallApprovers, actor) {
			return onCallVerdict{}, Errorf(EUNAVAILABLE, "PagerDuty could not confirm that you are on call right now, so your click on request %s was not counted; try again in a minute", r.ID)
		}
		return onCallVerdict{}, nil // a stranger stays a stranger
	}
	if !slices.Contains(emails, actor) {
		if slices.Contains(r.OnCallApprovers, actor) {
			return onCallVerdict{}, Errorf(EFORBIDDEN, "you are no longer on call (PagerDuty), so you can no longer decide on request %s", r.ID)
		}
		return onCallVerdict{}, nil
	}
	return onCallVerdict{checked: true, on: true}, nil
}

// admitOnCall makes an actor on call now an approver of r (the click's
// transaction, after clickOnCall).
func (r *Request) admitOnCall(actor string) {
	if r.State != StatePending || actor == r.Requester {
		return
	}
	if !slices.Contains(r.Approvers, actor) {
		r.Approvers = append(r.Approvers, actor)
	}
	if !slices.Contains(r.OnCallApprovers, actor) {
		r.OnCallApprovers = append(r.OnCallApprovers, actor)
	}
}

// approvesOnCall reports whether a flow of the policy approves the people
// on call.
func (p *Policy) approvesOnCall() bool {
	return slices.ContainsFunc(p.flows, func(f *Flow) bool { return f.OnCall != nil })
}

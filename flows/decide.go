package flows

import (
	"context"
	"errors"
	"slices"
	"time"
)

// DecideInput is an approver's click.
type DecideInput struct {
	RequestID RequestID
	Actor     string
	Approve   bool
	Reason    string
	// Extension is the number of the extension decided on; 0 for the request.
	Extension int
	// MFA is what a fresh sign-in proved, for a flow whose approvals need
	// one (stepup.go); nil for a plain click.
	MFA *MFAProof
}

// Decide records an approval or a denial. The click is authorized here, on the
// current state: the actor must be an approver of this request and not its
// requester, still one under the policy in force (reauthorize), and the
// request (or extension) must still wait for a decision.
// A repeated click changes nothing and says so. Anyone who takes no part in
// the request is answered as for an unknown id.
func (s *Service) Decide(ctx context.Context, in DecideInput) (*Request, error) {
	actor, err := NormalizeEmail(in.Actor)
	if err != nil {
		return nil, err
	}
	if !in.Approve {
		if err := checkReason(in.Reason); err != nil {
			return nil, err
		}
	}
	// The policy of the click: fixed here, so that a retry below judges by
	// the same one.
	policy := s.Policy()
	// Whether the actor is on call, when that decides (oncall.go): read
	// before the transaction, as the owners are.
	onCall, err := s.clickOnCall(ctx, policy, in.RequestID, actor)
	if err != nil {
		return nil, err
	}
	run := s.act
	if onCall.on {
		// On call now: an approver from this click on, even one who was
		// not routed the request (a shift that began since).
		run = func(ctx context.Context, id RequestID, _ string, step func(r *Request, now time.Time) (Event, error)) (*Request, error) {
			return s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
				r.admitOnCall(actor)
				return step(r, now)
			})
		}
	}
	var owners *Cluster // the cluster, once read for a reauthorization that needs its owners
	var ev Event
	var r *Request
	for {
		var target Resource
		r, err = run(ctx, in.RequestID, actor, func(r *Request, now time.Time) (Event, error) {
			target = r.Resource
			if !onCall.on {
				if err := s.reauthorize(policy, r, actor, owners); err != nil {
					return Event{}, err
				}
			}
			var e Event
			var err error
			var mfa bool
			if in.Approve {
				if mfa, err = checkStepUp(policy, r, in); err != nil {
					return Event{}, err
				}
			}
			switch {
			case in.Extension > 0:
				e, err = r.DecideExtension(in.Extension, actor, in.Approve, in.Reason, now, s.cfg.RemindBefore)
			case in.Approve:
				e, err = r.Approve(actor, now)
			default:
				e, err = r.Deny(actor, in.Reason, now)
			}
			if err == nil && mfa {
				r.markMFA(actor, in.Extension)
			}
			ev = e
			return e, err
		})
		if !errors.Is(err, errNeedOwners) || owners != nil {
			break
		}
		// The catalog is read outside the store's transaction, and the
		// click tried again with what it says.
		c, cerr := s.cluster(ctx, target)
		if cerr != nil {
			return nil, cerr
		}
		owners = &c
	}
	if err != nil {
		return nil, err
	}
	switch ev.Type {
	case EventApproved:
		if r.NextAttemptAt.After(s.clock.Now()) {
			return r, nil // scheduled: provisioned before its start (scheduled.go)
		}
		p, err := s.provision(ctx, r.ID, respectLease)
		return s.current(ctx, r.ID, p, err)
	case EventExtended:
		if moved, err := s.extended(ctx, r); err == nil {
			return moved, nil
		}
	}
	return r, nil
}

// errNeedOwners stops a click whose reauthorization needs the cluster's
// owners, which only the catalog knows: Decide reads it, outside the
// store's transaction, and tries again.
var errNeedOwners = errors.New("flows: the cluster's owners are needed")

// reauthorize judges a click by policy, the one in force, which may have
// been reloaded since the request was routed: taking someone out of a
// flow's approvers (or the flow out of the policy) must stop their clicks at
// once, not once the requests they were asked about are over. A request
// routed under the policy in force has its approvers from it already;
// strangers and the requester are left to the checks that follow, which
// answer them as they always have.
//
// Owners come from the cluster's owner tag: a flow approved by owners needs
// the cluster (owners; nil: not read yet, errNeedOwners asks for it).
func (s *Service) reauthorize(policy *Policy, r *Request, actor string, owners *Cluster) error {
	if r.PolicyHash == policy.Hash() || actor == r.Requester || !slices.Contains(r.Approvers, actor) {
		return nil
	}
	flow, ok := policy.Flow(r.Flow)
	in, known := policy.Integration(r.Resource.Integration)
	if !ok || !known || flow.Integration != r.Resource.Integration || flow.Kind != r.Kind.orDefault() {
		return Errorf(EFORBIDDEN, "request %s can no longer be decided: access flow %s, which it went through, is no longer in the access policy", r.ID, r.Flow)
	}
	var cluster Cluster
	// The tiers the request has reached are approvers too (escalate.go).
	rules := append(slices.Clone(flow.Approvers), flow.tierApprovers(r.Tier)...)
	// So are the members of the groups it needs approvals from (conditions.go).
	rules = append(rules, flow.groupApprovers()...)
	if r.Resource.Cluster != "" && slices.ContainsFunc(rules, func(p Principal) bool { return p.Kind == Owners }) {
		if owners == nil {
			return errNeedOwners
		}
		cluster = *owners
	}
	if !slices.Contains(s.resolveApprovers(policy, rules, in, cluster, r.Requester), actor) {
		return Errorf(EFORBIDDEN, "you are no longer an approver of request %s: the access policy changed since it was made", r.ID)
	}
	return nil
}

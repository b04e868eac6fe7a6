package flows

import (
	"fmt"
	"slices"
	"time"
)

// Scheduled access: a request may start later (at most MaxScheduleAhead
// ahead). It is approved ahead, as any request; at the start the requester
// and the approvals are checked again against the policy then in force,
// since a week is long enough for a person to leave a team. The grant is
// provisioned at most ScheduledLead before the start, so that Atlas has
// applied it (the APPLIED wait) when the window opens, and it ends
// Duration after the start, not after the provisioning. The start is a due
// time on the request (NextAttemptAt of an approved request, in DueAt), so
// the store's due index finds it after a crash. Cancelled before the
// start, nothing of it is in Atlas, or what was made early is removed.

// Limits of scheduled access.
const (
	MaxScheduleAhead = 7 * 24 * time.Hour
	// ScheduledLead is how long before the start the grant is provisioned.
	ScheduledLead = 10 * time.Minute
)

// checkStart validates a requested start time: in the future, and at most
// MaxScheduleAhead ahead. A zero start means now.
func checkStart(start, now time.Time) error {
	switch {
	case start.IsZero():
		return nil
	case !start.After(now):
		return Errorf(EINVALID, "the start %s is in the past: give a later time, or leave \"at\" out to start now", start.UTC().Format("2006-01-02 15:04 MST"))
	case start.Sub(now) > MaxScheduleAhead:
		return Errorf(EINVALID, "the start %s is more than %s ahead: ask again nearer the time", start.UTC().Format("2006-01-02 15:04 MST"), FormatDuration(MaxScheduleAhead))
	}
	return nil
}

// Scheduled reports whether the request starts at a set time.
func (r *Request) Scheduled() bool { return !r.StartsAt.IsZero() }

// provisionAt is when an approved request is provisioned: now, or
// ScheduledLead before a later start.
func (r *Request) provisionAt(now time.Time) time.Time {
	if at := r.StartsAt.Add(-ScheduledLead); r.Scheduled() && at.After(now) {
		return at
	}
	return now
}

// windowStart is when the grant's clock starts: its scheduled start, or
// when it becomes active.
func (r *Request) windowStart(now time.Time) time.Time {
	if r.Scheduled() {
		return r.StartsAt
	}
	return now
}

// Window says when a scheduled grant is open ("" for one that starts when
// approved), in loc.
func (r *Request) Window(loc *time.Location) string {
	if !r.Scheduled() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	start, end := r.StartsAt.In(loc), r.StartsAt.Add(r.Duration).In(loc)
	layout := "2006-01-02 15:04"
	endLayout := "15:04 MST"
	if end.YearDay() != start.YearDay() || end.Year() != start.Year() {
		endLayout = "2006-01-02 15:04 MST"
	}
	return fmt.Sprintf("%s to %s", start.Format(layout), end.Format(endLayout))
}

// startRefusal judges, at its start, a scheduled request approved ahead
// against policy, the one in force: the requester must still be one of its
// flow's requesters, and the approvals given must still meet the flow's
// count from people who are still its approvers. A flow approved by owners
// needs the cluster (owners; nil: not read yet, errNeedOwners asks for it,
// as a click's reauthorization does). nil: the request may start.
func (s *Service) startRefusal(policy *Policy, r *Request, owners *Cluster) error {
	flow, ok := policy.Flow(r.Flow)
	in, known := policy.Integration(r.Resource.Integration)
	if !ok || !known || flow.Integration != r.Resource.Integration || flow.Kind != r.Kind.orDefault() {
		return Errorf(EFORBIDDEN, "at its start, access flow %s is no longer in the access policy", r.Flow)
	}
	if !policy.admits(flow.Requesters, r.Requester) {
		return Errorf(EFORBIDDEN, "at its start, %s is no longer among the requesters of access flow %s", r.Requester, flow.Name)
	}
	if flow.AutoApprove {
		return nil
	}
	var cluster Cluster
	rules := append(slices.Clone(flow.Approvers), flow.tierApprovers(r.Tier)...)
	if r.Resource.Cluster != "" && slices.ContainsFunc(rules, func(p Principal) bool { return p.Kind == Owners }) {
		if owners == nil {
			return errNeedOwners
		}
		cluster = *owners
	}
	still := s.resolveApprovers(policy, rules, in, cluster, r.Requester)
	for _, g := range flow.ApprovalsFrom {
		still = append(still, policy.GroupMembers(g.Group)...)
	}
	counted := 0
	for _, a := range r.Approvals {
		// An approval for being on call stands while the flow approves
		// the people on call: they were on call when they clicked.
		if slices.Contains(still, a.By) || flow.OnCall != nil && slices.Contains(r.OnCallApprovers, a.By) {
			counted++
		}
	}
	if counted < flow.Approvals {
		return Errorf(EFORBIDDEN, "at its start, %d of its approvals are from people access flow %s still names as approvers, and it needs %d", counted, flow.Name, flow.Approvals)
	}
	return nil
}

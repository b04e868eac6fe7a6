package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Break-glass: a flow marked break_glass lets its requesters take access at
// once, without approval, when nobody can approve in time (an outage at
// 3 a.m.). It is asked for with its own verb (breakglass, never request:
// nobody breaks glass by accident), for at most the flow's max_duration
// (1h by default, 4h at most), at most once per person per once_per (24h
// by default), and never extended. It is loud: the integration's owners,
// the admins, the reviewers and the flow's channel are alerted; every card
// marks the grant; the audit records a distinct event (break_glass). And it
// is reviewed: the flow's reviewers must acknowledge it with a note within
// review_within, reminded every remind_after and escalated to further
// tiers (the escalation machinery's steps and due times: escalate.go) until
// one of them does, the admins told once the deadline passes.
//
// Step-up: a break-glass flow whose step_up says request: true takes the
// access only with a fresh MFA sign-in (breakglass_stepup.go).

// Events of break-glass.
const (
	// EventBrokeGlass: access taken at once through a break-glass flow,
	// without approval (the request goes from pending to approved).
	EventBrokeGlass EventType = "break_glass"
	// EventReviewReminded: the reviewers of a break-glass use were reminded.
	EventReviewReminded EventType = "break_glass_review_reminded"
	// EventReviewEscalated: a break-glass review reached another tier of
	// reviewers (Event.Tier, from 1).
	EventReviewEscalated EventType = "break_glass_review_escalated"
	// EventReviewOverdue: nobody reviewed a break-glass use within
	// review_within; the admins are told (the reminders go on).
	EventReviewOverdue EventType = "break_glass_review_overdue"
	// EventReviewed: a reviewer acknowledged a break-glass use, with a note
	// (Event.Message).
	EventReviewed EventType = "break_glass_reviewed"
)

// Bounds and defaults of break-glass.
const (
	DefaultBreakGlassDuration = time.Hour
	MaxBreakGlassDuration     = 4 * time.Hour
	DefaultBreakGlassOncePer  = 24 * time.Hour
	DefaultReviewWithin       = 24 * time.Hour
)

// BreakGlassSpec is a flow's break-glass settings as written.
type BreakGlassSpec struct {
	MaxDuration  string
	OncePer      string
	Reviewers    []string // user:<email>, group:<name>, integration-owners
	ReviewWithin string
	RemindAfter  string           // how often the reviewers are reminded; default review_within/4
	Escalation   []EscalationSpec // further reviewers, each after a delay since the use
	Channel      string           // told of each use
}

// BreakGlass is a flow's validated break-glass settings.
type BreakGlass struct {
	MaxDuration  time.Duration
	OncePer      time.Duration
	Reviewers    []Principal
	ReviewWithin time.Duration
	RemindAfter  time.Duration
	Escalation   []EscalationTier
	Channel      string
}

// Review is the review of one break-glass use, kept on its request.
type Review struct {
	Reviewers   []string // resolved at the use; never the requester
	Channel     string
	Due         time.Time // review_within after the use
	RemindEvery time.Duration
	RemindAt    time.Time // the next reminder; zero once reviewed
	// MFA: the use was taken with a fresh multi-factor sign-in (the flow's
	// step_up).
	MFA        bool
	Escalation []EscalationStep
	Tier       int
	Overdue    bool // the admins were told it is overdue
	// Who acknowledged it, when, and their note.
	ReviewedBy string
	ReviewedAt time.Time
	Note       string
}

// Reviewed reports whether the use was acknowledged.
func (v *Review) Reviewed() bool { return v.ReviewedBy != "" }

// ReviewState is the review's state for the audit export: open, overdue or
// reviewed.
func (v *Review) ReviewState(now time.Time) string {
	switch {
	case v.Reviewed():
		return "reviewed"
	case v.Overdue || !now.Before(v.Due):
		return "overdue"
	}
	return "open"
}

func (v *Review) clone() *Review {
	if v == nil {
		return nil
	}
	c := *v
	c.Reviewers = slices.Clone(v.Reviewers)
	c.Escalation = cloneSteps(v.Escalation)
	return &c
}

// compileBreakGlass validates a flow's break_glass settings, and what a
// break-glass flow may not have: anything about approvals (it grants at
// once), working hours, a max_duration of its own, extensions.
func (p *Policy) compileBreakGlass(v *validator, at string, fs FlowSpec, f *Flow) {
	bs := fs.BreakGlass
	if bs == nil {
		return
	}
	path := at + ".break_glass"
	var clash []string
	for key, set := range map[string]bool{
		"approvers": len(fs.Approvers) > 0, "approvals": fs.Approvals != 0, "approvals_from": len(fs.ApprovalsFrom) > 0,
		"auto_approve": fs.AutoApprove, "remind_after": fs.RemindAfter != "", "escalation": len(fs.Escalation) > 0,
		"hours": fs.Hours != nil, "max_duration": fs.MaxDuration != "", "extend_requires_approval": fs.ExtendRequiresApproval,
	} {
		if set {
			clash = append(clash, key)
		}
	}
	if len(clash) > 0 {
		slices.Sort(clash)
		v.add(path, "a break-glass flow grants at once, for break_glass.max_duration, and is reviewed afterwards: remove %s", strings.Join(clash, ", "))
	}
	bg := &BreakGlass{MaxDuration: DefaultBreakGlassDuration, OncePer: DefaultBreakGlassOncePer, ReviewWithin: DefaultReviewWithin, Channel: strings.TrimSpace(bs.Channel)}
	duration := func(key, text string, into *time.Duration) bool {
		if text == "" {
			return true
		}
		d, err := ParseDuration(text)
		if err != nil {
			v.add(path+"."+key, "%s", ErrorMessage(err))
			return false
		}
		*into = d
		return true
	}
	if duration("max_duration", bs.MaxDuration, &bg.MaxDuration) && (bg.MaxDuration > MaxBreakGlassDuration || bg.MaxDuration < time.Minute) {
		v.add(path+".max_duration", "%s: break-glass access lasts 1m to %s", FormatDuration(bg.MaxDuration), FormatDuration(MaxBreakGlassDuration))
	}
	if duration("once_per", bs.OncePer, &bg.OncePer) && bg.OncePer < bg.MaxDuration {
		v.add(path+".once_per", "%s is shorter than max_duration %s: one person could hold break-glass access back to back", FormatDuration(bg.OncePer), FormatDuration(bg.MaxDuration))
	}
	if duration("review_within", bs.ReviewWithin, &bg.ReviewWithin) && (bg.ReviewWithin < time.Minute || bg.ReviewWithin > Week) {
		v.add(path+".review_within", "%s: a review is due 1m to a week after the use", FormatDuration(bg.ReviewWithin))
	}
	bg.RemindAfter = max(bg.ReviewWithin/4, time.Minute)
	if duration("remind_after", bs.RemindAfter, &bg.RemindAfter) && bg.RemindAfter < time.Minute {
		v.add(path+".remind_after", "remind the reviewers at most every minute")
	}
	if len(bs.Reviewers) == 0 {
		v.add(path+".reviewers", "required: who must review each use, such as [group:security]")
	}
	for j, r := range bs.Reviewers {
		rp := fmt.Sprintf("%s.reviewers[%d]", path, j)
		switch r {
		case string(IntegrationOwners):
			bg.Reviewers = append(bg.Reviewers, Principal{Kind: IntegrationOwners})
			continue
		case string(Owners), "*":
			v.add(rp, "%s: reviewers are named people: user:<email>, group:<name> or integration-owners", r)
			continue
		}
		if pr, ok := p.parsePrincipal(v, rp, r); ok {
			bg.Reviewers = append(bg.Reviewers, pr)
		}
	}
	if strings.ContainsAny(bg.Channel, " \t\n") {
		v.add(path+".channel", "%q: a channel name (#security) or id has no spaces", bg.Channel)
	}
	// Further tiers of reviewers, validated as escalation tiers are; a
	// review has no time-out, so the tiers have no bound but their order.
	tiers := &Flow{PendingTTL: 100 * Week}
	p.compileEscalation(v, path, FlowSpec{Escalation: bs.Escalation}, tiers)
	bg.Escalation = tiers.Escalation
	if fs.DefaultDuration == "" || f.DefaultDuration > bg.MaxDuration {
		if fs.DefaultDuration != "" {
			v.add(at+".default_duration", "%s is longer than break_glass.max_duration %s", FormatDuration(f.DefaultDuration), FormatDuration(bg.MaxDuration))
		}
		f.DefaultDuration = bg.MaxDuration
	}
	f.MaxDuration = bg.MaxDuration
	f.RequireReason = true // breaking glass always says why
	f.BreakGlass = bg
}

// DescribeBreakGlass is a break-glass flow's rules for people (explain),
// or "".
func DescribeBreakGlass(f *Flow) string {
	bg := f.BreakGlass
	if bg == nil {
		return ""
	}
	var who []string
	for _, r := range bg.Reviewers {
		who = append(who, r.String())
	}
	line := fmt.Sprintf("break-glass (breakglass ...): granted at once without approval, at most %s, once per %s per person; reviewed by %s within %s (reminded every %s)",
		FormatDuration(bg.MaxDuration), FormatDuration(bg.OncePer), strings.Join(who, ", "), FormatDuration(bg.ReviewWithin), FormatDuration(bg.RemindAfter))
	if bg.Channel != "" {
		line += "; " + bg.Channel + " is alerted"
	}
	return line
}

// checkBreakGlass judges a break-glass use of f by requester at now: the
// flow must be one, and the person must not have used break-glass within
// its once_per. It returns f as it grants (at once) and the review to keep
// on the request, its reviewers resolved by resolve.
func (s *Service) checkBreakGlass(ctx context.Context, f *Flow, asked bool, requester string, now time.Time, resolve func([]Principal) []string) (*Flow, *Review, error) {
	switch {
	case f.BreakGlass == nil && !asked:
		return f, nil, nil
	case f.BreakGlass == nil: // Match finds only break-glass flows for a break-glass use
		return nil, nil, Errorf(EINTERNAL, "access flow %s is not a break-glass flow", f.Name)
	}
	bg := f.BreakGlass
	// The latest requests are enough: once_per is a day or so, and a
	// person makes few requests in one (the bound keeps Submit's cost
	// independent of their history).
	mine, err := s.store.Find(ctx, Query{Requester: requester, Limit: 200})
	if err != nil {
		return nil, nil, fmt.Errorf("flows: break-glass: %w", err)
	}
	for _, r := range mine { // newest first
		if now.Sub(r.CreatedAt) >= bg.OncePer {
			break
		}
		if err := usedBreakGlass(f, r, now); err != nil {
			return nil, nil, err
		}
	}
	reviewers := resolve(bg.Reviewers)
	if len(reviewers) == 0 {
		return nil, nil, Errorf(EFORBIDDEN, "access flow %s has nobody but you to review a break-glass use: ask an admin to name other reviewers", f.Name)
	}
	review := &Review{Reviewers: reviewers, Channel: bg.Channel, Due: now.Add(bg.ReviewWithin), RemindEvery: bg.RemindAfter, RemindAt: now.Add(bg.RemindAfter)}
	for _, t := range bg.Escalation {
		review.Escalation = append(review.Escalation, EscalationStep{At: now.Add(t.After), Approvers: resolve(t.Approvers), Channel: t.Channel})
	}
	g := *f
	g.AutoApprove, g.ExtendRequiresApproval = true, false // at once; and never extended (Submit caps MaxDuration)
	return &g, review, nil
}

// usedBreakGlass refuses a use of break-glass flow f when r is one within
// its once_per. Submit asks it of every request above, and of the live
// ones again as the new request is written (a use in another replica
// meanwhile is live then).
func usedBreakGlass(f *Flow, r *Request, now time.Time) error {
	if r.BreakGlass == nil || r.State == StateCancelled || now.Sub(r.CreatedAt) >= f.BreakGlass.OncePer {
		return nil
	}
	return Errorf(EFORBIDDEN, "you used break-glass at %s (request %s); access flow %s allows it once per %s: ask for access the usual way (request ...)",
		r.CreatedAt.UTC().Format("Mon 15:04 MST"), r.ID, f.Name, FormatDuration(f.BreakGlass.OncePer))
}

// UseBreakGlass grants a pending break-glass request at once.
func (r *Request) UseBreakGlass(now time.Time) (Event, error) {
	if r.State != StatePending {
		return Event{}, r.notPending("break glass on")
	}
	if r.BreakGlass == nil {
		return Event{}, Errorf(EINVALID, "request %s is not a break-glass request", r.ID)
	}
	r.State = StateApproved
	r.NextAttemptAt = now
	ev := r.event(EventBrokeGlass, r.Requester, now, StatePending)
	ev.Message = r.Reason
	return ev, nil
}

// reviewNudgeAt is when the review next needs the sweeper (a reminder, a
// tier, the deadline); zero once reviewed.
func (r *Request) reviewNudgeAt() time.Time {
	v := r.BreakGlass
	if v == nil || v.Reviewed() || r.State == StatePending || r.State == StateCancelled {
		return time.Time{}
	}
	next := v.RemindAt
	if v.Tier < len(v.Escalation) && (next.IsZero() || v.Escalation[v.Tier].At.Before(next)) {
		next = v.Escalation[v.Tier].At
	}
	if !v.Overdue && (next.IsZero() || v.Due.Before(next)) {
		next = v.Due
	}
	return next
}

// ReviewNudgeDue reports whether the review needs a reminder, a tier or
// its overdue notice at now.
func (r *Request) ReviewNudgeDue(now time.Time) bool {
	at := r.reviewNudgeAt()
	return !at.IsZero() && !now.Before(at)
}

// NudgeReview does what the review needs at now: the overdue notice once
// the deadline passes, each tier reached (its people become reviewers), or
// else a reminder of the reviewers.
func (r *Request) NudgeReview(now time.Time) ([]Event, error) {
	if !r.ReviewNudgeDue(now) {
		return nil, Errorf(ECONFLICT, "no review reminder is due for request %s", r.ID)
	}
	v := r.BreakGlass
	var evs []Event
	if !v.Overdue && !now.Before(v.Due) {
		v.Overdue = true
		ev := r.event(EventReviewOverdue, SystemActor, now, r.State)
		ev.Message = "not reviewed within " + FormatDuration(v.Due.Sub(r.CreatedAt)) + " by " + strings.Join(v.Reviewers, ", ")
		evs = append(evs, ev)
	}
	tiered := false
	for v.Tier < len(v.Escalation) && !now.Before(v.Escalation[v.Tier].At) {
		step := v.Escalation[v.Tier]
		v.Tier++
		var added []string
		for _, a := range step.Approvers {
			if a != r.Requester && !slices.Contains(v.Reviewers, a) {
				added = append(added, a)
			}
		}
		v.Reviewers = append(v.Reviewers, added...)
		v.Escalation[v.Tier-1].Added = added
		r.Approvers = dedupe(append(r.Approvers, added...)) // participants: they may see and revoke it
		ev := r.event(EventReviewEscalated, SystemActor, now, r.State)
		ev.Tier = v.Tier
		ev.Message = fmt.Sprintf("review tier %d: asked %s", v.Tier, orNobody(added))
		evs = append(evs, ev)
		tiered = true
	}
	if !v.RemindAt.IsZero() && !now.Before(v.RemindAt) || tiered {
		if !tiered {
			ev := r.event(EventReviewReminded, SystemActor, now, r.State)
			ev.Message = "reminded " + strings.Join(v.Reviewers, ", ")
			evs = append(evs, ev)
		}
		v.RemindAt = now.Add(v.RemindEvery)
	}
	return evs, nil
}

func orNobody(s []string) string {
	if len(s) == 0 {
		return "no new reviewers"
	}
	return strings.Join(s, ", ")
}

// maxReviewNote bounds a review's note, as a reason is.
const maxReviewNote = maxReason

// AcknowledgeReview records a reviewer's acknowledgement of the use, with
// their note.
func (r *Request) AcknowledgeReview(by, note string, now time.Time) (Event, error) {
	v := r.BreakGlass
	note = strings.TrimSpace(note)
	switch {
	case v == nil:
		return Event{}, Errorf(EINVALID, "request %s is not a break-glass use: there is nothing to review", r.ID)
	case by == r.Requester:
		return Event{}, Errorf(EFORBIDDEN, "nobody reviews their own break-glass use")
	case !slices.Contains(v.Reviewers, by):
		return Event{}, Errorf(EFORBIDDEN, "you are not among the reviewers of request %s (%s)", r.ID, strings.Join(v.Reviewers, ", "))
	case v.Reviewed():
		return Event{}, Errorf(ECONFLICT, "request %s was already reviewed by %s at %s", r.ID, v.ReviewedBy, v.ReviewedAt.UTC().Format("Mon 15:04 MST"))
	case note == "":
		return Event{}, Errorf(EINVALID, "write a note with your review: what you checked, and what you found")
	case len(note) > maxReviewNote:
		return Event{}, Errorf(EINVALID, "the note is %d characters long; keep it under %d", len(note), maxReviewNote)
	}
	if err := checkReason(note); err != nil {
		return Event{}, err
	}
	v.ReviewedBy, v.ReviewedAt, v.Note, v.RemindAt = by, now, note, time.Time{}
	ev := r.event(EventReviewed, by, now, r.State)
	ev.Message = note
	return ev, nil
}

// Review records a reviewer's acknowledgement of a break-glass use. The
// click is authorized on the request as it is, and by the policy in force:
// a reviewer a reload removes (or a flow no longer break-glass) can no
// longer review. Anyone who takes no part is answered as for an unknown id.
func (s *Service) Review(ctx context.Context, id RequestID, actor, note string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	policy := s.Policy()
	return s.act(ctx, id, actor, func(r *Request, now time.Time) (Event, error) {
		if r.BreakGlass != nil && r.PolicyHash != policy.Hash() && actor != r.Requester && slices.Contains(r.BreakGlass.Reviewers, actor) {
			f, ok := policy.Flow(r.Flow)
			in, known := policy.Integration(r.Resource.Integration)
			if !ok || !known || f.BreakGlass == nil {
				return Event{}, Errorf(EFORBIDDEN, "request %s can no longer be reviewed here: access flow %s is no longer a break-glass flow of the access policy; ask an admin", r.ID, r.Flow)
			}
			rules := slices.Clone(f.BreakGlass.Reviewers)
			for i, t := range f.BreakGlass.Escalation {
				if i < r.BreakGlass.Tier {
					rules = append(rules, t.Approvers...)
				}
			}
			if !slices.Contains(s.resolveApprovers(policy, rules, in, Cluster{}, r.Requester), actor) {
				return Event{}, Errorf(EFORBIDDEN, "you are no longer a reviewer of request %s: the access policy changed since it was made", r.ID)
			}
		}
		return r.AcknowledgeReview(actor, note, now)
	})
}

// breakGlassAudience is who is told of a break-glass event directly: the
// use alerts the reviewers, the integration's owners, the admins and the
// requester; reminders and tiers go to the reviewers (a tier's to those it
// added); an overdue review to the admins and reviewers; the review to the
// requester, the reviewers and the admins.
func (s *Service) breakGlassAudience(ev Event, r *Request) []string {
	if r.BreakGlass == nil {
		return nil
	}
	policy := s.Policy()
	admins := policy.Admins()
	v := r.BreakGlass
	switch ev.Type {
	case EventBrokeGlass:
		var owners []string
		if in, ok := policy.Integration(r.Resource.Integration); ok {
			for _, o := range in.Owners {
				owners = append(owners, policy.expand(o)...)
			}
		}
		return dedupe(append(append(append([]string{r.Requester}, v.Reviewers...), owners...), admins...))
	case EventReviewReminded:
		return slices.Clone(v.Reviewers)
	case EventReviewEscalated:
		if ev.Tier >= 1 && ev.Tier <= len(v.Escalation) {
			return slices.Clone(v.Escalation[ev.Tier-1].Added)
		}
	case EventReviewOverdue:
		return dedupe(append(slices.Clone(v.Reviewers), admins...))
	case EventReviewed:
		return dedupe(append(append([]string{r.Requester}, v.Reviewers...), admins...))
	}
	return nil
}

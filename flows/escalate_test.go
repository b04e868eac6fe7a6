package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// escalating makes prod-read remind after 10m, escalate to the dba group
// (telling #dba-oncall) after 20m and to the admin after 40m; its requests
// time out after 1h.
func escalating(s *flows.PolicySpec, _ *flows.Config) {
	s.Flows[0].RemindAfter = "10m"
	s.Flows[0].Escalation = []flows.EscalationSpec{
		{After: "20m", Approvers: []string{"group:dba"}, Channel: "#dba-oncall"},
		{After: "40m", Approvers: []string{"user:admin@example.com"}},
	}
}

func TestEscalationCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*flows.FlowSpec)
		path    string
		message string
	}{
		{"bad remind_after", func(f *flows.FlowSpec) { f.RemindAfter = "soon" }, "flows[0].remind_after", "soon"},
		{"remind never", func(f *flows.FlowSpec) { f.RemindAfter = "0m" }, "flows[0].remind_after", "longer than zero"},
		{"remind after the ttl", func(f *flows.FlowSpec) { f.RemindAfter = "1h" }, "flows[0].remind_after", "time out before any reminder"},
		{"tier without after", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{Approvers: []string{"group:dba"}}}
		}, "flows[0].escalation[0].after", "required"},
		{"tier bad after", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{After: "x", Approvers: []string{"group:dba"}}}
		}, "flows[0].escalation[0].after", `"x"`},
		{"tiers out of order", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{After: "30m", Approvers: []string{"group:dba"}}, {After: "20m", Approvers: []string{"group:eng"}}}
		}, "flows[0].escalation[1].after", "not after the tier before"},
		{"tier after the ttl", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{After: "2h", Approvers: []string{"group:dba"}}}
		}, "flows[0].escalation[0].after", "time out before this tier"},
		{"tier of nobody", func(f *flows.FlowSpec) { f.Escalation = []flows.EscalationSpec{{After: "20m"}} }, "flows[0].escalation[0]", "approvers, a channel, or both"},
		{"tier unknown group", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{After: "20m", Approvers: []string{"group:nope"}}}
		}, "flows[0].escalation[0].approvers[0]", `unknown group "nope"`},
		{"tier bad channel", func(f *flows.FlowSpec) {
			f.Escalation = []flows.EscalationSpec{{After: "20m", Channel: "dba oncall"}}
		}, "flows[0].escalation[0].channel", "no spaces"},
		{"auto approve", func(f *flows.FlowSpec) { f.AutoApprove, f.Approvers, f.RemindAfter = true, nil, "10m" }, "flows[0].auto_approve", "never waits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			tt.mutate(&spec.Flows[0])
			_, err := flows.Compile(spec)
			var verr flows.ValidationError
			if !asValidation(err, &verr) {
				t.Fatalf("want a validation error, got %v", err)
			}
			for _, fe := range verr {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.message) {
					return
				}
			}
			t.Fatalf("want %s: …%s…, got %v", tt.path, tt.message, err)
		})
	}
}

func asValidation(err error, v *flows.ValidationError) bool {
	ve, ok := err.(flows.ValidationError)
	*v = ve
	return ok
}

// TestNudge is the state machine of reminders and escalation, on a request
// made at t0 and pending until t0+1h.
func TestNudge(t *testing.T) {
	base := func() *flows.Request {
		r := flowstest.NewRequest("r1", "carol@example.com", t0)
		r.Approvers = []string{"owner@example.com"}
		r.RemindApproversEvery, r.RemindApproversAt = 10*time.Minute, t0.Add(10*time.Minute)
		r.Escalation = []flows.EscalationStep{
			{At: t0.Add(20 * time.Minute), Approvers: []string{"dba1@example.com", "carol@example.com", "owner@example.com"}, Channel: "#dba-oncall"},
			{At: t0.Add(40 * time.Minute), Approvers: []string{"admin@example.com"}},
		}
		return r
	}
	tests := []struct {
		name      string
		prepare   func(r *flows.Request)
		at        time.Duration
		want      []flows.EventType
		tier      int
		approvers []string
		remindAt  time.Duration // the next reminder, from t0; 0: none
		due       time.Duration // DueAt after, from t0
		message   string
	}{
		{name: "nothing due yet", at: 9 * time.Minute, tier: 0, approvers: []string{"owner@example.com"}, remindAt: 10 * time.Minute, due: 10 * time.Minute},
		{name: "reminder", at: 10 * time.Minute, want: []flows.EventType{flows.EventApproversReminded}, approvers: []string{"owner@example.com"},
			remindAt: 20 * time.Minute, due: 20 * time.Minute, message: "reminded owner@example.com"},
		{name: "late reminder counts from when it went", at: 13 * time.Minute, want: []flows.EventType{flows.EventApproversReminded},
			approvers: []string{"owner@example.com"}, remindAt: 23 * time.Minute, due: 20 * time.Minute},
		{name: "first tier: the requester and approvers already asked are not added", at: 20 * time.Minute,
			prepare: func(r *flows.Request) { r.RemindApproversAt = t0.Add(20 * time.Minute) },
			want:    []flows.EventType{flows.EventEscalated}, tier: 1, approvers: []string{"owner@example.com", "dba1@example.com"},
			remindAt: 30 * time.Minute, due: 30 * time.Minute, message: "escalation tier 1: asked dba1@example.com; told #dba-oncall"},
		{name: "both tiers after an outage", at: 45 * time.Minute,
			want: []flows.EventType{flows.EventEscalated, flows.EventEscalated}, tier: 2,
			approvers: []string{"owner@example.com", "dba1@example.com", "admin@example.com"}, remindAt: 55 * time.Minute, due: 55 * time.Minute},
		{name: "no reminder past the ttl", at: 55 * time.Minute,
			prepare: func(r *flows.Request) {
				r.Escalation = nil
				r.RemindApproversAt = t0.Add(55 * time.Minute)
			},
			want: []flows.EventType{flows.EventApproversReminded}, approvers: []string{"owner@example.com"}, due: time.Hour},
		{name: "nothing once the ttl is over", at: time.Hour, prepare: func(r *flows.Request) { r.RemindApproversAt = t0.Add(50 * time.Minute) },
			approvers: []string{"owner@example.com"}, remindAt: 50 * time.Minute, due: 20 * time.Minute},
		{name: "nothing once decided", at: 30 * time.Minute, prepare: func(r *flows.Request) { r.State = flows.StateDenied },
			approvers: []string{"owner@example.com"}, remindAt: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			if tt.prepare != nil {
				tt.prepare(r)
			}
			evs, err := r.Nudge(t0.Add(tt.at))
			if len(tt.want) == 0 {
				if flows.ErrorCode(err) != flows.ECONFLICT {
					t.Fatalf("want ECONFLICT, got %v %v", evs, err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var types []flows.EventType
			for i, ev := range evs {
				types = append(types, ev.Type)
				if ev.Type == flows.EventEscalated && ev.Tier != i+1 {
					t.Fatalf("event %d reached tier %d", i, ev.Tier)
				}
			}
			if !slices.Equal(types, tt.want) {
				t.Fatalf("events %v, want %v", types, tt.want)
			}
			if tt.message != "" && evs[0].Message != tt.message {
				t.Fatalf("message %q, want %q", evs[0].Message, tt.message)
			}
			if r.Tier != tt.tier || !slices.Equal(r.Approvers, tt.approvers) {
				t.Fatalf("tier %d approvers %v, want %d %v", r.Tier, r.Approvers, tt.tier, tt.approvers)
			}
			wantRemind := time.Time{}
			if tt.remindAt > 0 {
				wantRemind = t0.Add(tt.remindAt)
			}
			if !r.RemindApproversAt.Equal(wantRemind) {
				t.Fatalf("next reminder %v, want %v", r.RemindApproversAt, wantRemind)
			}
			wantDue := time.Time{}
			if tt.due > 0 {
				wantDue = t0.Add(tt.due)
			}
			if !r.DueAt().Equal(wantDue) {
				t.Fatalf("due %v, want %v", r.DueAt(), wantDue)
			}
		})
	}
}

// TestEscalationThroughTheSweep: the sweep reminds, escalates, tells the
// requester each time, lets the escalated approvers (and only them, once
// reached) approve, and the pending TTL still ends what nobody decides.
func TestEscalationThroughTheSweep(t *testing.T) {
	f := newFixture(t, escalating)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if !r.DueAt().Equal(t0.Add(10*time.Minute)) || len(r.Escalation) != 2 ||
		!slices.Equal(r.Escalation[0].Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("planned: due %v, steps %+v", r.DueAt(), r.Escalation)
	}
	if _, err := f.decide(r.ID, "dba1@example.com", true, ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("a tier not reached yet approved: %v", err)
	}
	other := f.mustSubmit("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)

	if rep := f.sweepAt(t0.Add(10 * time.Minute)); rep.Nudged != 2 {
		t.Fatalf("reminders: %+v", rep)
	}
	n := noticesOf(f, flows.EventApproversReminded, r.ID)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"carol@example.com", "owner@example.com"}) {
		t.Fatalf("reminder audience: %+v", n)
	}

	if rep := f.sweepAt(t0.Add(20 * time.Minute)); rep.Nudged != 2 {
		t.Fatalf("escalations: %+v", rep)
	}
	n = noticesOf(f, flows.EventEscalated, r.ID)
	if len(n) != 1 || n[0].Event.Tier != 1 || !slices.Equal(n[0].To, []string{"carol@example.com", "dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("escalation audience: %+v", n)
	}
	if got := f.get(r.ID); got.Tier != 1 || !slices.Contains(got.Approvers, "dba1@example.com") {
		t.Fatalf("after escalation: tier %d approvers %v", got.Tier, got.Approvers)
	}
	if _, err := f.decide(r.ID, "admin@example.com", true, ""); flows.ErrorCode(err) != flows.EFORBIDDEN && flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("the second tier approved before it was reached: %v", err)
	}
	if got, err := f.decide(r.ID, "dba1@example.com", true, ""); err != nil || got.State != flows.StateActive {
		t.Fatalf("the escalated approver: %v %v", got, err)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproversReminded, flows.EventEscalated,
		flows.EventApproved, flows.EventProvisioning, flows.EventActivated)

	// The other request is left alone by everyone: the second tier, then
	// the TTL.
	f.sweepAt(t0.Add(40 * time.Minute))
	if got := f.get(other.ID); got.Tier != 2 || !slices.Contains(got.Approvers, "admin@example.com") {
		t.Fatalf("second tier: %d %v", got.Tier, got.Approvers)
	}
	if rep := f.sweepAt(t0.Add(time.Hour)); rep.TimedOut != 1 || f.get(other.ID).State != flows.StateTimedOut {
		t.Fatalf("the TTL did not end it: %+v", rep)
	}
	// Swept at 10, 20, 40 and 60 minutes: a reminder, an escalation, an
	// escalation (the reminder due at 30 gives way to it), the time-out.
	var types []flows.EventType
	for _, ev := range f.store.Events() {
		if ev.RequestID == other.ID {
			types = append(types, ev.Type)
		}
	}
	want := []flows.EventType{flows.EventSubmitted, flows.EventApproversReminded, flows.EventEscalated, flows.EventEscalated, flows.EventTimedOut}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

// TestEscalatedApproverAfterReload: a reloaded policy still lets the
// approvers of a tier reached decide while the tier names them, and stops
// them once it does not.
func TestEscalatedApproverAfterReload(t *testing.T) {
	f := newFixture(t, escalating)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.sweepAt(t0.Add(20 * time.Minute))

	spec := testPolicy()
	escalating(&spec, nil)
	spec.Admins = append(spec.Admins, "other-admin@example.com") // a change: another hash
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.decide(r.ID, "dba2@example.com", false, "not now"); err != nil {
		t.Fatalf("a tier approver under the reloaded policy: %v", err)
	}

	r = f.mustSubmit("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.sweepAt(t0.Add(41 * time.Minute))
	spec.Flows[0].Escalation[0].Approvers = []string{"user:bob@example.com"}
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.decide(r.ID, "dba2@example.com", true, ""); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "no longer an approver") {
		t.Fatalf("a tier approver the policy dropped: %v", err)
	}
}

func noticesOf(f *fixture, t flows.EventType, id flows.RequestID) []flows.Notice {
	var out []flows.Notice
	for _, n := range f.notes.Of(t) {
		if n.Event.RequestID == id {
			out = append(out, n)
		}
	}
	return out
}

func TestDescribeEscalation(t *testing.T) {
	spec := testPolicy()
	escalating(&spec, nil)
	f, _ := mustCompile(t, spec).Flow("prod-read")
	want := []string{
		"approvers who have not decided are reminded every 10m",
		"escalation tier 1 after 20m: group:dba may approve too; #dba-oncall is told",
		"escalation tier 2 after 40m: user:admin@example.com may approve too",
	}
	if got := flows.DescribeEscalation(f); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestPolicyChannels: every channel the flows post to, once, in file
// order: approvals channels, escalation tiers', break-glass channels and
// their review tiers'.
func TestPolicyChannels(t *testing.T) {
	spec := testPolicy()
	var cfg flows.Config
	escalating(&spec, &cfg)
	withBreakGlass(&spec, &cfg)
	spec.Flows[0].ApprovalsChannel = "C0FLOW"
	last := &spec.Flows[len(spec.Flows)-1]
	last.ApprovalsChannel = "#dba-oncall"
	last.BreakGlass.Escalation[0].Channel = "#ciso"
	p := mustCompile(t, spec)
	if got := strings.Join(p.Channels(), " "); got != "C0FLOW #dba-oncall #security #ciso" {
		t.Errorf("channels %q", got)
	}
	if got := mustCompile(t, testPolicy()).Channels(); len(got) != 0 {
		t.Errorf("a policy naming no channel: %q", got)
	}
}

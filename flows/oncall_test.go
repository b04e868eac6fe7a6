package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// onCallFlow makes prod-read approved by the owners and by whoever is on
// call on schedule PSCHED1.
func onCallFlow(auto bool) func(*flows.PolicySpec, *flows.Config) {
	return func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[0].OnCall = &flows.OnCallSpec{Schedules: []string{"PSCHED1"}, AutoApproveOnCall: auto}
	}
}

func TestOnCallCompile(t *testing.T) {
	tests := []struct {
		name string
		spec flows.OnCallSpec
		path string
		want string
	}{
		{"nothing named", flows.OnCallSpec{}, "flows[0].oncall", "name schedules or escalation_policies"},
		{"not an id", flows.OnCallSpec{Schedules: []string{"my schedule"}}, "flows[0].oncall.schedules[0]", "not a PagerDuty id"},
		{"levels without policies", flows.OnCallSpec{Schedules: []string{"P1"}, Levels: []int{2}}, "flows[0].oncall.levels", "levels are of escalation policies"},
		{"level out of range", flows.OnCallSpec{EscalationPolicies: []string{"P1"}, Levels: []int{0}}, "flows[0].oncall.levels[0]", "from 1 to 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			spec.Flows[0].OnCall = &tt.spec
			_, err := flows.Compile(spec)
			var verr flows.ValidationError
			if !asValidation(err, &verr) {
				t.Fatalf("want a validation error, got %v", err)
			}
			for _, fe := range verr {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.want) {
					return
				}
			}
			t.Fatalf("want %s: …%s…, got %v", tt.path, tt.want, err)
		})
	}
	// On call alone is enough approvers; levels default to 1.
	spec := testPolicy()
	spec.Flows[0].Approvers = nil
	spec.Flows[0].OnCall = &flows.OnCallSpec{EscalationPolicies: []string{"PPOL1"}}
	p := mustCompile(t, spec)
	f, _ := p.Flow("prod-read")
	if !slices.Equal(f.OnCall.Query.Levels, []int{1}) {
		t.Fatalf("levels %v, want [1]", f.OnCall.Query.Levels)
	}
}

func TestOnCallRouting(t *testing.T) {
	tests := []struct {
		name      string
		auto      bool
		down      bool
		people    []string
		requester string
		state     flows.State
		approver  string // among the approvers
		notApprov string // not among them
		note      string
	}{
		{"on call people approve", false, false, []string{"oncall@example.com"}, "alice@example.com", flows.StatePending, "oncall@example.com", "", "on call now (PagerDuty): oncall@example.com"},
		{"outage falls back to the other approvers", false, true, nil, "alice@example.com", flows.StatePending, "owner@example.com", "oncall@example.com", "PagerDuty could not be reached"},
		{"requester on call is auto-approved", true, false, []string{"alice@example.com", "oncall@example.com"}, "alice@example.com", flows.StateActive, "", "", ""},
		{"requester on call, not auto", false, false, []string{"alice@example.com"}, "alice@example.com", flows.StatePending, "owner@example.com", "alice@example.com", "nobody else is on call"},
		{"auto-approval fails closed on an outage", true, true, nil, "alice@example.com", flows.StatePending, "owner@example.com", "", "on-call auto-approval waits for a person"},
		{"not on call: waits", true, false, []string{"oncall@example.com"}, "alice@example.com", flows.StatePending, "oncall@example.com", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, oc, _ := newIntegratedFixture(t, onCallFlow(tt.auto))
			oc.set(tt.down, tt.people...)
			r, err := f.submit(tt.requester, "prod/Cluster0/sales/customers", "read", time.Hour, "INC-1 debugging")
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tt.state {
				t.Fatalf("state %s, want %s", r.State, tt.state)
			}
			if tt.approver != "" && !slices.Contains(r.Approvers, tt.approver) {
				t.Errorf("approvers %v lack %s", r.Approvers, tt.approver)
			}
			if tt.notApprov != "" && slices.Contains(r.Approvers, tt.notApprov) {
				t.Errorf("approvers %v include %s", r.Approvers, tt.notApprov)
			}
			if !strings.Contains(r.RoutingNote, tt.note) {
				t.Errorf("note %q, want …%s…", r.RoutingNote, tt.note)
			}
		})
	}
}

// TestOnCallAtTheClick: on call is judged when a person clicks, from an
// answer at most a minute old.
func TestOnCallAtTheClick(t *testing.T) {
	f, oc, _ := newIntegratedFixture(t, onCallFlow(false), func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[0].Approvals = 2
		s.Flows[0].Approvers = []string{"user:owner@example.com"}
	})
	oc.set(false, "oncall@example.com")
	r := f.mustSubmit("alice@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if !slices.Equal(r.OnCallApprovers, []string{"oncall@example.com"}) {
		t.Fatalf("on-call approvers %v", r.OnCallApprovers)
	}
	// The shift changes: within the minute the cached answer stands...
	oc.set(false, "next@example.com")
	f.clock.Advance(30 * time.Second)
	if _, err := f.decide(r.ID, "next@example.com", true, ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("the next on call, before the cache is a minute old: want not found, got %v", err)
	}
	// ...after it, PagerDuty is asked again: the one who left is refused,
	// the one who came is an approver from their click.
	f.clock.Advance(31 * time.Second)
	if _, err := f.decide(r.ID, "oncall@example.com", true, ""); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "no longer on call") {
		t.Fatalf("off call: want refused, got %v", err)
	}
	got, err := f.decide(r.ID, "next@example.com", true, "")
	if err != nil || len(got.Approvals) != 1 || !slices.Contains(got.OnCallApprovers, "next@example.com") {
		t.Fatalf("the next on call: %v %+v", err, got)
	}
	// An outage: a click that depends on being on call fails closed.
	f.clock.Advance(2 * time.Minute)
	oc.set(true)
	if _, err := f.decide(r.ID, "next@example.com", false, ""); flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("outage: want unavailable, got %v", err)
	}
	// A static approver is never held up by PagerDuty.
	calls := oc.calls
	got, err = f.decide(r.ID, "owner@example.com", true, "")
	if err != nil || got.State != flows.StateActive || oc.calls != calls {
		t.Fatalf("static approver: %v %s, pagerduty calls %d -> %d", err, got.State, calls, oc.calls)
	}
}

func TestOnCallNeedsTheService(t *testing.T) {
	spec := testPolicy()
	onCallFlow(false)(&spec, nil)
	_, err := flows.NewService(flows.Config{Policy: mustCompile(t, spec)}, flows.Deps{
		Store: flowstest.NewStore(), Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Catalog: testCatalog(), Secrets: &flowstest.Secrets{},
	})
	if err == nil || !strings.Contains(err.Error(), "no on-call service (pagerduty) is configured") {
		t.Fatalf("want the missing service named, got %v", err)
	}
}

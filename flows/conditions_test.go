package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestReasonPatternCompile(t *testing.T) {
	tests := []struct {
		name, pattern, message, path, want string
	}{
		{"not a regexp", "^(DBA-[0-9]+", "", "flows[0].reason_pattern", "not a regular expression"},
		{"matches nothing in particular", "[A-Z]*", "", "flows[0].reason_pattern", "matches an empty reason"},
		{"too long", "^" + strings.Repeat("a", 200), "", "flows[0].reason_pattern", "at most 200"},
		{"a message alone", "", "name a ticket", "flows[0].reason_message", "never shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			spec.Flows[0].ReasonPattern, spec.Flows[0].ReasonMessage = tt.pattern, tt.message
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
}

func TestReasonPattern(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[0].ReasonPattern = `^[A-Z]+-[0-9]+\b`
		s.Flows[0].ReasonMessage = "start with a ticket key, like DBA-123"
	})
	tests := []struct {
		reason string
		ok     bool
	}{
		{"DBA-123 debugging a slow query", true},
		{"INC-9", true},
		{"debugging DBA-123", false},
		{"dba-123 lower case", false},
		{"DBA-x", false},
	}
	for i, tt := range tests {
		requester := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com"}[i]
		_, err := f.submit(requester, "prod/Cluster0/sales/customers", "read", time.Hour, tt.reason)
		switch {
		case tt.ok && err != nil:
			t.Errorf("%q refused: %v", tt.reason, err)
		case !tt.ok && (flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "start with a ticket key, like DBA-123")):
			t.Errorf("%q: want the flow's message, got %v", tt.reason, err)
		}
	}
	// Another flow without a pattern takes any reason.
	if _, err := f.submit("alice@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "debugging"); err != nil {
		t.Fatalf("a flow without a pattern: %v", err)
	}
}

// TestApprovalsFromGroups: one dba and one security approval; dual (in
// both groups) counts once, toward whichever group the others cannot fill.
func TestApprovalsFromGroups(t *testing.T) {
	groups := func(s *flows.PolicySpec, _ *flows.Config) {
		s.Groups["security"] = []string{"sec1@example.com", "dba1@example.com"}
		s.Flows[0].Approvers = nil
		s.Flows[0].ApprovalsFrom = []flows.GroupApprovalSpec{{Group: "dba", Count: 1}, {Group: "security", Count: 1}}
	}
	tests := []struct {
		name     string
		approve  []string
		approved bool
		status   string
	}{
		{"one person in both groups counts once", []string{"dba1@example.com"}, false, "needs 1 of dba and 1 of security; 1 of 2 given"},
		{"the dual approver moves to security for a dba", []string{"dba1@example.com", "dba2@example.com"}, true, ""},
		{"one of each", []string{"sec1@example.com", "dba2@example.com"}, true, ""},
		{"two of one group", []string{"sec1@example.com"}, false, "needs 1 of dba and 1 of security; 1 of 2 given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, groups)
			r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
			var err error
			for _, a := range tt.approve {
				if r, err = f.decide(r.ID, a, true, ""); err != nil {
					t.Fatalf("%s: %v", a, err)
				}
			}
			if got := r.State != flows.StatePending; got != tt.approved {
				t.Fatalf("state %s, want approved=%v (%s)", r.State, tt.approved, r.DescribeRequirements())
			}
			if tt.status != "" && r.DescribeRequirements() != tt.status {
				t.Fatalf("status %q, want %q", r.DescribeRequirements(), tt.status)
			}
		})
	}
	// check: counts that cannot be met, unknown groups.
	for _, tt := range []struct {
		name string
		from []flows.GroupApprovalSpec
		path string
		want string
	}{
		{"unknown group", []flows.GroupApprovalSpec{{Group: "nope", Count: 1}}, "flows[0].approvals_from[0].group", `unknown group "nope"`},
		{"more than the members", []flows.GroupApprovalSpec{{Group: "dba", Count: 3}}, "flows[0].approvals_from[0].count", "can never be met"},
		{"people count once", []flows.GroupApprovalSpec{{Group: "dba", Count: 2}, {Group: "security", Count: 2}}, "flows[0].approvals_from", "at most 3 of the 4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			groups(&spec, nil)
			spec.Flows[0].ApprovalsFrom = tt.from
			_, err := flows.Compile(spec)
			if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %s: …%s…, got %v", tt.path, tt.want, err)
			}
		})
	}
}

// TestApprovalsFromAfterReload: a reload keeps the groups' members
// approvers of requests routed before it (unless they left the group), and
// the policy warns about members whose own requests are always refused.
func TestApprovalsFromAfterReload(t *testing.T) {
	groups := func(s *flows.PolicySpec, _ *flows.Config) {
		s.Groups["security"] = []string{"sec1@example.com", "sec2@example.com"}
		s.Flows[0].Approvers = nil
		s.Flows[0].ApprovalsFrom = []flows.GroupApprovalSpec{{Group: "dba", Count: 1}, {Group: "security", Count: 1}}
	}
	f := newFixture(t, groups)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	spec := testPolicy()
	groups(&spec, nil)
	spec.Groups["security"] = []string{"sec1@example.com"} // sec2 leaves security
	spec.Admins = append(spec.Admins, "new-admin@example.com")
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.decide(r.ID, "sec2@example.com", true, ""); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "no longer an approver") {
		t.Fatalf("a member who left the group: %v", err)
	}
	if _, err := f.decide(r.ID, "dba1@example.com", true, ""); err != nil {
		t.Fatalf("a dba, still in the group after the reload: %v", err)
	}
	if r, err := f.decide(r.ID, "sec1@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("security, still in the group after the reload: %v %v", r, err)
	}

	// Warnings: sec1 alone in security cannot be approved by the others.
	p := mustCompile(t, spec)
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.Error())
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "flows[0].approvals_from: ") || !strings.Contains(got[0], "requests by sec1@example.com are always refused") {
		t.Fatalf("warnings: %q", got)
	}
}

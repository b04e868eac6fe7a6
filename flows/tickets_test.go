package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func ticketFlow(onOutage string, end bool) func(*flows.PolicySpec, *flows.Config) {
	return func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[0].Ticket = &flows.TicketSpec{Required: true, Projects: []string{"OPS", "INC"}, OnOutage: onOutage, EndWhenResolved: end}
	}
}

func TestTicketCompile(t *testing.T) {
	tests := []struct {
		name string
		spec flows.TicketSpec
		path string
		want string
	}{
		{"bad project", flows.TicketSpec{Required: true, Projects: []string{"ops"}}, "flows[0].ticket.projects[0]", "not a Jira project key"},
		{"bad outage rule", flows.TicketSpec{Required: true, OnOutage: "maybe"}, "flows[0].ticket.on_outage", "use refuse"},
		{"end without required", flows.TicketSpec{EndWhenResolved: true}, "flows[0].ticket.end_when_resolved", "set required: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			spec.Flows[0].Ticket = &tt.spec
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

func TestTicketAtSubmit(t *testing.T) {
	tests := []struct {
		name     string
		onOutage string
		down     bool
		reason   string
		code     flows.Code
		want     string
	}{
		{"open ticket", "", false, "OPS-1 slow queries", "", ""},
		{"no ticket", "", false, "slow queries", flows.EINVALID, `requires a Jira ticket in the reason, like "OPS-123`},
		{"project not allowed", "", false, "SALES-4 look", flows.EINVALID, "takes tickets of OPS, INC"},
		{"missing issue", "", false, "OPS-404 look", flows.EINVALID, "there is no Jira issue OPS-404"},
		{"resolved", "", false, "INC-2 postmortem", flows.EINVALID, "INC-2 is resolved"},
		{"outage refused", "refuse", true, "OPS-1 slow", flows.EUNAVAILABLE, "Jira could not be reached to check ticket OPS-1"},
		{"outage allowed", "allow", true, "OPS-1 slow", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, jira := newIntegratedFixture(t, ticketFlow(tt.onOutage, false))
			jira.set("OPS-1", flows.Ticket{Project: "OPS"})
			jira.set("INC-2", flows.Ticket{Project: "INC", Resolved: true})
			jira.down = tt.down
			r, err := f.submit("alice@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, tt.reason)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.Ticket != "OPS-1" {
					t.Fatalf("ticket %q", r.Ticket)
				}
				if tt.down && !strings.Contains(r.RoutingNote, "ticket OPS-1 was not checked") {
					t.Fatalf("note %q", r.RoutingNote)
				}
				return
			}
			if flows.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %s …%s…, got %v", tt.code, tt.want, err)
			}
		})
	}
}

// TestGrantEndsWithItsTicket: an active grant is ended by the sweep once
// its ticket is resolved; each ticket is read once per check, and answers
// are reused for a while.
func TestGrantEndsWithItsTicket(t *testing.T) {
	f, _, jira := newIntegratedFixture(t, ticketFlow("", true))
	jira.set("OPS-1", flows.Ticket{Project: "OPS"})
	var ids []flows.RequestID
	for _, who := range []string{"alice@example.com", "bob@example.com"} {
		r, err := f.submit(who, "prod/Cluster0/sales/customers", "read", 4*time.Hour, "OPS-1 incident")
		if err != nil {
			t.Fatal(err)
		}
		if r, err = f.decide(r.ID, "owner@example.com", true, ""); err != nil || r.State != flows.StateActive {
			t.Fatalf("approve: %v", err)
		}
		if r.TicketCheckAt.IsZero() || !r.DueAt().Equal(r.TicketCheckAt) {
			t.Fatalf("ticket check %v not due (due %v)", r.TicketCheckAt, r.DueAt())
		}
		ids = append(ids, r.ID)
	}
	calls := jira.calls
	f.sweepAt(t0.Add(2 * time.Minute))
	if jira.calls != calls+1 {
		t.Fatalf("jira calls %d -> %d, want one for one ticket", calls, jira.calls)
	}
	for _, id := range ids {
		if r := f.get(id); r.State != flows.StateActive || !r.TicketCheckAt.After(t0.Add(2*time.Minute)) {
			t.Fatalf("open ticket: %s, next check %v", r.State, r.TicketCheckAt)
		}
	}
	jira.set("OPS-1", flows.Ticket{Project: "OPS", Resolved: true})
	f.sweepAt(t0.Add(4 * time.Minute))
	for _, id := range ids {
		r := f.get(id)
		if r.State != flows.StateExpired || !strings.Contains(r.EndReason, "ticket OPS-1 was resolved") {
			t.Fatalf("resolved ticket: %s %q", r.State, r.EndReason)
		}
	}
	if n := f.prov.Count("delete"); n != 2 || len(f.prov.Users()) != 0 {
		t.Fatalf("deleted %d grants, want 2", n)
	}
}

package flows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// BenchmarkRouteWithOnCallAndTicket: routing a request through a flow
// whose approvers include the people on call and whose reason names a
// ticket, PagerDuty and Jira answering from the cache, against the same
// flow without either (DESIGN budget: under 1 ms added). Compare the two
// sub-benchmarks' ns/op.
func BenchmarkRouteWithOnCallAndTicket(b *testing.B) {
	for _, withIntegrations := range []bool{false, true} {
		name := "plain"
		if withIntegrations {
			name = "oncall+jira_cached"
		}
		b.Run(name, func(b *testing.B) {
			f, oc, jira := newIntegratedFixture(b, func(s *flows.PolicySpec, c *flows.Config) {
				c.MaxLiveRequests = 1 << 30
				if withIntegrations {
					s.Flows[0].OnCall = &flows.OnCallSpec{Schedules: []string{"PSCHED1"}}
					s.Flows[0].Ticket = &flows.TicketSpec{Required: true, Projects: []string{"OPS"}}
				}
			})
			oc.set(false, "oncall@example.com")
			jira.set("OPS-1", flows.Ticket{Project: "OPS"})
			res, _ := flows.ParseResource("prod/Cluster0/sales/customers")
			submit := func(i int) {
				if _, err := f.svc.Submit(f.ctx, flows.SubmitInput{Requester: fmt.Sprintf("u%d@example.com", i), Resource: res, Roles: []string{"read"},
					Duration: time.Hour, Reason: "OPS-1 debugging"}); err != nil {
					b.Fatal(err)
				}
			}
			submit(-1) // fills the caches
			calls := oc.calls + jira.calls
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				submit(i)
			}
			b.StopTimer()
			if withIntegrations && oc.calls+jira.calls != calls {
				b.Fatalf("the cache was missed: %d calls", oc.calls+jira.calls-calls)
			}
		})
	}
}

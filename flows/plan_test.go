package flows_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestPlanRevocations(t *testing.T) {
	rl := flows.RateLimit{Capacity: 10, Refill: 5, Per: time.Minute}
	deadline := t0.Add(time.Hour)
	deadlines := make([]time.Time, 100)
	for i := range deadlines {
		deadlines[i] = deadline
	}
	starts := flows.PlanRevocations(deadlines, rl)
	if !starts[99].Equal(deadline) || !starts[0].Equal(deadline.Add(-99*12*time.Second)) {
		t.Fatalf("first %v last %v", starts[0], starts[99])
	}
	for i := 1; i < len(starts); i++ {
		if starts[i].Sub(starts[i-1]) < 12*time.Second || starts[i].After(deadlines[i]) {
			t.Fatalf("start %d at %v is too close to %v or after its deadline", i, starts[i], starts[i-1])
		}
	}
	spread := flows.PlanRevocations([]time.Time{t0, t0.Add(time.Hour)}, rl)
	if !spread[0].Equal(t0) || !spread[1].Equal(t0.Add(time.Hour)) {
		t.Fatalf("far-apart deadlines need no early start: %v", spread)
	}
}

func TestSweepStartsRevocationsEarlyUnderARateLimit(t *testing.T) {
	rl := flows.RateLimit{Capacity: 10, Refill: 5, Per: time.Minute}
	f := newFixture(t, func(s *flows.PolicySpec, c *flows.Config) {
		s.Flows[0].Requesters = []string{"*"}
		c.RateLimits = map[string]flows.RateLimit{"prod": rl}
	})
	var reqs []*flows.Request
	for i := range 20 {
		reqs = append(reqs, f.active(fmt.Sprintf("user%02d@example.com", i), "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com"))
	}
	deadline := reqs[0].ExpiresAt
	var deletedAt []time.Time
	f.prov.OnCall = func(op string, _ flows.Grant) {
		if op == "delete" {
			deletedAt = append(deletedAt, f.clock.Now())
		}
	}
	for now := deadline.Add(-10 * time.Minute); !now.After(deadline); now = now.Add(5 * time.Second) {
		f.sweepAt(now)
	}
	if len(deletedAt) != 20 {
		t.Fatalf("deleted %d of 20 by the deadline", len(deletedAt))
	}
	// Each revocation starts at the last tick before its planned start, so
	// all finish by the shared deadline.
	planned := flows.PlanRevocations(slices.Repeat([]time.Time{deadline}, 20), rl)
	for i, at := range deletedAt {
		if at.After(planned[i]) || at.Before(planned[i].Add(-5*time.Second)) {
			t.Fatalf("revocation %d at %v, want within the tick before %v", i, at, planned[i])
		}
	}
	for i := 1; i < len(deletedAt); i++ {
		if gap := deletedAt[i].Sub(deletedAt[i-1]); gap < 10*time.Second {
			t.Fatalf("revocations %d and %d only %v apart", i-1, i, gap)
		}
	}
}

package flows

import (
	"context"
	"sort"
	"time"
)

// RateLimit is a token bucket: Capacity calls at once, refilled by Refill
// calls every Per.
type RateLimit struct {
	Capacity int
	Refill   int
	Per      time.Duration
}

// earlyRevocations returns the active grants that must start revoking now so
// that every grant of a rate-limited integration is gone by its deadline.
func (s *Service) earlyRevocations(ctx context.Context, now time.Time) ([]RequestID, error) {
	if len(s.cfg.RateLimits) == 0 {
		return nil, nil
	}
	var horizon time.Duration
	for _, rl := range s.cfg.RateLimits {
		// Atlas caps a project at 100 users, so no chain of deletes is longer.
		horizon = max(horizon, 100*rl.interval())
	}
	expiring, err := s.store.Expiring(ctx, now.Add(horizon), 0)
	if err != nil {
		return nil, err
	}
	byIntegration := map[string][]*Request{}
	for _, r := range expiring {
		byIntegration[r.Resource.Integration] = append(byIntegration[r.Resource.Integration], r)
	}
	var out []RequestID
	for name, rs := range byIntegration {
		rl, ok := s.cfg.RateLimits[name]
		if !ok {
			continue
		}
		deadlines := make([]time.Time, len(rs))
		for i, r := range rs {
			deadlines[i] = r.ExpiresAt
		}
		for i, start := range PlanRevocations(deadlines, rl) {
			if now.Add(s.cfg.SweepInterval).After(start) {
				out = append(out, rs[i].ID)
			}
		}
	}
	return out, nil
}

func (rl RateLimit) interval() time.Duration { return rl.Per / time.Duration(rl.Refill) }

// PlanRevocations returns, for deadlines in ascending order, the latest time
// each revocation may start so that all finish by their deadlines when Atlas
// admits one call per refill interval. Working back from the last deadline,
// each start is at most its deadline and at least one interval before the
// next start. (This ignores the bucket's initial burst, which only makes the
// plan start a little earlier than strictly needed.)
func PlanRevocations(deadlines []time.Time, rl RateLimit) []time.Time {
	if !sort.SliceIsSorted(deadlines, func(i, j int) bool { return deadlines[i].Before(deadlines[j]) }) {
		panic("flows: PlanRevocations needs deadlines in ascending order")
	}
	starts := make([]time.Time, len(deadlines))
	step := rl.interval()
	for i := len(deadlines) - 1; i >= 0; i-- {
		starts[i] = deadlines[i]
		if i+1 < len(deadlines) {
			if bound := starts[i+1].Add(-step); bound.Before(starts[i]) {
				starts[i] = bound
			}
		}
	}
	return starts
}

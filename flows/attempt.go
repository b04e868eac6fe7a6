package flows

import (
	"math/rand/v2"
	"time"
)

// lease says whether an attempt may take over the lease of another.
type lease int

const (
	respectLease  lease = iota // wait for the lease to run out
	takeDeadLease              // take over a lease a dead process left (Resume)
	takeAnyLease               // take over any lease (its holder is done with it)
)

// takeOver reports whether an attempt under l may ignore r's lease.
func (s *Service) takeOver(l lease, r *Request) bool {
	switch l {
	case takeAnyLease:
		return true
	case takeDeadLease:
		return !r.NextAttemptAt.After(s.started.Add(s.cfg.Lease))
	}
	return false
}

// backoff is the wait before attempt n+1: RetryBase doubling up to RetryMax,
// with ±50% jitter so that many grants failing together do not retry together.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	return d/2 + rand.N(d)
}

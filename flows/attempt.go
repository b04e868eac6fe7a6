package flows

import (
	"context"
	"math/rand/v2"
	"sync"
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

// holdLease renews the lease provisioning attempt n holds on request id
// every third of a lease until release is called (or ctx ends), so that a
// lease can be short and still cover a long wait on Atlas: a process that
// dies mid-attempt stops renewing, and the next sweep takes the request
// over within a lease (with several replicas, whichever dies; Resume only
// catches the leases left by a process before this one started). A
// renewal that fails is logged and tried again on the next tick; one
// refused (the request moved on) ends the renewals. release waits for a
// renewal under way, so that nothing renews after it returns; it may be
// called more than once.
func (s *Service) holdLease(ctx context.Context, id RequestID, n int) (release func()) {
	every := s.cfg.Lease / 3
	if every <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
				return nil, r.RenewProvisioning(n, s.clock.Now().Add(s.cfg.Lease))
			})
			if ErrorCode(err) == ECONFLICT {
				return
			}
			if err != nil {
				s.log.WarnContext(ctx, "could not renew a provisioning lease; trying again", "request_id", id, "attempt", n, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(stop) })
		<-done
	}
}

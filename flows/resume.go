package flows

import (
	"context"
	"fmt"
	"sync"
)

// Resume finishes what a crash interrupted: requests left approved,
// provisioning or revoking. It takes over the leases a dead process left
// (those taken before this service started), and leaves alone the ones
// this process's sweeps hold, so it may run while the sweeps go on.
// Revocations go first: each is one quick delete, while a provisioning may
// wait long for Atlas to apply it, and access must not outlive its end
// because of that wait (nor, if the process keeps crashing, for ever).
// Each group runs resumeWorkers at a time: one after another, a restart
// that found tens of grants being provisioned (each waiting seconds for
// Atlas to apply it) held the last ones, approved before the crash, for as
// long as all the waits together.
func (s *Service) Resume(ctx context.Context) (int, error) {
	rs, err := s.store.Find(ctx, Query{States: []State{StateApproved, StateProvisioning, StateRevoking, StateRevokeFailed}})
	if err != nil {
		return 0, fmt.Errorf("flows: resume: %w", err)
	}
	revoking := func(r *Request) bool { return r.State == StateRevoking || r.State == StateRevokeFailed }
	var revocations, provisions []*Request
	for _, r := range rs {
		if revoking(r) {
			revocations = append(revocations, r)
		} else {
			provisions = append(provisions, r)
		}
	}
	s.resumeEach(ctx, revocations, func(r *Request) { s.revoke(ctx, r.ID, takeDeadLease) })
	s.resumeEach(ctx, provisions, func(r *Request) { s.provision(ctx, r.ID, takeDeadLease) })
	return len(rs), nil
}

// resumeWorkers bounds the requests Resume finishes at once.
const resumeWorkers = 8

// resumeEach runs finish on each of rs, resumeWorkers at a time, and
// returns once all are done.
func (s *Service) resumeEach(ctx context.Context, rs []*Request, finish func(*Request)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, resumeWorkers)
	for _, r := range rs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s.log.InfoContext(ctx, "resuming", "request_id", r.ID, "state", string(r.State))
			finish(r)
		})
	}
	wg.Wait()
}

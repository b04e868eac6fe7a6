package flows

import (
	"context"
	"fmt"
)

// Resume finishes what a crash interrupted: requests left approved,
// provisioning or revoking. It takes over the leases a dead process left
// (those taken before this service started), and leaves alone the ones
// this process's sweeps hold, so it may run while the sweeps go on.
// Revocations go first: each is one quick delete, while a provisioning may
// wait long for Atlas to apply it, and access must not outlive its end
// because of that wait (nor, if the process keeps crashing, for ever).
func (s *Service) Resume(ctx context.Context) (int, error) {
	rs, err := s.store.Find(ctx, Query{States: []State{StateApproved, StateProvisioning, StateRevoking, StateRevokeFailed}})
	if err != nil {
		return 0, fmt.Errorf("flows: resume: %w", err)
	}
	revoking := func(r *Request) bool { return r.State == StateRevoking || r.State == StateRevokeFailed }
	for _, r := range rs {
		if revoking(r) {
			s.log.InfoContext(ctx, "resuming", "request_id", r.ID, "state", string(r.State))
			s.revoke(ctx, r.ID, takeDeadLease)
		}
	}
	for _, r := range rs {
		if !revoking(r) {
			s.log.InfoContext(ctx, "resuming", "request_id", r.ID, "state", string(r.State))
			s.provision(ctx, r.ID, takeDeadLease)
		}
	}
	return len(rs), nil
}

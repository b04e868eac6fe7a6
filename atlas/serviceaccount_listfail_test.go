package atlas

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
)

// A list of service accounts that fails (Atlas down, or the caller gone,
// as at shutdown during a new leader's reconcile) is an error, not a
// panic on the missing answer.
func TestServiceAccountListFailureIsAnError(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{})
	s.srv.Inject(atlastest.Fault{OperationID: "listOrgServiceAccounts", Kind: atlastest.FaultServerError})
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	if got, err := s.sa.ManagedGrants(ctx, "acme"); err == nil {
		t.Fatalf("ManagedGrants with Atlas failing: %+v, want an error", got)
	}
}

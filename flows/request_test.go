package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

var t0 = flowstest.T0

// inState returns a request in the given state, as the service would leave it.
func inState(s flows.State) *flows.Request {
	r := flowstest.NewRequest("req1", "alice@example.com", t0)
	r.Quorum = 2
	r.DenyReasonRequired = true
	r.State = s
	switch s {
	case flows.StateApproved:
		r.NextAttemptAt = t0
	case flows.StateProvisioning, flows.StateRevoking, flows.StateRevokeFailed:
		r.Principal, r.NextAttemptAt = "jit-alice-req1", t0.Add(-time.Minute)
		r.EndState = flows.StateExpired
	case flows.StateActive:
		r.Principal, r.ActivatedAt, r.ExpiresAt, r.RemindAt = "jit-alice-req1", t0, t0.Add(time.Hour), t0.Add(45*time.Minute)
	}
	return r
}

// transitions names each transition with a valid call from its source state.
var transitions = map[string]struct {
	from []flows.State // states it is allowed from
	do   func(r *flows.Request, now time.Time) (flows.Event, error)
	to   flows.State
	ev   flows.EventType
}{
	"approve (first of two)": {[]flows.State{flows.StatePending}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Approve("owner@example.com", now)
	}, flows.StatePending, flows.EventApprovalRecorded},
	"auto-approve": {[]flows.State{flows.StatePending}, func(r *flows.Request, now time.Time) (flows.Event, error) { return r.AutoApprove(now) }, flows.StateApproved, flows.EventAutoApproved},
	"deny": {[]flows.State{flows.StatePending}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Deny("owner@example.com", "not during the freeze", now)
	}, flows.StateDenied, flows.EventDenied},
	"cancel": {[]flows.State{flows.StatePending}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Cancel("alice@example.com", false, now)
	}, flows.StateCancelled, flows.EventCancelled},
	"time out": {[]flows.State{flows.StatePending}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.TimeOut(now.Add(2 * time.Hour))
	}, flows.StateTimedOut, flows.EventTimedOut},
	"start provisioning": {[]flows.State{flows.StateApproved, flows.StateProvisioning}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.StartProvisioning(now, now.Add(time.Minute), "jit-alice-req1", now.Add(2*time.Hour), time.Time{})
	}, flows.StateProvisioning, flows.EventProvisioning},
	"retry provisioning": {[]flows.State{flows.StateProvisioning}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.RetryProvisioning(now, now.Add(time.Minute), "Atlas unavailable")
	}, flows.StateProvisioning, flows.EventProvisionRetry},
	"fail provisioning": {[]flows.State{flows.StateApproved, flows.StateProvisioning}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.FailProvisioning(now, "project is full")
	}, flows.StateFailed, flows.EventProvisionFailed},
	"activate": {[]flows.State{flows.StateProvisioning}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Activate(now, 15*time.Minute)
	}, flows.StateActive, flows.EventActivated},
	"remind": {[]flows.State{flows.StateActive}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Remind(now.Add(50 * time.Minute))
	}, flows.StateActive, flows.EventReminder},
	"extend": {[]flows.State{flows.StateActive}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.Extend("alice@example.com", time.Hour, now, 15*time.Minute)
	}, flows.StateActive, flows.EventExtended},
	"start revoking": {[]flows.State{flows.StateApproved, flows.StateProvisioning, flows.StateActive}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.StartRevoking(now, "admin@example.com", flows.StateRevoked, "incident over")
	}, flows.StateRevoking, flows.EventRevoking},
	"retry revocation": {[]flows.State{flows.StateRevoking, flows.StateRevokeFailed}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.RetryRevocation(now, now.Add(time.Minute), "Atlas unavailable", 6)
	}, "", ""},
	"finish revocation": {[]flows.State{flows.StateRevoking, flows.StateRevokeFailed}, func(r *flows.Request, now time.Time) (flows.Event, error) {
		return r.FinishRevocation(now)
	}, flows.StateExpired, flows.EventExpired},
}

// TestTransitions tries every transition from every state: allowed ones move
// the request and return their event; refused ones change nothing.
func TestTransitions(t *testing.T) {
	now := t0.Add(time.Minute)
	for name, tr := range transitions {
		for _, from := range flows.States() {
			t.Run(name+" from "+string(from), func(t *testing.T) {
				r := inState(from)
				before := r.Clone()
				ev, err := tr.do(r, now)
				if !slices.Contains(tr.from, from) {
					if err == nil {
						t.Fatalf("allowed from %s, want refused", from)
					}
					if c := flows.ErrorCode(err); c != flows.ECONFLICT && c != flows.EFORBIDDEN {
						t.Fatalf("refusal code %s: %v", c, err)
					}
					if !cmpRequest(before, r) {
						t.Fatalf("a refused transition changed the request")
					}
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if ev.RequestID != "req1" || ev.From != from || ev.At.IsZero() || ev.Actor == "" {
					t.Fatalf("bad event %+v", ev)
				}
				if tr.to != "" && (r.State != tr.to || ev.To != tr.to || ev.Type != tr.ev) {
					t.Fatalf("got state %s event %s, want %s %s", r.State, ev.Type, tr.to, tr.ev)
				}
			})
		}
	}
}

func cmpRequest(a, b *flows.Request) bool {
	return a.State == b.State && len(a.Approvals) == len(b.Approvals) && a.Denial == nil == (b.Denial == nil) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Attempts == b.Attempts && a.Principal == b.Principal && a.NextAttemptAt.Equal(b.NextAttemptAt)
}

func TestApprovalRules(t *testing.T) {
	now := t0.Add(time.Minute)
	r := inState(flows.StatePending)
	if _, err := r.Approve("alice@example.com", now); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "your own request") {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := r.Approve("mallory@example.com", now); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "not an approver") {
		t.Fatalf("non-approver: %v", err)
	}
	ev, err := r.Approve("owner@example.com", now)
	if err != nil || ev.Type != flows.EventApprovalRecorded || ev.Message != "1 of 2 approvals" {
		t.Fatalf("first approval: %+v %v", ev, err)
	}
	if _, err := r.Approve("owner@example.com", now); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("double approve: %v", err)
	}
	if len(r.Approvals) != 1 {
		t.Fatalf("a repeated approval was counted")
	}
	ev, err = r.Approve("dba@example.com", now)
	if err != nil || ev.Type != flows.EventApproved || r.State != flows.StateApproved || !r.NextAttemptAt.Equal(now) {
		t.Fatalf("quorum: %+v %v %+v", ev, err, r)
	}
	if _, err := r.Approve("dba@example.com", now); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "already approved (approved by owner@example.com, dba@example.com)") {
		t.Fatalf("approve after quorum: %v", err)
	}
}

func TestDenyNeedsReasonWhenFlowSays(t *testing.T) {
	r := inState(flows.StatePending)
	if _, err := r.Deny("owner@example.com", "  ", t0); flows.ErrorCode(err) != flows.EINVALID {
		t.Fatalf("want a reason to be required: %v", err)
	}
	r.DenyReasonRequired = false
	if ev, err := r.Deny("owner@example.com", "", t0); err != nil || ev.Type != flows.EventDenied || r.Denial.By != "owner@example.com" {
		t.Fatalf("deny without reason: %v", err)
	}
	if _, err := r.Approve("dba@example.com", t0); !strings.Contains(err.Error(), "denied by owner@example.com") {
		t.Fatalf("approve after deny must say who denied: %v", err)
	}
}

func TestCancelOnlyByRequesterOrAdmin(t *testing.T) {
	r := inState(flows.StatePending)
	if _, err := r.Cancel("owner@example.com", false, t0); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("cancel by approver: %v", err)
	}
	if _, err := r.Cancel("root@example.com", true, t0); err != nil || r.State != flows.StateCancelled {
		t.Fatalf("cancel by admin: %v", err)
	}
}

func TestTimeOutOnlyAfterTTL(t *testing.T) {
	r := inState(flows.StatePending)
	if _, err := r.TimeOut(r.PendingUntil.Add(-time.Second)); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("early time-out: %v", err)
	}
	if ev, err := r.TimeOut(r.PendingUntil); err != nil || ev.Actor != flows.SystemActor || ev.Message != "nobody decided within 1h" {
		t.Fatalf("time-out: %+v %v", ev, err)
	}
}

func TestProvisioningLease(t *testing.T) {
	r := inState(flows.StateApproved)
	if _, err := r.StartProvisioning(t0, t0.Add(2*time.Minute), "jit-alice-req1", t0.Add(2*time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.StartProvisioning(t0.Add(time.Minute), t0.Add(3*time.Minute), "jit-alice-req1", t0, time.Time{}); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("a second worker must not take a held lease: %v", err)
	}
	if ev, err := r.StartProvisioning(t0.Add(2*time.Minute), t0.Add(4*time.Minute), "jit-alice-req1", t0, time.Time{}); err != nil || ev.Attempt != 2 {
		t.Fatalf("an expired lease is taken over: %+v %v", ev, err)
	}
}

func TestActivateStartsTheClock(t *testing.T) {
	r := inState(flows.StateProvisioning)
	at := t0.Add(10 * time.Minute)
	if _, err := r.Activate(at, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	if !r.ActivatedAt.Equal(at) || !r.ExpiresAt.Equal(at.Add(time.Hour)) || !r.RemindAt.Equal(at.Add(45*time.Minute)) {
		t.Fatalf("clock: %+v", r)
	}
	if !r.DueAt().Equal(r.RemindAt) {
		t.Fatalf("due at the reminder first, got %v", r.DueAt())
	}
	short := inState(flows.StateProvisioning)
	short.Duration = 10 * time.Minute
	_, _ = short.Activate(at, 15*time.Minute)
	if !short.RemindAt.IsZero() || !short.DueAt().Equal(short.ExpiresAt) {
		t.Fatalf("a grant shorter than the reminder lead gets no reminder: %+v", short)
	}
}

func TestExtendRules(t *testing.T) {
	r := inState(flows.StateActive) // 1h of at most 8h
	if _, err := r.Extend("bob@example.com", time.Hour, t0, 0); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("extend by someone else: %v", err)
	}
	if _, err := r.Extend("alice@example.com", 8*time.Hour, t0, 0); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "at most 7h") {
		t.Fatalf("beyond max: %v", err)
	}
	if ev, err := r.Extend("alice@example.com", 7*time.Hour, t0, 0); err != nil || !r.ExpiresAt.Equal(t0.Add(8*time.Hour)) || !ev.Ends.Equal(r.ExpiresAt) {
		t.Fatalf("up to max: %+v %v", ev, err)
	}
	if _, err := r.Extend("alice@example.com", time.Minute, t0, 0); !strings.Contains(err.Error(), "already lasts the 8h") {
		t.Fatalf("at max: %v", err)
	}
}

func TestExtensionApproval(t *testing.T) {
	r := inState(flows.StateActive)
	r.ExtendNeedsApproval, r.Quorum = true, 1
	ev, err := r.Extend("alice@example.com", time.Hour, t0, 15*time.Minute)
	if err != nil || ev.Type != flows.EventExtensionRequested || r.Extension == nil || r.Extension.Number != 1 {
		t.Fatalf("request extension: %+v %v", ev, err)
	}
	if !slices.Equal(r.AwaitingApprovalFrom(), []string{"owner@example.com", "dba@example.com"}) {
		t.Fatalf("awaiting: %v", r.AwaitingApprovalFrom())
	}
	if _, err := r.Extend("alice@example.com", time.Hour, t0, 0); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("second extension while one waits: %v", err)
	}
	if _, err := r.DecideExtension(1, "alice@example.com", true, "", t0, 0); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("self-approval of extension: %v", err)
	}
	if _, err := r.DecideExtension(2, "owner@example.com", true, "", t0, 0); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("wrong extension number: %v", err)
	}
	ev, err = r.DecideExtension(1, "owner@example.com", true, "", t0, 15*time.Minute)
	if err != nil || ev.Type != flows.EventExtended || !r.ExpiresAt.Equal(t0.Add(2*time.Hour)) || !ev.Ends.Equal(r.ExpiresAt) || r.Extension != nil {
		t.Fatalf("approve extension: %+v %v", ev, err)
	}
	if _, err := r.DecideExtension(1, "dba@example.com", true, "", t0, 0); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("a stale extension click must be refused: %v", err)
	}
}

func TestRevocationFailureEscalates(t *testing.T) {
	r := inState(flows.StateActive)
	if _, err := r.StartRevoking(t0, flows.SystemActor, flows.StateExpired, "expired"); err != nil {
		t.Fatal(err)
	}
	var types []flows.EventType
	now := t0
	for range 7 {
		if err := r.ClaimRevocation(now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := r.ClaimRevocation(now, now.Add(time.Minute)); flows.ErrorCode(err) != flows.ECONFLICT {
			t.Fatalf("a held revocation lease must not be taken: %v", err)
		}
		ev, err := r.RetryRevocation(now, now.Add(time.Minute), "Atlas 503", 6)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		now = now.Add(time.Minute)
	}
	want := []flows.EventType{"revoke_retry", "revoke_retry", "revoke_retry", "revoke_retry", "revoke_retry", "revoke_failed", "revoke_retry"}
	if !slices.Equal(types, want) || r.State != flows.StateRevokeFailed {
		t.Fatalf("got %v in %s", types, r.State)
	}
	if !r.DueAt().Equal(r.NextAttemptAt) {
		t.Fatal("a revoke_failed grant must stay due for retries")
	}
	ev, err := r.FinishRevocation(now)
	if err != nil || r.State != flows.StateExpired || ev.Type != flows.EventExpired || !r.DueAt().IsZero() {
		t.Fatalf("finish: %+v %v", ev, err)
	}
}

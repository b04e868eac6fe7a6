package flows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// withBreakGlassMFA makes the break-glass flow require a fresh MFA sign-in.
func withBreakGlassMFA(s *flows.PolicySpec, c *flows.Config) {
	withBreakGlass(s, c)
	s.Flows[5].StepUp = &flows.StepUpSpec{Request: true, AMR: []string{"mfa", "hwk"}, ACRValues: []string{"phr"}}
}

func TestBreakGlassStepUpCompile(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    flows.StepUpSpec
		want string
	}{
		{"request", flows.StepUpSpec{Request: true, AMR: []string{"mfa"}}, ""},
		{"approve", flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}}, "flows[5].step_up.approve: a break-glass flow has no approvals"},
		{"neither", flows.StepUpSpec{AMR: []string{"mfa"}}, "flows[5].step_up: set request: true"},
		{"no method", flows.StepUpSpec{Request: true}, "flows[5].step_up: name amr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testPolicy()
			withBreakGlass(&spec, nil)
			s := tc.s
			spec.Flows[5].StepUp = &s
			p, err := flows.Compile(spec)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f, _ := p.Flow("prod-breakglass"); !f.StepUp.BreakGlass || f.StepUp.Approve {
					t.Fatalf("step_up: %+v", f.StepUp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	// Elsewhere, request: true is still refused.
	spec := testPolicy()
	spec.Flows[0].StepUp = &flows.StepUpSpec{Request: true, AMR: []string{"mfa"}}
	if _, err := flows.Compile(spec); err == nil || !strings.Contains(err.Error(), "flows[0].step_up.request: jitbot requires a fresh sign-in to ask only in a break-glass flow") {
		t.Fatalf("request: true on an ordinary flow: %v", err)
	}
}

// TestBreakGlassStepUp: without a proof nothing is stored nor provisioned
// and the submission comes back to be made again; a proof too old, from
// the wrong method or assurance is refused, still leaving nothing (and no
// once_per mark); a good one grants at once, marked MFA.
func TestBreakGlassStepUp(t *testing.T) {
	f := newFixture(t, withBreakGlassMFA)
	target := "prod/Cluster0/sales/customers"
	res, _ := flows.ParseResource(target)
	in := flows.SubmitInput{Requester: "Alice@Example.com", Resource: res, Roles: []string{"readWrite"}, Duration: 30 * time.Minute,
		Reason: "INC-9 primary down", Origin: "slack", BreakGlass: true, IdempotencyKey: "cmd-1"}
	nothing := func(when string) {
		t.Helper()
		if rs, err := f.svc.Mine(f.ctx, "alice@example.com"); err != nil || len(rs) != 0 {
			t.Fatalf("%s: requests %v %v", when, rs, err)
		}
		if n := len(f.prov.Calls()); n != 0 {
			t.Fatalf("%s: %d provisioner calls: %+v", when, n, f.prov.Calls())
		}
		if alerts := f.notes.Of(flows.EventBrokeGlass); len(alerts) != 0 {
			t.Fatalf("%s: alerted %+v", when, alerts)
		}
	}
	_, err := f.svc.Submit(f.ctx, in)
	var need *flows.StepUpNeeded
	if !errors.As(err, &need) || flows.ErrorCode(err) != flows.EFORBIDDEN || need.BreakGlass == nil || need.RequestID != "" ||
		need.BreakGlass.Requester != "alice@example.com" || need.BreakGlass.Resource != res || !need.StepUp.BreakGlass || need.StepUp.ACRValues[0] != "phr" {
		t.Fatalf("a break-glass use without a fresh sign-in: %v %+v", err, need)
	}
	nothing("asked")
	// Other refusals come first: nobody is sent to sign in for a use that cannot be.
	if _, err := f.breakGlass("alice@example.com", target, "readWrite", 2*time.Hour, "INC-9"); err == nil || !strings.Contains(err.Error(), "2h is longer than the 1h") {
		t.Fatalf("a use too long: %v", err)
	}

	clickAt := f.clock.Now()
	f.clock.Advance(time.Minute)
	for _, tc := range []struct {
		name  string
		proof flows.MFAProof
		want  string
	}{
		{"too old", flows.MFAProof{ClickAt: clickAt, AuthTime: clickAt.Add(6 * time.Minute).Truncate(time.Second), AMR: []string{"mfa"}, ACR: "phr"}, "more than 5m after you broke glass"},
		{"before the command", flows.MFAProof{ClickAt: clickAt, AuthTime: clickAt.Add(-time.Hour), AMR: []string{"mfa"}, ACR: "phr"}, "before you broke glass"},
		{"no auth_time", flows.MFAProof{ClickAt: clickAt, AMR: []string{"mfa"}, ACR: "phr"}, "did not say when you signed in"},
		{"wrong amr", flows.MFAProof{ClickAt: clickAt, AuthTime: clickAt.Add(time.Minute), AMR: []string{"pwd"}, ACR: "phr"}, "your sign-in used pwd; breaking glass through access flow prod-breakglass needs one of mfa, hwk"},
		{"wrong acr", flows.MFAProof{ClickAt: clickAt, AuthTime: clickAt.Add(time.Minute), AMR: []string{"mfa"}, ACR: "pwd-only"}, "assurance was pwd-only; breaking glass through access flow prod-breakglass needs phr"},
	} {
		again := *need.BreakGlass
		p := tc.proof
		again.MFA, again.IdempotencyKey = &p, "stepup-"+tc.name
		if _, err := f.svc.Submit(f.ctx, again); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %q", tc.name, err, tc.want)
		}
		nothing(tc.name)
	}

	again := *need.BreakGlass
	again.MFA, again.IdempotencyKey = &flows.MFAProof{ClickAt: clickAt, AuthTime: clickAt.Add(time.Minute).Truncate(time.Second), AMR: []string{"pwd", "hwk"}, ACR: "phr"}, "stepup-ok"
	r, err := f.svc.Submit(f.ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != flows.StateActive || r.BreakGlass == nil || !r.BreakGlass.MFA || r.Requester != "alice@example.com" || r.Duration != 30*time.Minute || f.prov.Count("create") != 1 {
		t.Fatalf("the use with a fresh sign-in: %s %+v creates %d", r.State, r.BreakGlass, f.prov.Count("create"))
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventBrokeGlass, flows.EventProvisioning, flows.EventActivated)
	// The confirmation replayed makes no second use.
	if r2, err := f.svc.Submit(f.ctx, again); err != nil || r2.ID != r.ID || f.prov.Count("create") != 1 {
		t.Fatalf("replay: %v %v", r2, err)
	}
}

// TestBreakGlassWithoutStepUpIsUnchanged: a break-glass flow without
// step_up grants at once, as before, and is not marked MFA.
func TestBreakGlassWithoutStepUpIsUnchanged(t *testing.T) {
	f := newFixture(t, withBreakGlass)
	r, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/customers", "readWrite", time.Hour, "INC-9")
	if err != nil || r.State != flows.StateActive || r.BreakGlass.MFA {
		t.Fatalf("%v %+v", err, r)
	}
}

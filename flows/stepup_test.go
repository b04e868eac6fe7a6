package flows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestCompileStepUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    flows.StepUpSpec
		want string // "" for none
	}{
		{"amr", flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}}, ""},
		{"acr", flows.StepUpSpec{Approve: true, ACRValues: []string{"phr"}}, ""},
		{"neither", flows.StepUpSpec{Approve: true}, "flows[0].step_up: name amr"},
		{"request", flows.StepUpSpec{Approve: true, Request: true, AMR: []string{"mfa"}}, "flows[0].step_up.request: jitbot requires a fresh sign-in to ask only in a break-glass flow"},
		{"approve off", flows.StepUpSpec{AMR: []string{"mfa"}}, "flows[0].step_up: set approve: true"},
		{"two words", flows.StepUpSpec{Approve: true, AMR: []string{"mfa otp"}}, "is not a single word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testPolicy()
			s := tc.s
			spec.Flows[0].StepUp = &s
			p, err := flows.Compile(spec)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f, _ := p.Flow("prod-read"); !f.StepUp.Approve {
					t.Fatalf("step_up not compiled: %+v", f.StepUp)
				}
				return
			}
			var v flows.ValidationError
			if !errors.As(err, &v) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

func TestPlainClickOnAStepUpFlowIsRefused(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[0].StepUp = &flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}}
	})
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	_, err := f.decide(r.ID, "owner@example.com", true, "")
	var need *flows.StepUpNeeded
	if !errors.As(err, &need) || flows.ErrorCode(err) != flows.EFORBIDDEN || need.StepUp.AMR[0] != "mfa" {
		t.Fatalf("plain click: %v", err)
	}
	// A denial needs no step-up.
	if got, err := f.decide(r.ID, "owner@example.com", false, "no"); err != nil || got.State != flows.StateDenied {
		t.Fatalf("deny: %v", err)
	}
}

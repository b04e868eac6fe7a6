package flows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Step-up: a flow may require that approving happens with a fresh
// multi-factor sign-in at the company's identity provider. The click then
// does not approve: the chat engine sends the approver to sign in again
// (prompt=login, max_age=0, the flow's acr_values), and the approval is
// made from what the provider's ID token proves (MFAProof), judged here:
// its auth_time at or after the click and within StepUpWindow of it, and
// its amr or acr what the flow names. flows knows nothing of OpenID
// Connect: the adapter that reads the token fills MFAProof.

// StepUpSpec is a flow's step_up as written.
type StepUpSpec struct {
	// Approve requires a fresh MFA sign-in to approve (a request or an
	// extension).
	Approve bool
	// Request would require one to ask; jitbot does not offer that yet,
	// and refuses a policy that asks for it rather than ignore it.
	Request bool
	// ACRValues are asked of the provider and one of them must come back
	// as the token's acr; AMR are methods one of which the token's amr must
	// list (mfa, otp, hwk...). At least one of the two is needed.
	ACRValues []string
	AMR       []string
}

// StepUp is a flow's compiled step_up; the zero value requires nothing.
type StepUp struct {
	Approve   bool
	ACRValues []string
	AMR       []string
}

// StepUpWindow is how long after the click the fresh sign-in may happen.
const StepUpWindow = 5 * time.Minute

// MFAProof is what a fresh sign-in proved, read from the provider's ID
// token by the adapter that received it, and when the approver clicked.
type MFAProof struct {
	ClickAt  time.Time
	AuthTime time.Time
	AMR      []string
	ACR      string
}

// StepUpNeeded is the refusal of an approval made without a fresh sign-in
// where the flow requires one: the engine answers it with a sign-in link.
type StepUpNeeded struct {
	RequestID RequestID
	Extension int
	StepUp    StepUp
	err       *Error
}

func (e *StepUpNeeded) Error() string { return e.err.Error() }
func (e *StepUpNeeded) Unwrap() error { return e.err }

// compileStepUp validates a flow's step_up.
func (p *Policy) compileStepUp(v *validator, at string, fs FlowSpec, f *Flow) {
	s := fs.StepUp
	if s == nil {
		return
	}
	at += ".step_up"
	if s.Request {
		v.add(at+".request", "jitbot cannot require a fresh sign-in to ask yet, only to approve: remove request: true")
	}
	if !s.Approve {
		v.add(at, "set approve: true (what it is for), or remove step_up")
	}
	if len(s.ACRValues) == 0 && len(s.AMR) == 0 {
		v.add(at, "name amr (methods such as mfa, otp, hwk) or acr_values: without one of them jitbot cannot tell a multi-factor sign-in from a password")
	}
	for i, a := range append(slices.Clone(s.ACRValues), s.AMR...) {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t\n") {
			v.add(at, "%q (entry %d) is not a single word", a, i+1)
		}
	}
	f.StepUp = StepUp{Approve: s.Approve, ACRValues: slices.Clone(s.ACRValues), AMR: slices.Clone(s.AMR)}
}

// checkStepUp judges an approval of r by the flow's step_up, under policy:
// it refuses one without a proof (StepUpNeeded) and one whose proof does
// not satisfy the flow, saying why. It reports whether the approval is
// made with MFA.
func checkStepUp(policy *Policy, r *Request, in DecideInput) (bool, error) {
	f, ok := policy.Flow(r.Flow)
	if !ok || !f.StepUp.Approve {
		return false, nil
	}
	if in.MFA == nil {
		return false, &StepUpNeeded{RequestID: r.ID, Extension: in.Extension, StepUp: f.StepUp,
			err: &Error{Code: EFORBIDDEN, Message: fmt.Sprintf("approving request %s needs a fresh sign-in with multi-factor authentication", r.ID)}}
	}
	p := in.MFA
	click := p.ClickAt.Truncate(time.Second) // auth_time has whole seconds
	switch {
	case p.ClickAt.IsZero() || p.AuthTime.IsZero():
		return false, Errorf(EFORBIDDEN, "the identity provider did not say when you signed in (auth_time): the approval of request %s does not count", r.ID)
	case p.AuthTime.Before(click):
		return false, Errorf(EFORBIDDEN, "you signed in at %s, before you clicked Approve (%s): the approval of request %s needs a sign-in made after the click",
			p.AuthTime.UTC().Format(time.RFC3339), p.ClickAt.UTC().Format(time.RFC3339), r.ID)
	case p.AuthTime.After(p.ClickAt.Add(StepUpWindow)):
		return false, Errorf(EFORBIDDEN, "you signed in at %s, more than %s after you clicked Approve (%s): click Approve on request %s again",
			p.AuthTime.UTC().Format(time.RFC3339), FormatDuration(StepUpWindow), p.ClickAt.UTC().Format(time.RFC3339), r.ID)
	}
	if len(f.StepUp.AMR) > 0 && !slices.ContainsFunc(p.AMR, func(m string) bool { return slices.Contains(f.StepUp.AMR, m) }) {
		return false, Errorf(EFORBIDDEN, "your sign-in used %s; approving request %s needs one of %s",
			amrText(p.AMR), r.ID, strings.Join(f.StepUp.AMR, ", "))
	}
	if len(f.StepUp.ACRValues) > 0 && !slices.Contains(f.StepUp.ACRValues, p.ACR) {
		acr := p.ACR
		if acr == "" {
			acr = "no acr"
		}
		return false, Errorf(EFORBIDDEN, "your sign-in's assurance was %s; approving request %s needs %s", acr, r.ID, strings.Join(f.StepUp.ACRValues, " or "))
	}
	return true, nil
}

func amrText(amr []string) string {
	if len(amr) == 0 {
		return "no method the provider named (no amr)"
	}
	return strings.Join(amr, ", ")
}

// markMFA records that by's approval (of the request, or of extension n)
// was made with MFA.
func (r *Request) markMFA(by string, n int) {
	ds := r.Approvals
	if n > 0 {
		if r.Extension == nil || r.Extension.Number != n {
			return // decided and applied already: nothing waits to be marked
		}
		ds = r.Extension.Approvals
	}
	for i := range ds {
		if ds[i].By == by {
			ds[i].MFA = true
		}
	}
}

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
//
// A break-glass flow (breakglass.go) has no approvals: its step_up says
// request: true, and taking the access is what needs the fresh sign-in.
// The breakglass command then records nothing: it is refused with
// StepUpNeeded carrying the submission, the adapter sends the person to
// sign in again, and the submission is made anew with the proof; only then
// is anything stored or provisioned.

// StepUpSpec is a flow's step_up as written.
type StepUpSpec struct {
	// Approve requires a fresh MFA sign-in to approve (a request or an
	// extension).
	Approve bool
	// Request requires one to ask. Only a break-glass flow has it, where
	// asking is taking; elsewhere jitbot refuses it rather than ignore it.
	Request bool
	// ACRValues are asked of the provider and one of them must come back
	// as the token's acr; AMR are methods one of which the token's amr must
	// list (mfa, otp, hwk...). At least one of the two is needed.
	ACRValues []string
	AMR       []string
}

// StepUp is a flow's compiled step_up; the zero value requires nothing.
type StepUp struct {
	Approve bool
	// BreakGlass: taking access through the (break-glass) flow needs a
	// fresh sign-in.
	BreakGlass bool
	ACRValues  []string
	AMR        []string
}

// StepUpWindow is how long after the click (or the breakglass command)
// the fresh sign-in may happen.
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
	// BreakGlass is a break-glass submission refused for want of a fresh
	// sign-in (no request exists yet): made again with MFA set once the
	// person has signed in. Nil for an approval.
	BreakGlass *SubmitInput
	err        *Error
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
	switch {
	case fs.BreakGlass != nil:
		// Nobody approves a break-glass use: the sign-in is the requester's.
		if s.Approve {
			v.add(at+".approve", "a break-glass flow has no approvals: write request: true (a fresh sign-in to break glass)")
		}
		if !s.Request {
			v.add(at, "set request: true (a fresh sign-in to break glass), or remove step_up")
		}
	case s.Request:
		v.add(at+".request", "jitbot requires a fresh sign-in to ask only in a break-glass flow (where asking is taking); here, to approve: remove request: true")
	case !s.Approve:
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
	f.StepUp = StepUp{Approve: s.Approve && fs.BreakGlass == nil, BreakGlass: s.Request && fs.BreakGlass != nil, ACRValues: slices.Clone(s.ACRValues), AMR: slices.Clone(s.AMR)}
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
	if err := judgeMFA(f.StepUp, in.MFA, approvalWords(r.ID)); err != nil {
		return false, err
	}
	return true, nil
}

// mfaWords name, in judgeMFA's refusals, what the sign-in was for.
type mfaWords struct {
	act  string // "clicked Approve"
	what string // "the approval of request X"
	redo string // "click Approve on request X again"
	need string // "approving request X"
}

func approvalWords(id RequestID) mfaWords {
	return mfaWords{act: "clicked Approve", what: "the approval of request " + string(id),
		redo: "click Approve on request " + string(id) + " again", need: "approving request " + string(id)}
}

// judgeMFA checks a fresh sign-in against a flow's step_up: made after
// the click and within StepUpWindow of it, with a method or assurance the
// flow names.
func judgeMFA(su StepUp, p *MFAProof, w mfaWords) error {
	click := p.ClickAt.Truncate(time.Second) // auth_time has whole seconds
	switch {
	case p.ClickAt.IsZero() || p.AuthTime.IsZero():
		return Errorf(EFORBIDDEN, "the identity provider did not say when you signed in (auth_time): %s does not count", w.what)
	case p.AuthTime.Before(click):
		return Errorf(EFORBIDDEN, "you signed in at %s, before you %s (%s): %s needs a sign-in made after it",
			p.AuthTime.UTC().Format(time.RFC3339), w.act, p.ClickAt.UTC().Format(time.RFC3339), w.what)
	case p.AuthTime.After(p.ClickAt.Add(StepUpWindow)):
		return Errorf(EFORBIDDEN, "you signed in at %s, more than %s after you %s (%s): %s",
			p.AuthTime.UTC().Format(time.RFC3339), FormatDuration(StepUpWindow), w.act, p.ClickAt.UTC().Format(time.RFC3339), w.redo)
	}
	if len(su.AMR) > 0 && !slices.ContainsFunc(p.AMR, func(m string) bool { return slices.Contains(su.AMR, m) }) {
		return Errorf(EFORBIDDEN, "your sign-in used %s; %s needs one of %s", amrText(p.AMR), w.need, strings.Join(su.AMR, ", "))
	}
	if len(su.ACRValues) > 0 && !slices.Contains(su.ACRValues, p.ACR) {
		acr := p.ACR
		if acr == "" {
			acr = "no acr"
		}
		return Errorf(EFORBIDDEN, "your sign-in's assurance was %s; %s needs %s", acr, w.need, strings.Join(su.ACRValues, " or "))
	}
	return nil
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

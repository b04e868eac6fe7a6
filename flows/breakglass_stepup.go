package flows

import "fmt"

// breakGlassStepUp judges a break-glass submission by its flow's step_up
// (request: true): without a proof it is refused with StepUpNeeded, which
// carries the submission as typed so that it can be made again once the
// person has signed in; a proof must satisfy the flow as an approver's
// does (stepup.go). It runs after every other check of the submission and
// before anything is stored: a use refused here leaves no request, no
// grant and no once_per mark.
func breakGlassStepUp(f *Flow, in SubmitInput, requester string) error {
	if f.BreakGlass == nil || !f.StepUp.BreakGlass {
		return nil
	}
	if in.MFA == nil {
		in.Requester = requester
		return &StepUpNeeded{StepUp: f.StepUp, BreakGlass: &in,
			err: &Error{Code: EFORBIDDEN, Message: fmt.Sprintf("breaking glass through access flow %s needs a fresh sign-in with multi-factor authentication", f.Name)}}
	}
	return judgeMFA(f.StepUp, in.MFA, mfaWords{
		act: "broke glass", what: "breaking glass on " + in.Resource.String(),
		redo: "break glass again", need: "breaking glass through access flow " + f.Name,
	})
}

package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// StepUp implements bot.StepUpper: an approver clicked Approve on a
// request whose flow needs a fresh multi-factor sign-in. The click's time
// is recorded with a one-time link sent to them by DM; the approval is
// made once they have signed in again (stepUpConfirmed), and only counts
// if that sign-in satisfies the flow.
func (x *Identities) StepUp(ctx context.Context, who bot.Actor, need *flows.StepUpNeeded) error {
	if need.BreakGlass != nil {
		return x.breakGlassStepUp(ctx, who, need)
	}
	if x.deps.Decider == nil {
		return errors.New("identity: no decider: step-up approvals are not wired")
	}
	p := purpose{Kind: purposeStepUp, Request: string(need.RequestID), Extension: need.Extension, Approver: who.Email,
		ClickAt: x.now(), ACR: need.StepUp.ACRValues}
	_, err := x.sendLink(ctx, who.Platform, who.UserID, who.Email, p)
	return err
}

// stepUpOptions are what a step-up asks of the provider: a new
// authentication whatever session it has (prompt=login, max_age=0), at the
// assurance the flow names.
func (x *Identities) stepUpOptions(_ context.Context, p purpose) authOptions {
	return authOptions{Fresh: true, ACR: p.ACR}
}

// stepUpPage says which approval confirming makes.
func (x *Identities) stepUpPage(ctx context.Context, pd pending, c Claims) (page, int) {
	var l link
	if x.get(ctx, kindLink, pd.LinkID, &l) != nil {
		return page{Title: "Link used or expired", Lines: errLinkGone}, http.StatusGone
	}
	how := strings.Join(c.AMR, ", ")
	if how == "" {
		how = "no methods named"
	}
	if c.ACR != "" {
		how += "; assurance " + c.ACR
	}
	if l.Purpose.BreakGlass != nil {
		return breakGlassConfirmPage(l, c, how), http.StatusOK
	}
	what := "request " + l.Purpose.Request
	if l.Purpose.Extension > 0 {
		what = fmt.Sprintf("extension %d of request %s", l.Purpose.Extension, l.Purpose.Request)
	}
	return page{Title: "Approve " + what + "?", Lines: []string{
		fmt.Sprintf("You signed in again as %s (%s).", orSubject(c), how),
		fmt.Sprintf("Confirm to approve %s as %s.", what, l.Purpose.Approver),
	}, Form: &form{Action: "/id/confirm", Button: "Approve"}}, http.StatusOK
}

func orSubject(c Claims) string {
	if c.Email != "" {
		return c.Email
	}
	return "subject " + c.Subject
}

// stepUpConfirmed approves for the approver, if the identity that signed
// in again is the one bound to their chat account; flows judges the rest
// (the approver, auth_time against the click, amr and acr).
func (x *Identities) stepUpConfirmed(ctx context.Context, s session) (page, error) {
	var l link
	if err := x.take(ctx, kindLink, s.LinkID, &l); err != nil {
		return page{}, flows.Errorf(flows.ECONFLICT, "this link was used already or has expired: click Approve again")
	}
	b, ok, err := x.binding(ctx, l.Platform, l.UserID)
	if err != nil {
		return page{}, err
	}
	if !ok || b.Subject != s.Claims.Subject || b.Email != l.Purpose.Approver {
		return page{}, flows.Errorf(flows.EFORBIDDEN, "you signed in as %s, who is not the identity linked to %s's chat account: the approval does not count", orSubject(s.Claims), l.Purpose.Approver)
	}
	if l.Purpose.BreakGlass != nil {
		return x.breakGlassConfirmed(ctx, s, l, b)
	}
	c := s.Claims
	r, err := x.deps.Decider.Decide(ctx, flows.DecideInput{
		RequestID: flows.RequestID(l.Purpose.Request), Actor: b.Email, Approve: true, Extension: l.Purpose.Extension,
		MFA: &flows.MFAProof{ClickAt: l.Purpose.ClickAt, AuthTime: c.AuthTime, AMR: c.AMR, ACR: c.ACR},
	})
	if err != nil {
		return page{}, err
	}
	x.log.InfoContext(ctx, "approved with MFA", "request_id", r.ID, "approver", b.Email)
	return page{Title: "Approved with MFA", Lines: []string{fmt.Sprintf("Request %s is approved by %s with a fresh multi-factor sign-in. You can close this page.", r.ID, b.Email)}}, nil
}

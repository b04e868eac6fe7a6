package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Break-glass with step-up (flows/breakglass_stepup.go): a break-glass
// flow whose step_up says request: true refuses the breakglass command
// until the person has signed in again with MFA. The command's time and
// what it asked for are kept on a one-time link sent by DM; once the
// person signs in again and confirms, the submission is made anew with
// what the provider's ID token proves, and flows judges it (auth_time
// against the command, amr, acr) before anything is stored or granted.

// Submitter makes a submission (flows.Service.Submit).
type Submitter interface {
	Submit(ctx context.Context, in flows.SubmitInput) (*flows.Request, error)
}

// breakGlassAsk is a break-glass submission waiting for a fresh sign-in,
// as the person typed it.
type breakGlassAsk struct {
	Kind        string        `json:"kind,omitempty"`
	Integration string        `json:"integration"`
	Project     string        `json:"project,omitempty"`
	Cluster     string        `json:"cluster,omitempty"`
	Database    string        `json:"database,omitempty"`
	Collection  string        `json:"collection,omitempty"`
	Address     string        `json:"address,omitempty"`
	Roles       []string      `json:"roles,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	Origin      string        `json:"origin,omitempty"`
}

func askOf(in *flows.SubmitInput) *breakGlassAsk {
	r := in.Resource
	return &breakGlassAsk{Kind: string(in.Kind), Integration: r.Integration, Project: r.Project, Cluster: r.Cluster, Database: r.Database,
		Collection: r.Collection, Address: r.Address, Roles: in.Roles, Duration: in.Duration, Reason: in.Reason, Origin: in.Origin}
}

func (a *breakGlassAsk) resource() flows.Resource {
	return flows.Resource{Integration: a.Integration, Project: a.Project, Cluster: a.Cluster, Database: a.Database, Collection: a.Collection, Address: a.Address}
}

// breakGlassStepUp sends the person who gave the breakglass command a
// sign-in link for it.
func (x *Identities) breakGlassStepUp(ctx context.Context, who bot.Actor, need *flows.StepUpNeeded) error {
	if x.deps.Submitter == nil {
		return errors.New("identity: no submitter: break-glass step-up is not wired")
	}
	p := purpose{Kind: purposeStepUp, Approver: who.Email, ClickAt: x.now(), ACR: need.StepUp.ACRValues, BreakGlass: askOf(need.BreakGlass)}
	_, err := x.sendLink(ctx, who.Platform, who.UserID, who.Email, p)
	return err
}

// breakGlassLinkText is the DM carrying a break-glass sign-in link.
func breakGlassLinkText(p purpose, url string) (string, string) {
	return "Break glass with a fresh sign-in",
		"Your break-glass access to " + p.BreakGlass.resource().String() + " needs a fresh sign-in with multi-factor authentication; nothing is granted yet. " +
			"Open this link and sign in again (with your second factor) to take it:\n" + url +
			"\nIt counts only if you sign in within 5 minutes of your breakglass command."
}

// breakGlassLinkPage is what opening the link shows.
func breakGlassLinkPage(l link) (string, []string) {
	return "Break glass with a fresh sign-in", []string{
		fmt.Sprintf("This link takes break-glass access to %s as %s, from the %s account %s.", l.Purpose.BreakGlass.resource(), l.Purpose.Approver, platformName(l.Platform), l.UserID),
		"The identity provider asks you to sign in again, with your second factor. If you did not ask to break glass, close this page.",
	}
}

// breakGlassConfirmPage asks to confirm the use after the sign-in.
func breakGlassConfirmPage(l link, c Claims, how string) page {
	a := l.Purpose.BreakGlass
	return page{Title: "Break glass on " + a.resource().String() + "?", Lines: []string{
		fmt.Sprintf("You signed in again as %s (%s).", orSubject(c), how),
		fmt.Sprintf("Confirm to take %s on %s for %s without approval, as %s: the owners, the admins and the reviewers are alerted.",
			flows.FormatRoles(a.Roles), a.resource(), flows.FormatDuration(a.Duration), l.Purpose.Approver),
	}, Form: &form{Action: "/id/confirm", Button: "Break glass"}}
}

// breakGlassConfirmed makes the break-glass submission with the proof of
// the fresh sign-in (the identity is checked as bound by the caller).
// The link's id keys it: a confirmation replayed makes one use.
func (x *Identities) breakGlassConfirmed(ctx context.Context, s session, l link, b Binding) (page, error) {
	a, c := l.Purpose.BreakGlass, s.Claims
	r, err := x.deps.Submitter.Submit(ctx, flows.SubmitInput{
		Requester: b.Email, Kind: flows.Kind(a.Kind), Resource: a.resource(), Roles: a.Roles, Duration: a.Duration, Reason: a.Reason,
		Origin: a.Origin, BreakGlass: true, IdempotencyKey: "stepup:" + s.LinkID,
		MFA: &flows.MFAProof{ClickAt: l.Purpose.ClickAt, AuthTime: c.AuthTime, AMR: c.AMR, ACR: c.ACR},
	})
	if err != nil {
		return page{}, err
	}
	x.log.InfoContext(ctx, "broke glass with MFA", "request_id", r.ID, "requester", b.Email)
	return page{Title: "Break glass: access taken with MFA", Lines: []string{
		fmt.Sprintf("Request %s: %s on %s, without approval, after a fresh multi-factor sign-in.", r.ID, flows.FormatRoles(r.Roles), r.Resource),
		"Your credentials follow in chat. The owners, the admins and the reviewers were alerted, and the reviewers must review this use. You can close this page.",
	}}, nil
}

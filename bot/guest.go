package bot

import (
	"context"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Third-party access (flows/thirdparty.go) in chat: a sponsor types
// "request ... for vendor@partner.com", the approvers see who the guest is
// and who sponsors them, and once the grant is active the sponsor has a
// one-time link made (the guest-link verb, or the button on the activation
// message). The link is the GuestLinker's (bot/identity): chat never
// carries the guest's password.

// GuestLinker is a Gate that makes one-time links for guests: it
// authorizes the sponsor (flows.Service.SponsoredRequest), makes the link
// and sends it by mail or returns it for the sponsor alone.
type GuestLinker interface {
	GuestLink(ctx context.Context, who Actor, id flows.RequestID) (Card, error)
}

// guestLink answers guest-link <id> and the button of that name: a card
// for the sponsor only (an ephemeral reply, never the outbox).
func (e *Engine) guestLink(ctx context.Context, who Actor, id flows.RequestID) (Reply, error) {
	e.mu.RLock()
	gl, ok := e.gate.(GuestLinker)
	e.mu.RUnlock()
	if !ok {
		return Reply{}, flows.Errorf(flows.EUNAVAILABLE, "third-party access needs jitbot's identity provider (the identity section), which is not configured")
	}
	c, err := gl.GuestLink(ctx, who, id)
	if err != nil {
		return Reply{}, err
	}
	return cardReply(c), nil
}

// parseFor reads "for <email>" where it may stand, after the duration and
// any from: the guest a sponsor asks for. Only its form is checked here;
// whether the flow admits the guest is flows' to say.
func parseFor(rest string) (guest, after string, err error) {
	word, after := nextWord(rest)
	if !strings.EqualFold(word, "for") {
		return "", rest, nil
	}
	email, after := nextWord(after)
	if email == "" {
		return "", "", flows.Errorf(flows.EINVALID, "for needs the email of the person outside the company you sponsor: ... 2h for vendor@partner.com \"INC-123\"")
	}
	if err := maxWord("guest email", email, 254); err != nil {
		return "", "", err
	}
	g, err := flows.NormalizeEmail(email)
	if err != nil {
		return "", "", flows.WrapError(flows.EINVALID, err,
			"%s (after for comes the email of the guest you sponsor; to begin a reason with the word for, quote the reason)", flows.ErrorMessage(err))
	}
	return g, after, nil
}

// guestFields tell approvers whom they let in: the guest, and who vouches.
func guestFields(r *flows.Request) []Field {
	if r.Guest == nil {
		return nil
	}
	return []Field{
		{Label: "Guest", Value: r.Guest.Email + " (outside the company; signs in at the identity provider with multi-factor authentication)"},
		{Label: "Sponsor", Value: r.Requester},
	}
}

// GuestCard is the message about a guest's request: its activation (to
// the sponsor: make the link) and each of the guest's steps (to the
// sponsor and the approvers). ok is false for every other notice.
func GuestCard(n flows.Notice, v Viewer) (Card, bool) {
	r, ev := n.Request, n.Event
	if r == nil || r.Guest == nil {
		return Card{}, false
	}
	g := r.Guest.Email
	sub := flows.DescribeAccess(r)
	c := Card{Subtitle: sub, Tone: ToneInfo}
	switch ev.Type {
	case flows.EventActivated:
		c.Title = "Access for " + g + " is ready: request " + string(r.ID)
		c.Subtitle = sub + " until " + v.FormatTime(r.ExpiresAt)
		c.Text = "Nothing secret comes to chat. Make a one-time link for " + g + " when they are ready (guest-link " + string(r.ID) + "): it works once, for 10 minutes; " +
			"they sign in with their own account and multi-factor authentication, confirm, and see a password once."
		c.Tone = ToneGood
		if v.Email == r.Requester {
			c.Actions = []Button{{Label: "Make the guest link", ActionID: Action{Kind: ActionGuestLink, RequestID: r.ID}.ID(), Style: StylePrimary}, revokeButton(r, "Revoke")}
		}
	case flows.EventGuestLinkIssued:
		c.Title = "Guest link made for " + g + ": request " + string(r.ID)
		c.Text = ev.Message
	case flows.EventGuestSignedIn:
		c.Title = g + " signed in: request " + string(r.ID)
		c.Text = ev.Message
	case flows.EventGuestRefused:
		c.Title = "A sign-in on the guest link was refused: request " + string(r.ID)
		c.Text = ev.Message + " The link is spent; " + r.Requester + " can make a new one."
		c.Tone = ToneAlert
	case flows.EventGuestRevealed:
		c.Title = g + " has their password: request " + string(r.ID)
		c.Text = "Shown once, on the page they confirmed after signing in, at " + v.FormatTime(ev.At) + ". It works until " + v.FormatTime(r.ExpiresAt) + "."
		c.Tone = ToneGood
	case flows.EventGuestLinkExpired:
		c.Title = "The guest link for " + g + " expired unused: request " + string(r.ID)
		c.Text = r.Requester + " can make a new one with guest-link " + string(r.ID) + "."
		c.Tone = ToneMuted
	default:
		return Card{}, false
	}
	c.Status = "Sponsored by " + r.Requester
	return c, true
}

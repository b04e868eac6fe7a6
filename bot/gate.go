package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/flows"
)

// Gate decides whom the engine acts for. Without one, a person is who
// their chat profile says (the platform's lookup of their email). With one
// (bot/identity, when an identity provider is configured), Trust returns
// the actor as proven (their email as bound), or refuses with what the
// person must do, which the engine answers instead of acting.
type Gate interface {
	Trust(ctx context.Context, who Actor) (Actor, error)
}

// SetGate has every command and click pass gate first (nil: none).
func (e *Engine) SetGate(g Gate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gate = g
}

// trust passes who through the gate, if there is one.
func (e *Engine) trust(ctx context.Context, who Actor) (Actor, error) {
	e.mu.RLock()
	g := e.gate
	e.mu.RUnlock()
	if g == nil {
		return who, nil
	}
	return g.Trust(ctx, who)
}

// Renderer renders a delivery of a kind the engine does not make itself
// (DispatcherDeps.Renderers), as a card for its recipient's direct
// messages. An error wrapping ErrNothingToSend drops the delivery: what it
// told is no longer true (a link used since).
type Renderer func(ctx context.Context, dl flows.Delivery) (Card, error)

// ErrNothingToSend is a Renderer's "drop it".
var ErrNothingToSend = errors.New("nothing to send")

// sendRendered sends a delivery through its renderer, privately.
func (d *Dispatcher) sendRendered(ctx context.Context, p Platform, dl flows.Delivery, render Renderer) error {
	c, err := render(ctx, dl)
	if errors.Is(err, ErrNothingToSend) {
		return skip(err.Error())
	}
	if err != nil {
		return fmt.Errorf("render the %s: %w", dl.What, err)
	}
	who, found, err := p.Find(ctx, dl.Recipient)
	if err != nil {
		return err
	}
	if !found {
		return skip("not on this platform")
	}
	_, err = p.Send(ctx, who, c)
	return err
}

// StepUpper is a Gate that can have an approver sign in again with
// multi-factor authentication (bot/identity): when a flow requires it, an
// Approve click answers with that instead of approving, and the approval
// is made once the sign-in is back.
type StepUpper interface {
	StepUp(ctx context.Context, who Actor, need *flows.StepUpNeeded) error
}

// stepUp answers an approval (or a break-glass use) the flow wants made
// with a fresh sign-in: the person is sent a sign-in link, if the gate can.
func (e *Engine) stepUp(ctx context.Context, who Actor, need *flows.StepUpNeeded) (Reply, bool) {
	e.mu.RLock()
	su, ok := e.gate.(StepUpper)
	e.mu.RUnlock()
	if !ok {
		return Reply{}, false
	}
	if err := su.StepUp(ctx, who, need); err != nil {
		return e.Refused(ctx, who, err), true
	}
	if need.BreakGlass != nil {
		// Nothing is granted yet: the use is made once the sign-in is back.
		return cardReply(Card{
			Title: "Break glass with a fresh sign-in",
			Text: "This break-glass flow needs a fresh sign-in with multi-factor authentication: nothing is granted yet. " +
				"A sign-in link is in your direct messages: sign in again within 5 minutes and confirm, and the access is taken then.",
			Tone: ToneWarning,
		}), true
	}
	return cardReply(Card{
		Title: "Approve with a fresh sign-in",
		Text: "Request " + string(need.RequestID) + " needs its approval made with multi-factor authentication. " +
			"A sign-in link is in your direct messages: sign in again within 5 minutes and confirm, and the approval counts.",
		Tone: ToneWarning,
	}), true
}

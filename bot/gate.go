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

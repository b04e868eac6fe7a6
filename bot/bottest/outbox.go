package bottest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// NewDispatcher is the outbox's dispatcher as the wiring makes it, for a
// test: on st, sending through e's platforms, told who hears of what by
// svc, reissuing lost credentials and revoking undeliverable ones through
// it, with no jitter. Tests drive it with Settle.
func NewDispatcher(t testing.TB, st bot.DispatchStore, e *bot.Engine, svc *flows.Service, secrets flows.SecretKeeper, clock flows.Clock, log *slog.Logger) *bot.Dispatcher {
	t.Helper()
	d, err := bot.NewDispatcher(bot.DispatcherConfig{}, bot.DispatcherDeps{
		Store: st, Platforms: e.Platforms, Audience: svc.Audience, Secrets: secrets,
		Reissue: svc.ReissueLost,
		OnUndeliverable: func(ctx context.Context, id flows.RequestID, why string) {
			_, _ = svc.CredentialsUndeliverable(ctx, id, why)
		},
		Clock: clock, Rand: func() float64 { return 0.5 }, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Settle expands the audit log and delivers, again and again, until
// nothing is left that may be sent now (what waits for a Retry-After or a
// backoff stays).
func Settle(t testing.TB, d *bot.Dispatcher) {
	t.Helper()
	ctx := t.Context()
	for range 1000 {
		expanded, err := d.Expand(ctx)
		if err != nil {
			t.Fatalf("expand: %v", err)
		}
		delivered, err := d.Deliver(ctx)
		if err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if expanded == 0 && delivered == 0 {
			return
		}
	}
	t.Fatal("the outbox does not settle")
}

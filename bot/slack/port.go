package slack

import (
	"time"

	"context"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// This file is the Bot as the engine's bot.Platform: what the engine
// decides to say goes out through these methods. The outbox's dispatcher
// calls them and does the retrying: they make each Web API call once
// (callNow), a 429 is a bot.RateLimited and a refusal that never heals a
// bot.PermanentError (errors.go).

// Name implements bot.Platform.
func (b *Bot) Name() string { return Platform }

// Wording implements bot.Platform: people type the slash command, and the
// bot writes to them in their direct messages.
func (b *Bot) Wording() bot.Wording {
	cmd := b.cfg.Command
	return bot.Wording{
		UsageTitle: "How to use " + cmd,
		UsageHint:  "Type the subcommands after " + cmd + ", e.g. " + cmd + " list.",
		AskHint:    "Ask with " + cmd + ".",
		Here:       "in your direct messages",
	}
}

// Find implements bot.Platform: members of this workspace only. Guests,
// external users, bots and deactivated accounts are not found, so nothing
// about access reaches them through an email.
func (b *Bot) Find(ctx context.Context, email string) (bot.Person, bool, error) {
	p, found, err := b.people.byEmail(ctx, b.callNow, email)
	if err != nil || !found {
		return bot.Person{}, false, err
	}
	return bot.Person{Email: p.Email, Location: p.Loc, Address: p.ID}, true, nil
}

// Send implements bot.Platform: a direct message, which only the person
// and the bot read, so it may carry a secret.
func (b *Bot) Send(ctx context.Context, to bot.Person, c bot.Card) (flows.MessageRef, error) {
	ch, ts, err := b.dm(ctx, b.callNow, to.Address, c)
	return flows.MessageRef{Conversation: ch, ID: ts}, err
}

// Channel implements bot.Platform: the request's flow's channel, else the
// configured approvals channel.
func (b *Bot) Channel(r *flows.Request) string {
	if r.ApprovalsChannel != "" {
		return r.ApprovalsChannel
	}
	return b.cfg.ApprovalsChannel
}

// Post implements bot.Platform. A card with a secret is never posted to a
// channel.
func (b *Bot) Post(ctx context.Context, channel string, c bot.Card) (flows.MessageRef, error) {
	if c.HasSecret() {
		return flows.MessageRef{}, flows.Errorf(flows.EFORBIDDEN, "a secret is never posted to a channel")
	}
	ch, ts, err := b.post(ctx, b.callNow, channel, c)
	return flows.MessageRef{Conversation: ch, ID: ts}, err
}

// Update implements bot.Platform.
func (b *Bot) Update(ctx context.Context, ref flows.MessageRef, c bot.Card) error {
	return b.update(ctx, ref.Conversation, ref.ID, c)
}

// Pacing is the least time between two messages to one conversation
// (DispatcherConfig.Pacing): Slack's one message per second per channel.
func (b *Bot) Pacing() time.Duration { return b.pacer.gap }

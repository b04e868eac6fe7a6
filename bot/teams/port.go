package teams

import (
	"context"
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/core/activity"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// This file is the Bot as the engine's bot.Platform: what the engine decides to say goes out
// through these methods, each bounded by WorkTimeout so that Teams never holds up the notices
// of the other platforms for long.

// The connector's errors tell the outbox's dispatcher whether to hold the conversation back
// (a Retry-After) or drop the message (a refusal no retry heals).
var (
	_ bot.RateLimited    = (*APIError)(nil)
	_ bot.PermanentError = (*APIError)(nil)
)

// Name implements bot.Platform.
func (b *Bot) Name() string { return Platform }

// Wording implements bot.Platform: people type to the bot in their 1:1 chat with it, and it
// answers there.
func (b *Bot) Wording() bot.Wording {
	return bot.Wording{
		UsageTitle: "How to use jitbot",
		UsageHint: "Type them here, in our 1:1 chat, with or without the word access: " +
			"e.g. access list. Type access alone for the request form.",
		AskHint: "Type access to ask for access.",
		Here:    "here",
	}
}

// Find implements bot.Platform: people who have a 1:1 chat with the bot, stored when they
// installed the app or wrote to it. Nobody else is reachable in Teams.
func (b *Bot) Find(ctx context.Context, email string) (bot.Person, bool, error) {
	ct, found, err := b.people.contact(ctx, email)
	if err != nil || !found {
		return bot.Person{}, false, err
	}
	loc, ok := b.people.zones.Get(email)
	if !ok {
		loc = ct.location()
	}
	return bot.Person{Email: email, Location: loc, Address: email}, true, nil
}

// Send implements bot.Platform: a message in the person's 1:1 chat with the bot, the only
// conversation a secret may go to.
func (b *Bot) Send(ctx context.Context, to bot.Person, c bot.Card) (flows.MessageRef, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WorkTimeout)
	defer cancel()
	ct, found, err := b.people.contact(ctx, to.Address)
	if err != nil {
		return flows.MessageRef{}, err
	}
	if !found {
		return flows.MessageRef{}, fmt.Errorf("teams: no 1:1 chat with %s", to.Address)
	}
	if c.HasSecret() && ct.Conversation.ConversationType != personalConversation {
		return flows.MessageRef{}, flows.Errorf(flows.EFORBIDDEN, "the Teams chat of %s is not a 1:1 chat; credentials go nowhere else", to.Address)
	}
	out := activity.ApplyConversationReference(cardActivity(c.Summary(), renderCard(c)), ct.ConversationReference, false)
	id, err := b.conn.SendToConversation(ctx, ct.ServiceURL, ct.Conversation.ID, out)
	return flows.MessageRef{Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL}, err
}

// Channel implements bot.Platform: Teams has no approvals channel; approvers get their cards
// in their 1:1 chats.
func (b *Bot) Channel(*flows.Request) string { return "" }

// Post implements bot.Platform; Channel never names a channel, so there is nothing to post to.
func (b *Bot) Post(context.Context, string, bot.Card) (flows.MessageRef, error) {
	return flows.MessageRef{}, fmt.Errorf("teams: jitbot posts to no Teams channel")
}

// Update implements bot.Platform: it replaces a card sent earlier.
func (b *Bot) Update(ctx context.Context, ref flows.MessageRef, c bot.Card) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WorkTimeout)
	defer cancel()
	out := cardActivity(c.Summary(), renderCard(c))
	out.Conversation.ID = ref.Conversation
	return b.conn.UpdateActivity(ctx, ref.ServiceURL, ref.Conversation, ref.ID, out)
}

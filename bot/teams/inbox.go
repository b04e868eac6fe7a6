package teams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// receive records an activity in the inbox before it is acknowledged, under its idempotency
// key (conversation and activity id). The payload is the activity without its attachments:
// who sent it (the email is looked up when it is processed), what they typed or submitted, and
// the conversation reference to answer in. An activity carries no secret (the token that
// authenticated it is in the request's header). first is false for a redelivery.
func (b *Bot) receive(ctx context.Context, act schema.Activity) (first bool, err error) {
	act.Attachments = nil // the text and the submitted values are what jitbot reads
	raw, err := json.Marshal(act)
	if err != nil {
		return false, fmt.Errorf("teams: encode an inbox item: %w", err)
	}
	if isAction(act) {
		return b.inbox.ReceiveAction(ctx, Platform, idempotencyKey(act), raw)
	}
	return b.inbox.Receive(ctx, Platform, idempotencyKey(act), raw)
}

// isAction says whether act is a click on a card's button that acts on a
// request under way (approve, deny, revoke, extend): taken ahead of new
// requests when the inbox is behind (bot.Inbox.ReceiveAction). The
// request form's submits make new requests.
func isAction(act schema.Activity) bool {
	marker, _ := act.Value[dataKey].(string)
	if marker == "" || marker == formMarker || marker == nextMarker {
		return false
	}
	_, err := bot.ParseAction(marker)
	return err == nil
}

var _ bot.InboxHandler = (*Bot)(nil)

// HandleInbox implements bot.InboxHandler: it processes a recorded activity, as the person who
// sent it, authorized by the service on the state as it is now.
func (b *Bot) HandleInbox(ctx context.Context, it flows.InboxItem) error {
	var act schema.Activity
	if err := json.Unmarshal(it.Payload, &act); err != nil {
		return bot.Permanent(fmt.Errorf("teams: decode inbox item %q: %w", it.Key, err))
	}
	return b.process(ctx, act)
}

// GiveUpInbox implements bot.InboxHandler: the person is told, in the conversation they wrote
// in, that it failed, with the reference that finds the log.
func (b *Bot) GiveUpInbox(ctx context.Context, it flows.InboxItem, err error) {
	var act schema.Activity
	if json.Unmarshal(it.Payload, &act) != nil || act.Type != schema.Message || act.Conversation.ConversationType != personalConversation {
		return
	}
	who := bot.Actor{Platform: Platform, UserID: act.From.ID, Ref: act.ID}
	b.deliver(ctx, act, b.engine.Refused(ctx, who, err))
}

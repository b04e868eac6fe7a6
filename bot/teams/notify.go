package teams

import (
	"context"
	"errors"
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/core/activity"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Notify implements flows.Notifier. On a new request (or extension) it sends approval cards
// to the approvers who have a 1:1 chat with the bot, remembering each; on every later notice
// it replaces the cards it sent with the current state; and it sends the people in n.To who
// are reachable in Teams the direct message for the event.
//
// Messages private to a requester go out only for requests made in Teams (the Slack adapter
// answers its own), and credentials only ever to the requester's 1:1 chat. The error reports
// messages that could not be delivered; for the notice carrying credentials it tells flows
// that the requester did not get them.
func (b *Bot) Notify(ctx context.Context, n flows.Notice) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WorkTimeout)
	defer cancel()
	r := n.Request
	var errs []error
	if r != nil {
		unlock := b.cards.Lock(r.ID)
		defer unlock()
	}
	// New credentials go out before the cards are brought up to date: the
	// requester is waiting for them (DESIGN §8 counts the chat calls from the
	// click to this message). Not for a rotation, whose card updates remove
	// the old password and must not reach the message with the new one.
	credentialsFirst := n.Credentials != nil && !bot.CredentialsCardChanges(n.Event)
	if credentialsFirst {
		errs = append(errs, b.directMessages(ctx, n))
	}
	if r != nil {
		switch n.Event.Type {
		case flows.EventSubmitted:
			errs = append(errs, b.sendCards(ctx, n, bot.KindApproval))
		case flows.EventExtensionRequested:
			errs = append(errs, b.sendCards(ctx, n, bot.ExtensionKind(n.Event.Extension)))
		default:
			b.updateCards(ctx, n)
		}
	}
	if !credentialsFirst {
		errs = append(errs, b.directMessages(ctx, n))
	}
	return errors.Join(errs...)
}

// sendCards sends the approval (or extension) card to each approver in n.To who has a 1:1
// chat with the bot. People never seen in Teams are skipped: Slack may reach them.
func (b *Bot) sendCards(ctx context.Context, n flows.Notice, kind string) error {
	r := n.Request
	var errs []error
	for _, email := range n.To {
		ct, found, err := b.people.contact(ctx, email)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !found {
			continue
		}
		c := bot.ApproverCard(kind, n, bot.Viewer{Email: email, Location: b.people.location(ctx, email)})
		id, err := b.send(ctx, ct, c, renderOptions{denyReasonRequired: r.DenyReasonRequired})
		if err != nil {
			errs = append(errs, fmt.Errorf("teams: send the card of request %s to %s: %w", r.ID, email, err))
			continue
		}
		b.rememberRef(ctx, r.ID, flows.MessageRef{
			Platform: Platform, Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL, Recipient: email, Kind: kind,
		})
	}
	return errors.Join(errs...)
}

func (b *Bot) rememberRef(ctx context.Context, requestID string, ref flows.MessageRef) {
	if err := b.store.AddMessageRef(ctx, requestID, ref); err != nil {
		// The message went out; only later updates of it are lost.
		b.log.WarnContext(ctx, "could not remember a sent card", "request_id", requestID, "kind", ref.Kind, "err", err)
	}
}

// updateCards brings every card sent about the request up to date. Only the cards the event
// can change are touched, and a card that reached its final state is marked closed so later
// notices skip it.
func (b *Bot) updateCards(ctx context.Context, n flows.Notice) {
	r, ev := n.Request, n.Event
	if !bot.CardsMayChange(ev) {
		return // no store read for the many notices that change no card
	}
	if !b.cards.Current(r) {
		b.log.InfoContext(ctx, "skipped card updates for a stale notice", "request_id", r.ID, "event", string(ev.Type))
		return
	}
	refs, err := b.store.MessageRefs(ctx, r.ID)
	if err != nil {
		b.log.WarnContext(ctx, "could not read the cards of a request", "request_id", r.ID, "err", err)
		return
	}
	for _, ref := range bot.Open(refs, Platform) {
		c, final, ok := bot.Refresh(ref.Kind, n, bot.Viewer{Email: ref.Recipient, Location: b.people.location(ctx, ref.Recipient)})
		if !ok {
			continue
		}
		if err := b.update(ctx, ref, c, renderOptions{denyReasonRequired: r.DenyReasonRequired}); err != nil {
			b.log.WarnContext(ctx, "could not update a card", "request_id", r.ID, "kind", ref.Kind, "conversation_id", ref.Conversation, "err", err)
			continue
		}
		if final {
			ref.Kind = bot.KindClosed
			b.rememberRef(ctx, r.ID, ref)
		}
	}
}

// directMessages tells the people in n.To who have a 1:1 chat with the bot what happened.
func (b *Bot) directMessages(ctx context.Context, n flows.Notice) error {
	r, ev := n.Request, n.Event
	var errs []error
	for _, email := range n.To {
		if !bot.Tell(n, email, Platform) {
			continue
		}
		ct, found, err := b.people.contact(ctx, email)
		if err != nil {
			errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "could not find the Teams chat of %s", email))
			continue
		}
		if !found {
			if r != nil && email == r.Requester {
				errs = append(errs, flows.Errorf(flows.ENOTFOUND, "%s asked from Teams but jitbot has no 1:1 chat with them", email))
			}
			continue
		}
		c, ok := bot.NoticeCard(n, bot.Viewer{Email: email, Location: b.people.location(ctx, email)})
		if !ok {
			continue
		}
		if c.HasSecret() && ct.Conversation.ConversationType != personalConversation {
			errs = append(errs, flows.Errorf(flows.EFORBIDDEN, "the Teams chat of %s is not a 1:1 chat; credentials go nowhere else", email))
			continue
		}
		opt := renderOptions{}
		if r != nil {
			opt.denyReasonRequired = r.DenyReasonRequired
		}
		id, err := b.send(ctx, ct, c, opt)
		if err != nil {
			errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "Teams did not deliver the message to %s", email))
			continue
		}
		if r == nil {
			continue
		}
		switch {
		case c.HasSecret():
			b.rememberRef(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL, Recipient: email, Kind: bot.KindCredentials})
		case ev.Type == flows.EventReminder && len(c.Actions) > 0:
			b.rememberRef(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL, Recipient: email, Kind: bot.KindReminder})
		}
	}
	return errors.Join(errs...)
}

// send writes a card to a person's 1:1 chat and returns the new activity's id.
func (b *Bot) send(ctx context.Context, ct contact, c bot.Card, opt renderOptions) (string, error) {
	out := activity.ApplyConversationReference(cardActivity(c.Summary(), renderCard(c, opt)), ct.ConversationReference, false)
	return b.conn.SendToConversation(ctx, ct.ServiceURL, ct.Conversation.ID, out)
}

// update replaces a card sent earlier.
func (b *Bot) update(ctx context.Context, ref flows.MessageRef, c bot.Card, opt renderOptions) error {
	out := cardActivity(c.Summary(), renderCard(c, opt))
	out.Conversation.ID = ref.Conversation
	return b.conn.UpdateActivity(ctx, ref.ServiceURL, ref.Conversation, ref.ID, out)
}

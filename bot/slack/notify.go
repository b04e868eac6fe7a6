package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Notify implements flows.Notifier. On a new request (or extension) it sends
// approval cards to the approvers reachable in Slack and to the approvals
// channel, remembering each; on every later notice it updates the cards it
// sent to show the current state; and it sends the people in n.To the
// direct message for the event.
//
// Messages private to a requester go out only for requests made in Slack
// (the Teams adapter answers its own), and credentials only ever to the
// requester's direct messages. The error reports messages that could not be
// delivered; for the notice carrying credentials it tells flows that the
// requester did not get them.
func (b *Bot) Notify(ctx context.Context, n flows.Notice) error {
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

// approvalsChannel is where a request's approval cards are shared: its
// flow's channel, else the configured default.
func (b *Bot) approvalsChannel(r *flows.Request) string {
	if r.ApprovalsChannel != "" {
		return r.ApprovalsChannel
	}
	return b.cfg.ApprovalsChannel
}

// sendCards posts the approval (or extension) card to each approver in
// n.To who is in Slack, and to the approvals channel.
func (b *Bot) sendCards(ctx context.Context, n flows.Notice, kind string) error {
	r := n.Request
	var errs []error
	for _, email := range n.To {
		p, found, err := b.people.byEmail(ctx, email)
		if err != nil {
			errs = append(errs, fmt.Errorf("slack: find approver %s: %w", email, err))
			continue
		}
		if !found {
			continue // not in this workspace; Teams may reach them
		}
		ch, ts, err := b.dm(ctx, p.ID, bot.ApproverCard(kind, n, bot.Viewer{Email: email, Location: p.Loc}))
		if err != nil {
			errs = append(errs, fmt.Errorf("slack: send the card of request %s to %s: %w", r.ID, email, err))
			continue
		}
		b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: email, Kind: kind})
	}
	if channel := b.approvalsChannel(r); channel != "" {
		ch, ts, err := b.post(ctx, channel, bot.ApproverCard(kind, n, bot.Viewer{}))
		if err != nil {
			errs = append(errs, fmt.Errorf("slack: post the card of request %s to %s: %w", r.ID, channel, err))
		} else {
			b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: channel, Kind: kind})
		}
	}
	return errors.Join(errs...)
}

func (b *Bot) remember(ctx context.Context, requestID string, ref flows.MessageRef) {
	if err := b.refs.AddMessageRef(ctx, requestID, ref); err != nil {
		// The message went out; only later updates of it are lost.
		b.log.WarnContext(ctx, "could not remember a sent message", "request_id", requestID, "kind", ref.Kind, "err", err)
	}
}

// updateCards brings every card sent about the request up to date. Only the
// cards the event can change are touched, and a card that reached its final
// state is marked closed so later notices skip it.
func (b *Bot) updateCards(ctx context.Context, n flows.Notice) {
	r, ev := n.Request, n.Event
	if !bot.CardsMayChange(ev) {
		return // nothing this adapter shows depends on it: skip the store read
	}
	if !b.cards.Current(r) {
		b.log.InfoContext(ctx, "skipped card updates for a stale notice", "request_id", r.ID, "event", string(ev.Type))
		return
	}
	refs, err := b.refs.MessageRefs(ctx, r.ID)
	if err != nil {
		b.log.WarnContext(ctx, "could not read the cards of a request", "request_id", r.ID, "err", err)
		return
	}
	for _, ref := range bot.Open(refs, Platform) {
		card, final, ok := bot.Refresh(ref.Kind, n, b.viewerOf(ctx, ref.Recipient))
		if !ok {
			continue
		}
		if err := b.update(ctx, ref.Conversation, ref.ID, card); err != nil {
			b.log.WarnContext(ctx, "could not update a card", "request_id", r.ID, "kind", ref.Kind, "channel", ref.Conversation, "err", err)
			continue
		}
		if final {
			ref.Kind = bot.KindClosed
			b.remember(ctx, r.ID, ref)
		}
	}
}

// viewerOf is who a stored card was sent to: a person (by email, in their
// time zone) or a channel.
func (b *Bot) viewerOf(ctx context.Context, recipient string) bot.Viewer {
	if !strings.Contains(recipient, "@") {
		return bot.Viewer{}
	}
	v := bot.Viewer{Email: recipient}
	if p, found, err := b.people.byEmail(ctx, recipient); err == nil && found {
		v.Location = p.Loc
	}
	return v
}

// directMessages tells the people in n.To what happened, each in their
// direct messages and time zone.
func (b *Bot) directMessages(ctx context.Context, n flows.Notice) error {
	r := n.Request
	var errs []error
	for _, email := range n.To {
		if !bot.Tell(n, email, Platform) {
			continue
		}
		p, found, err := b.people.byEmail(ctx, email)
		if err != nil {
			errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "could not look up %s in Slack", email))
			continue
		}
		if !found {
			if n.Credentials != nil {
				errs = append(errs, flows.Errorf(flows.ENOTFOUND, "%s asked from Slack but is no longer in the workspace", email))
			}
			continue
		}
		card, ok := bot.NoticeCard(n, bot.Viewer{Email: email, Location: p.Loc})
		if !ok {
			continue
		}
		ch, ts, err := b.dm(ctx, p.ID, card)
		if err != nil {
			errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "Slack did not deliver the direct message to %s", email))
			continue
		}
		if r == nil {
			continue
		}
		// Remember the messages whose buttons or secret must change later: the
		// credentials (removed when access ends) and the reminder (its Extend
		// buttons go stale after an extension or the end).
		switch {
		case card.HasSecret():
			b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: email, Kind: bot.KindCredentials})
		case n.Event.Type == flows.EventReminder && len(card.Actions) > 0:
			b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: email, Kind: bot.KindReminder})
		}
	}
	return errors.Join(errs...)
}

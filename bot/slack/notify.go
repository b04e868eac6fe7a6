package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Kinds of the message references the adapter stores.
const (
	kindApproval    = "approval"
	kindExtension   = "extension:" // followed by the extension's number
	kindCredentials = "credentials"
	// kindClosed marks the message at Conversation/ID as final: its card no
	// longer changes, so later notices leave it alone.
	kindClosed = "closed"
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
		switch n.Event.Type {
		case flows.EventSubmitted:
			errs = append(errs, b.sendCards(ctx, n, kindApproval))
		case flows.EventExtensionRequested:
			errs = append(errs, b.sendCards(ctx, n, kindExtension+strconv.Itoa(n.Event.Extension)))
		default:
			b.updateCards(ctx, n)
		}
	}
	errs = append(errs, b.directMessages(ctx, n))
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

// cardFor renders the card a stored reference of the given kind shows.
func cardFor(n flows.Notice, kind string, v bot.Viewer) bot.Card {
	if num, ok := extensionNumber(kind); ok {
		return bot.ExtensionCard(n.Request, num, n.Event, v)
	}
	return bot.ApprovalCard(n.Request, v)
}

func extensionNumber(kind string) (int, bool) {
	s, ok := strings.CutPrefix(kind, kindExtension)
	if !ok {
		return 0, false
	}
	num, err := strconv.Atoi(s)
	return num, err == nil
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
		ch, ts, err := b.dm(ctx, p.ID, cardFor(n, kind, bot.Viewer{Email: email, Location: p.Loc}))
		if err != nil {
			errs = append(errs, fmt.Errorf("slack: send the card of request %s to %s: %w", r.ID, email, err))
			continue
		}
		b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: email, Kind: kind})
	}
	if channel := b.approvalsChannel(r); channel != "" {
		ch, ts, err := b.post(ctx, channel, cardFor(n, kind, bot.Viewer{}))
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
	if !bot.ApprovalCardChanges(ev) && !bot.CredentialsCardChanges(ev) && ev.Extension == 0 {
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
	closed := map[string]bool{}
	for _, ref := range refs {
		if ref.Platform == Platform && ref.Kind == kindClosed {
			closed[ref.Conversation+"/"+ref.ID] = true
		}
	}
	for _, ref := range refs {
		if ref.Platform != Platform || ref.Kind == kindClosed || closed[ref.Conversation+"/"+ref.ID] {
			continue
		}
		v := b.viewerOf(ctx, ref.Recipient)
		var card bot.Card
		final := false
		switch num, isExt := extensionNumber(ref.Kind); {
		case ref.Kind == kindApproval && bot.ApprovalCardChanges(ev):
			card, final = bot.ApprovalCard(r, v), r.State.Terminal()
		case isExt && bot.ExtensionCardChanges(ev, num):
			card, final = bot.ExtensionCard(r, num, ev, v), bot.ExtensionDecided(ev, num) || ev.Type == flows.EventRevoking
		case ref.Kind == kindCredentials && bot.CredentialsCardChanges(ev):
			card, final = bot.CredentialsGoneCard(r, ev, v), true
		default:
			continue
		}
		if err := b.update(ctx, ref.Conversation, ref.ID, card); err != nil {
			b.log.WarnContext(ctx, "could not update a card", "request_id", r.ID, "kind", ref.Kind, "channel", ref.Conversation, "err", err)
			continue
		}
		if final {
			b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ref.Conversation, ID: ref.ID, Recipient: ref.Recipient, Kind: kindClosed})
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
	r, ev := n.Request, n.Event
	if r != nil && (ev.Type == flows.EventSubmitted || ev.Type == flows.EventExtensionRequested) {
		return nil // the approval cards are those messages
	}
	var errs []error
	for _, email := range n.To {
		requester := r != nil && email == r.Requester
		if requester && r.Origin != Platform {
			continue // the platform the request came from tells its requester
		}
		if n.Credentials != nil && !requester {
			continue // credentials go to their owner and nobody else
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
		if card.HasSecret() && r != nil {
			b.remember(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ch, ID: ts, Recipient: email, Kind: kindCredentials})
		}
	}
	return errors.Join(errs...)
}

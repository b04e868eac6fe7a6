package teams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/core/activity"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Kinds of the message references the adapter stores.
const (
	kindApproval    = "approval"
	kindExtension   = "extension:" // followed by the extension's number
	kindCredentials = "credentials"
	kindReminder    = "reminder"
	// kindClosed marks the activity at Conversation/ID as final: its card no longer changes,
	// so later notices leave it alone.
	kindClosed = "closed"
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

func extensionNumber(kind string) (int, bool) {
	s, ok := strings.CutPrefix(kind, kindExtension)
	if !ok {
		return 0, false
	}
	num, err := strconv.Atoi(s)
	return num, err == nil
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
		v := bot.Viewer{Email: email, Location: b.people.location(ctx, email)}
		c := bot.ApprovalCard(r, v)
		if num, ok := extensionNumber(kind); ok {
			c = bot.ExtensionCard(r, num, n.Event, v)
		}
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
	if !cardsMayChange(ev) {
		return // most notices (provisioning, retries, backstop moves) change no card: no store read
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
	closed := map[string]bool{}
	for _, ref := range refs {
		if ref.Platform == Platform && ref.Kind == kindClosed {
			closed[ref.Conversation+"\x00"+ref.ID] = true
		}
	}
	for _, ref := range refs {
		if ref.Platform != Platform || ref.Kind == kindClosed || closed[ref.Conversation+"\x00"+ref.ID] {
			continue
		}
		v := bot.Viewer{Email: ref.Recipient, Location: b.people.location(ctx, ref.Recipient)}
		var c bot.Card
		final := false
		switch num, isExt := extensionNumber(ref.Kind); {
		case ref.Kind == kindApproval && bot.ApprovalCardChanges(ev):
			c, final = bot.ApprovalCard(r, v), r.State.Terminal()
		case isExt && bot.ExtensionCardChanges(ev, num):
			c, final = bot.ExtensionCard(r, num, ev, v), bot.ExtensionDecided(ev, num) || ev.Type == flows.EventRevoking
		case ref.Kind == kindCredentials && bot.CredentialsCardChanges(ev):
			c, final = bot.CredentialsGoneCard(r, ev, v), true
		case ref.Kind == kindReminder && reminderChanges(ev):
			c, final = reminderDone(r, v), r.State.Terminal() || ev.Type == flows.EventExtended
		default:
			continue
		}
		if err := b.update(ctx, ref, c, renderOptions{denyReasonRequired: r.DenyReasonRequired}); err != nil {
			b.log.WarnContext(ctx, "could not update a card", "request_id", r.ID, "kind", ref.Kind, "conversation_id", ref.Conversation, "err", err)
			continue
		}
		if final {
			b.rememberRef(ctx, r.ID, flows.MessageRef{
				Platform: Platform, Conversation: ref.Conversation, ID: ref.ID, ServiceURL: ref.ServiceURL, Recipient: ref.Recipient, Kind: kindClosed,
			})
		}
	}
}

// cardsMayChange reports whether an event can change any kind of card the adapter stores.
func cardsMayChange(ev flows.Event) bool {
	return bot.ApprovalCardChanges(ev) || bot.ExtensionCardChanges(ev, ev.Extension) ||
		bot.CredentialsCardChanges(ev) || reminderChanges(ev)
}

// reminderChanges reports whether an event makes a reminder's Extend buttons obsolete: the
// grant was extended (a new reminder follows) or is ending.
func reminderChanges(ev flows.Event) bool {
	switch ev.Type {
	case flows.EventExtended, flows.EventRevoking, flows.EventExpired, flows.EventRevoked:
		return true
	}
	return false
}

// reminderDone replaces a reminder whose buttons no longer apply with where the grant stands.
func reminderDone(r *flows.Request, v bot.Viewer) bot.Card {
	return bot.Card{
		Title:    "Reminder about request " + r.ID,
		Subtitle: r.Role + " on " + r.Resource.String(),
		Status:   bot.SummaryCard(r, v).Status,
		Tone:     bot.ToneMuted,
	}
}

// directMessages tells the people in n.To who have a 1:1 chat with the bot what happened.
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
		ct, found, err := b.people.contact(ctx, email)
		if err != nil {
			errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "could not find the Teams chat of %s", email))
			continue
		}
		if !found {
			if requester {
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
			b.rememberRef(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL, Recipient: email, Kind: kindCredentials})
		case ev.Type == flows.EventReminder && len(c.Actions) > 0:
			b.rememberRef(ctx, r.ID, flows.MessageRef{Platform: Platform, Conversation: ct.Conversation.ID, ID: id, ServiceURL: ct.ServiceURL, Recipient: email, Kind: kindReminder})
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

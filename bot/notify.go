package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Notify implements flows.Notifier once for every registered platform. On
// a new request (or extension) it sends the approval cards to the approvers
// on every platform that reaches them, and to each platform's approvals
// channel, remembering every card; on every later notice it brings the
// cards sent about the request up to date; and it sends the people in n.To
// the direct message about the event (Tell says where).
//
// The error reports messages that could not be delivered. flows reads it
// on the notice that carries credentials: any error there means the
// requester did not get them, so a requester whom their platform cannot
// reach any more is an ENOTFOUND error, never a silent skip. Observers'
// answers are only logged.
func (e *Engine) Notify(ctx context.Context, n flows.Notice) error {
	for _, o := range e.observers {
		if err := o.Notify(ctx, n); err != nil {
			e.log.WarnContext(ctx, "an observer failed a notice", "event", string(n.Event.Type), "err", err)
		}
	}
	platforms := e.registered()
	r := n.Request
	if r != nil {
		unlock := e.cards.Lock(r.ID)
		defer unlock()
	}
	var errs []error
	// New credentials go out before the cards are brought up to date: the
	// requester is waiting for them (DESIGN §8 counts the chat calls from the
	// click to this message). Not for a rotation, whose card updates remove
	// the old password and must not reach the message with the new one.
	credentialsFirst := n.Credentials != nil && !CredentialsCardChanges(n.Event)
	if credentialsFirst {
		errs = append(errs, e.directMessages(ctx, platforms, n))
	}
	if r != nil {
		switch n.Event.Type {
		case flows.EventSubmitted:
			errs = append(errs, e.sendCards(ctx, platforms, n, KindApproval))
		case flows.EventExtensionRequested:
			errs = append(errs, e.sendCards(ctx, platforms, n, ExtensionKind(n.Event.Extension)))
		default:
			e.updateCards(ctx, platforms, n)
		}
	}
	if !credentialsFirst {
		errs = append(errs, e.directMessages(ctx, platforms, n))
	}
	return errors.Join(errs...)
}

// sendCards sends the approval (or extension) card of kind to each
// approver in n.To on every platform that reaches them, and posts it to
// each platform's approvals channel. Someone a platform cannot reach is
// skipped there: another platform may reach them.
func (e *Engine) sendCards(ctx context.Context, platforms []Platform, n flows.Notice, kind string) error {
	r := n.Request
	var errs []error
	for _, p := range platforms {
		for _, email := range n.To {
			who, found, err := p.Find(ctx, email)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: find approver %s: %w", p.Name(), email, err))
				continue
			}
			if !found {
				continue
			}
			ref, err := p.Send(ctx, who, ApproverCard(kind, n, Viewer{Email: email, Location: who.Location}))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: send the card of request %s to %s: %w", p.Name(), r.ID, email, err))
				continue
			}
			e.remember(ctx, r.ID, p, ref, email, kind)
		}
		if channel := p.Channel(r); channel != "" {
			ref, err := p.Post(ctx, channel, ApproverCard(kind, n, Viewer{}))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: post the card of request %s to %s: %w", p.Name(), r.ID, channel, err))
				continue
			}
			e.remember(ctx, r.ID, p, ref, channel, kind)
		}
	}
	return errors.Join(errs...)
}

// remember stores the reference of a message sent about a request.
func (e *Engine) remember(ctx context.Context, requestID flows.RequestID, p Platform, ref flows.MessageRef, recipient, kind string) {
	ref.Platform, ref.Recipient, ref.Kind = p.Name(), recipient, kind
	if err := e.refs.AddMessageRef(ctx, requestID, ref); err != nil {
		// The message went out; only later updates of it are lost.
		e.log.WarnContext(ctx, "could not remember a sent message", "platform", p.Name(), "request_id", requestID, "kind", kind, "err", err)
	}
}

// updateCards brings every card sent about the request up to date, on
// every platform. Only the cards the event can change are touched, and a
// card that reached its final state is marked closed so later notices skip
// it. Failures are logged: the next notice tries again.
func (e *Engine) updateCards(ctx context.Context, platforms []Platform, n flows.Notice) {
	r, ev := n.Request, n.Event
	if !CardsMayChange(ev) {
		return // most events change no card: no store read for them
	}
	if !e.cards.Current(r) {
		e.log.InfoContext(ctx, "skipped card updates for a stale notice", "request_id", r.ID, "event", string(ev.Type))
		return
	}
	refs, err := e.refs.MessageRefs(ctx, r.ID)
	if err != nil {
		e.log.WarnContext(ctx, "could not read the cards of a request", "request_id", r.ID, "err", err)
		return
	}
	for _, p := range platforms {
		for _, ref := range Open(refs, p.Name()) {
			card, final, ok := Refresh(ref.Kind, n, viewerOf(ctx, p, ref.Recipient))
			if !ok {
				continue
			}
			if err := p.Update(ctx, ref, card); err != nil {
				e.log.WarnContext(ctx, "could not update a card", "platform", p.Name(), "request_id", r.ID, "kind", ref.Kind,
					"conversation", ref.Conversation, "err", err)
				continue
			}
			if final {
				e.remember(ctx, r.ID, p, ref, ref.Recipient, KindClosed)
			}
		}
	}
}

// viewerOf is who a stored card was sent to: a person (by email, in their
// time zone, UTC when the platform no longer knows it) or a channel.
func viewerOf(ctx context.Context, p Platform, recipient string) Viewer {
	if !strings.Contains(recipient, "@") {
		return Viewer{}
	}
	v := Viewer{Email: recipient}
	if who, found, err := p.Find(ctx, recipient); err == nil && found {
		v.Location = who.Location
	}
	return v
}

// directMessages tells the people in n.To what happened, each on the
// platforms Tell names, in their time zone.
func (e *Engine) directMessages(ctx context.Context, platforms []Platform, n flows.Notice) error {
	r := n.Request
	var errs []error
	for _, p := range platforms {
		for _, email := range n.To {
			if !Tell(n, email, p.Name()) {
				continue
			}
			who, found, err := p.Find(ctx, email)
			if err != nil {
				errs = append(errs, flows.WrapError(flows.EUNAVAILABLE, err, "could not look up %s in %s", email, title(p)))
				continue
			}
			if !found {
				if r != nil && email == r.Requester {
					errs = append(errs, flows.Errorf(flows.ENOTFOUND, "%s asked from %s, where jitbot cannot reach them any more", email, title(p)))
				}
				continue
			}
			card, ok := NoticeCard(n, Viewer{Email: email, Location: who.Location})
			if !ok {
				continue
			}
			ref, err := p.Send(ctx, who, card)
			if err != nil {
				errs = append(errs, undelivered(err, p, email))
				continue
			}
			if r == nil {
				continue
			}
			// Remember the messages whose buttons or secret must change later:
			// the credentials (removed when access ends) and the reminder (its
			// Extend buttons go stale after an extension or the end).
			switch {
			case card.HasSecret():
				e.remember(ctx, r.ID, p, ref, email, KindCredentials)
			case n.Event.Type == flows.EventReminder && len(card.Actions) > 0:
				e.remember(ctx, r.ID, p, ref, email, KindReminder)
			}
		}
	}
	return errors.Join(errs...)
}

// undelivered is the error of a direct message a platform did not deliver.
// A platform's own refusal (a secret bound for a shared conversation) keeps
// its code and words; anything else is the platform being unavailable.
func undelivered(err error, p Platform, email string) error {
	var fe *flows.Error
	if errors.As(err, &fe) {
		return err
	}
	return flows.WrapError(flows.EUNAVAILABLE, err, "%s did not deliver the message to %s", title(p), email)
}

// title is a platform's name as people read it: "Slack", "Teams".
func title(p Platform) string {
	name := p.Name()
	return strings.ToUpper(name[:1]) + name[1:]
}

package bot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// SentFinder is a platform that can find again a message it posted for a
// delivery: it tags each message it sends with the delivery's id
// (DeliveryOf), and looks for that tag in the conversation. A send cut
// short (the process died after the platform took the message and before
// Delivered; the call ended without an answer) then ends with the message
// it made recorded, not posted a second time, and later events update it.
type SentFinder interface {
	// FindSent looks in where (what Send's Person.Address or Post's channel
	// names) for the message of delivery id posted at or after since.
	FindSent(ctx context.Context, where string, id uint64, since time.Time) (ref flows.MessageRef, found bool, err error)
}

// ReplyFinder is a Replier some of whose answers are new messages in a
// conversation it can search (SentFinder): ReplyWhere says where dl's
// answer will be posted, ok false when it will be no such message (an
// ephemeral answer, one through a response_url).
type ReplyFinder interface {
	ReplyWhere(dl flows.Delivery) (where string, ok bool)
}

// findable says whether the message dl sends on p can be found again.
func findable(p Platform, dl flows.Delivery) bool {
	if _, finds := p.(SentFinder); !finds {
		return false
	}
	if dl.What == whatReply {
		rf, ok := p.(ReplyFinder)
		if !ok {
			return false
		}
		_, ok = rf.ReplyWhere(dl)
		return ok
	}
	return createsMessage(dl.What)
}

// recallSkew is how much earlier than its mark a message is looked for:
// the mark is taken on this replica's clock just before the send, the
// platform stamps the message on its own.
const recallSkew = time.Minute

type sendingKey struct{}

// sending is what deliver tells the platform and the senders of one send,
// and what it hears back.
type sending struct {
	id    uint64
	since time.Time // when set, look for the message first (FindSent)
	found bool      // the look found it: nothing was sent
}

// DeliveryOf is the outbox delivery a platform's Send or Post is for (0:
// none): a SentFinder tags the message with it.
func DeliveryOf(ctx context.Context) uint64 {
	if s, ok := ctx.Value(sendingKey{}).(*sending); ok {
		return s.id
	}
	return 0
}

// createsMessage says whether a delivery of what posts a new message. An
// update is never posted twice (it replaces); an answer is findable only
// where its platform says it becomes a message (ReplyFinder).
func createsMessage(what string) bool {
	switch what {
	case whatCard, whatNotice, whatCredentials, whatNudge, whatChannelNotice:
		return true
	}
	return false
}

// mark records in the store that dl is about to go, when its platform can
// find its messages again, and returns the context its send runs in. The
// mark it replaces says whether the message may be out already: another
// dispatcher's (a process that died, a leader deposed) or this one's after
// a send whose outcome is unknown, about the event dl still tells of. ok is
// false when the mark could not be written: the message does not go now
// (a deposed leader's marks fail: it sends nothing more).
func (d *Dispatcher) mark(ctx context.Context, log *slog.Logger, dl flows.Delivery) (context.Context, *sending, bool) {
	s := &sending{id: dl.ID}
	if p, known := d.platform(dl.Platform); !known || !findable(p, dl) {
		return ctx, s, true
	}
	prev, err := d.deps.Store.Sending(ctx, dl.ID, flows.SendMark{Holder: d.holder, At: d.deps.Wall.Now(), EventSeq: dl.EventSeq})
	if err != nil {
		log.WarnContext(ctx, "could not mark a message as being sent; it waits", "err", err)
		d.stats.add(dl, OutcomeUnmarked)
		d.holdBack(dl.Conversation, d.deps.Clock.Now().Add(d.backoff(dl.Attempts)))
		return ctx, s, false
	}
	unsure := d.takeUnsure(dl.ID)
	if prev != nil && prev.EventSeq == dl.EventSeq && (prev.Holder != d.holder || unsure) {
		s.since = prev.At.Add(-recallSkew)
	}
	return context.WithValue(ctx, sendingKey{}, s), s, true
}

// recall finds the message a send cut short left in where, when deliver
// asked for a look (mark). Not finding it, or failing to look, sends it:
// a message twice rather than none.
func (d *Dispatcher) recall(ctx context.Context, p Platform, dl flows.Delivery, where string) (flows.MessageRef, bool) {
	s, _ := ctx.Value(sendingKey{}).(*sending)
	f, finds := p.(SentFinder)
	if s == nil || s.since.IsZero() || !finds {
		return flows.MessageRef{}, false
	}
	ref, found, err := f.FindSent(ctx, where, s.id, s.since)
	switch {
	case err != nil:
		d.log.WarnContext(ctx, "could not look for a message that may have been sent; sending it", "delivery", dl.ID, "platform", dl.Platform, "err", err)
		return flows.MessageRef{}, false
	case !found:
		return flows.MessageRef{}, false
	}
	d.log.InfoContext(ctx, "found the message of a send cut short; recording it instead of sending it again", "delivery", dl.ID, "platform", dl.Platform, "conversation", ref.Conversation)
	s.found = true
	return ref, true
}

// sendReply is Replier.SendReply, unless the answer is out already
// (recall).
func (d *Dispatcher) sendReply(ctx context.Context, p Platform, rp Replier, dl flows.Delivery) error {
	if rf, ok := p.(ReplyFinder); ok {
		if where, ok := rf.ReplyWhere(dl); ok {
			if _, found := d.recall(ctx, p, dl, where); found {
				return nil
			}
		}
	}
	return rp.SendReply(ctx, dl)
}

// sendTo is Platform.Send, unless the message is out already (recall).
func (d *Dispatcher) sendTo(ctx context.Context, p Platform, dl flows.Delivery, who Person, c Card) (flows.MessageRef, error) {
	if ref, ok := d.recall(ctx, p, dl, who.Address); ok {
		return ref, nil
	}
	return p.Send(ctx, who, c)
}

// postTo is Platform.Post, unless the message is out already (recall).
func (d *Dispatcher) postTo(ctx context.Context, p Platform, dl flows.Delivery, channel string, c Card) (flows.MessageRef, error) {
	if ref, ok := d.recall(ctx, p, dl, channel); ok {
		return ref, nil
	}
	return p.Post(ctx, channel, c)
}

// unsure remembers a send of dl whose outcome is unknown (the call failed
// without a refusal): the platform may have taken the message.
func (d *Dispatcher) unsure(dl flows.Delivery) {
	if p, known := d.platform(dl.Platform); !known || !findable(p, dl) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unsureOf[dl.ID] = true
}

func (d *Dispatcher) takeUnsure(id uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.unsureOf[id]
	delete(d.unsureOf, id)
	return was
}

// sentUnrecorded remembers the message of a send the store failed to
// record: the next try records it instead of sending it again.
func (d *Dispatcher) sentUnrecorded(id uint64, ref *flows.MessageRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unrecorded[id] = ref
}

func (d *Dispatcher) takeUnrecorded(id uint64) (*flows.MessageRef, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ref, ok := d.unrecorded[id]
	delete(d.unrecorded, id)
	return ref, ok
}

// recallCredentials finds the credentials message a send cut short left
// with the requester, for a delivery whose secret this process does not
// hold: the process that sent it died with it.
func (d *Dispatcher) recallCredentials(ctx context.Context, p Platform, dl flows.Delivery) (*flows.MessageRef, bool) {
	if s, _ := ctx.Value(sendingKey{}).(*sending); s == nil || s.since.IsZero() {
		return nil, false
	}
	who, found, err := p.Find(ctx, dl.Recipient)
	if err != nil || !found {
		return nil, false
	}
	ref, ok := d.recall(ctx, p, dl, who.Address)
	if !ok {
		return nil, false
	}
	ref.Platform, ref.Recipient, ref.Kind = p.Name(), dl.Recipient, KindCredentials
	return &ref, true
}

// closeRecalled finds the approval card a send cut short left with an
// approver who has nothing left to decide now (the request was decided
// before the card could be sent again), and brings it up to date: it
// offers no decision any more. found is false when there is no such card
// (or it is another kind of card, left as it is).
func (d *Dispatcher) closeRecalled(ctx context.Context, p Platform, dl flows.Delivery, r *flows.Request, kind string) (*flows.MessageRef, bool, error) {
	if s, _ := ctx.Value(sendingKey{}).(*sending); s == nil || s.since.IsZero() || kind != KindApproval {
		return nil, false, nil
	}
	who, found, err := p.Find(ctx, dl.Recipient)
	if err != nil || !found {
		return nil, false, err
	}
	ref, ok := d.recall(ctx, p, dl, who.Address)
	if !ok {
		return nil, false, nil
	}
	if err := p.Update(ctx, ref, ApprovalCard(r, Viewer{Email: dl.Recipient, Location: who.Location})); err != nil {
		return nil, false, fmt.Errorf("bring the card found up to date: %w", err)
	}
	ref.Platform, ref.Recipient, ref.Kind = p.Name(), dl.Recipient, kind
	if r.State.Terminal() {
		ref.Kind = KindClosed
	}
	return &ref, true, nil
}

package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Deliver sends one round: the head of each conversation that may go now
// (nothing of it in flight, not held back by Retry-After or a backoff), the
// most urgent first, at most Workers at once (less those Run's workers are
// sending), each on its own goroutine, and waits for them. It returns how
// many deliveries it settled (sent, or dropped for good); a delivery that
// failed for now is postponed. The conversations come from the schedule,
// not from a read of the outbox.
//
// Urgency is the delivery's Priority, then its age: each RefreshWait a
// conversation waits counts it one level more urgent (a refresh as an
// approval card, a credentials message as an answer), so that no stream of
// more urgent messages starves it. A conversation is as urgent as the most urgent
// delivery waiting in it (what is ahead of that one goes first, in order).
func (d *Dispatcher) Deliver(ctx context.Context) (int, error) {
	picks, _, _, err := d.take(ctx, d.cfg.Workers)
	if err != nil || len(picks) == 0 {
		return 0, err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		settled int
	)
	for _, dl := range picks {
		wg.Go(func() {
			done := d.deliver(ctx, dl)
			d.release(dl.Conversation)
			if done {
				mu.Lock()
				settled++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return settled, nil
}

// outcome is how a send ended, beyond success.
type outcome struct {
	// skip drops the delivery with no trace: there is nothing to send any
	// more (the platform does not know the person, the card is gone, the
	// credentials were superseded).
	skip string
	// wait retries after this long without counting it as a failure of the
	// platform (a secret about to be kept).
	wait time.Duration
}

func (o *outcome) Error() string {
	if o.skip != "" {
		return "nothing to send: " + o.skip
	}
	return "not yet"
}

func skip(why string) error { return &outcome{skip: why} }

// deliver sends one delivery and records what became of it. It reports
// whether the delivery is settled (sent or dropped).
func (d *Dispatcher) deliver(ctx context.Context, dl flows.Delivery) bool {
	log := d.log.With("delivery", dl.ID, "platform", dl.Platform, "conversation", dl.Conversation, "what", dl.What, "request_id", dl.RequestID)
	if d.heldByAnother(dl) {
		return d.leaveToHolder(ctx, log, dl)
	}
	if ref, ok := d.takeUnrecorded(dl.ID); ok {
		// This process sent it and the store failed to record it: record
		// it now, without sending it again.
		return d.record(ctx, log, dl, ref, OutcomeFound)
	}
	ctx, sent, marked := d.mark(ctx, log, dl)
	if !marked {
		return false
	}
	start := d.deps.Wall.Now()
	ref, err := d.send(ctx, dl)
	now := d.deps.Clock.Now()
	// What became of the send is recorded even when shutdown cancelled ctx
	// meanwhile: a message the platform took and left unrecorded would go
	// out again after the restart.
	ctx = context.WithoutCancel(ctx)
	var o *outcome
	var rl RateLimited
	var pe PermanentError
	switch {
	case err == nil && sent.found:
		return d.record(ctx, log, dl, ref, OutcomeFound)
	case err == nil:
		if !d.record(ctx, log, dl, ref, OutcomeSent) {
			return false
		}
		if pace := d.cfg.Pacing[dl.Platform]; pace > 0 && dl.What != whatRefresh {
			// From the start of this post: the platform's own pacer (which
			// measures from its end) makes up any difference.
			d.mu.Lock()
			d.paced[dl.Conversation] = start.Add(pace)
			d.prunePacedLocked(start)
			d.mu.Unlock()
		}
		return true
	case errors.As(err, &o) && o.skip != "":
		log.DebugContext(ctx, "nothing to send", "why", o.skip)
		d.stats.add(dl, OutcomeSkipped)
		return d.drop(ctx, log, dl)
	case errors.As(err, &o):
		d.stats.add(dl, OutcomeWait)
		return d.postpone(ctx, log, dl, now.Add(o.wait))
	case errors.As(err, &rl) && rl.RetryAfter() > 0:
		log.InfoContext(ctx, "the platform asked to wait", "retry_after", rl.RetryAfter())
		d.stats.add(dl, OutcomeWait)
		return d.postpone(ctx, log, dl, now.Add(rl.RetryAfter()))
	case errors.As(err, &pe) && pe.Permanent(), errors.Is(err, errUnreachable), flows.ErrorCode(err) == flows.EFORBIDDEN:
		// EFORBIDDEN: the platform refused the message by its own rule (a
		// secret bound for a conversation others read); it always will.
		log.WarnContext(ctx, "the platform will never deliver this message; dropped", "err", err)
		d.stats.add(dl, OutcomePermanent)
		return d.undeliverable(ctx, log, dl, err)
	default:
		wait := d.backoff(dl.Attempts)
		log.WarnContext(ctx, "could not send; will retry", "attempts", dl.Attempts+1, "retry_in", wait, "err", err)
		d.stats.add(dl, OutcomeFailed)
		d.unsure(dl)
		return d.postpone(ctx, log, dl, now.Add(wait))
	}
}

// record commits a sent (or found) message: the delivery goes and its
// reference is remembered. A failed commit keeps the reference in memory
// for the next try, after a pause so that a failing store is not
// hammered; a process that dies meanwhile leaves its mark (recall.go).
func (d *Dispatcher) record(ctx context.Context, log *slog.Logger, dl flows.Delivery, ref *flows.MessageRef, outcome string) bool {
	if err := d.deps.Store.Delivered(ctx, dl.ID, ref); err != nil {
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			// Recorded after all (the failed commit went through), or
			// another replica's: nothing waits any more.
			d.stats.add(dl, outcome)
			d.settled(dl)
			return true
		}
		log.WarnContext(ctx, "sent a message but could not record it; the next try records it", "err", err)
		d.stats.add(dl, OutcomeNotRecorded)
		d.sentUnrecorded(dl.ID, ref)
		d.holdBack(dl.Conversation, d.deps.Clock.Now().Add(d.backoff(dl.Attempts)))
		return false
	}
	log.DebugContext(ctx, "delivered", "attempts", dl.Attempts+1, "outcome", outcome)
	d.stats.add(dl, outcome)
	d.settled(dl)
	return true
}

// errUnreachable: the requester's platform no longer knows them, so their
// credentials can never be delivered there.
var errUnreachable = errors.New("the platform no longer reaches this person")

// holdBack keeps a conversation back after a store write failed, and has
// the schedule read again: the write may have happened all the same.
func (d *Dispatcher) holdBack(conv string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hold[conv] = until
	d.loaded = false
}

func (d *Dispatcher) postpone(ctx context.Context, log *slog.Logger, dl flows.Delivery, until time.Time) bool {
	if err := d.deps.Store.Postpone(ctx, dl.ID, until); err != nil {
		log.WarnContext(ctx, "could not postpone a delivery", "err", err)
		d.holdBack(dl.Conversation, until)
		return false
	}
	d.mu.Lock()
	d.postponedLocked(dl, until)
	d.mu.Unlock()
	return false
}

// drop removes a delivery with nothing to send, leaving no trace.
func (d *Dispatcher) drop(ctx context.Context, log *slog.Logger, dl flows.Delivery, evs ...flows.Event) bool {
	if err := d.deps.Store.Drop(ctx, dl.ID, evs...); err != nil {
		log.WarnContext(ctx, "could not drop a delivery", "err", err)
		d.holdBack(dl.Conversation, d.deps.Clock.Now().Add(d.backoff(dl.Attempts)))
		return false
	}
	d.settled(dl)
	return true
}

// settled forgets a delivery gone from the outbox, and its secret.
func (d *Dispatcher) settled(dl flows.Delivery) {
	d.mu.Lock()
	d.sentOrDropped(dl)
	d.unscheduleLocked(dl)
	delete(d.unsureOf, dl.ID)
	delete(d.unrecorded, dl.ID)
	d.mu.Unlock()
	if dl.What == whatCredentials {
		if p, err := decodePayload(dl.Payload); err == nil {
			d.deps.Secrets.Forget(dl.RequestID, p.Event.At)
		}
	}
}

// undeliverable drops a delivery the platform refused for good, recording
// why. An approver's card is one of several: the others still go. The
// requester's credentials are a grant nobody can use: the wiring revokes it
// (OnUndeliverable) and the admins hear of it from the event.
func (d *Dispatcher) undeliverable(ctx context.Context, log *slog.Logger, dl flows.Delivery, cause error) bool {
	ev := flows.Event{Type: flows.EventMessageUndelivered, RequestID: dl.RequestID, Actor: flows.SystemActor, At: d.deps.Clock.Now(),
		Message: Truncate(fmt.Sprintf("%s could not deliver the %s to %s: %v", dl.Platform, dl.What, dl.Recipient, cause), 300)}
	credentials := dl.What == whatCredentials && dl.RequestID != ""
	if credentials {
		ev.Type = flows.EventCredentialsUndelivered
		ev.From, ev.To = flows.StateActive, flows.StateActive
	}
	if !d.drop(ctx, log, dl, ev) {
		return false
	}
	if credentials && d.deps.OnUndeliverable != nil {
		d.deps.OnUndeliverable(ctx, dl.RequestID, Truncate(cause.Error(), 200))
	}
	return true
}

// send renders a delivery from the request as it is now and sends it. The
// reference it returns is what Delivered remembers (nil: nothing).
func (d *Dispatcher) send(ctx context.Context, dl flows.Delivery) (*flows.MessageRef, error) {
	p, ok := d.platform(dl.Platform)
	if !ok {
		return nil, skip("platform " + dl.Platform + " is not registered")
	}
	if dl.What == whatReply {
		rp, ok := p.(Replier)
		if !ok {
			return nil, skip("platform " + dl.Platform + " sends no answers through the outbox")
		}
		return nil, d.sendReply(ctx, p, rp, dl)
	}
	if render, ok := d.deps.Renderers[dl.What]; ok {
		return nil, d.sendRendered(ctx, p, dl, render)
	}
	body, err := decodePayload(dl.Payload)
	if err != nil {
		return nil, skip("unreadable payload: " + err.Error())
	}
	var r *flows.Request
	if dl.RequestID != "" {
		got, err := d.deps.Store.Get(ctx, dl.RequestID)
		switch {
		case err == nil:
			r = got
		case flows.ErrorCode(err) != flows.ENOTFOUND:
			return nil, fmt.Errorf("read request %s: %w", dl.RequestID, err)
		}
	}
	n := flows.Notice{Event: body.Event, Request: r}
	switch dl.What {
	case whatCard:
		return d.sendCard(ctx, p, dl, n, body.Kind)
	case whatRefresh:
		return nil, d.refresh(ctx, p, dl, n, body.Kind)
	case whatCredentials:
		return d.sendCredentials(ctx, p, dl, n)
	case whatNotice:
		return d.sendNotice(ctx, p, dl, n, nil)
	case whatNudge:
		return d.sendNudge(ctx, p, dl)
	case whatChannelNotice:
		return d.sendChannelNotice(ctx, p, dl, n)
	}
	return nil, skip("unknown delivery " + dl.What)
}

// sendCard sends an approval or extension card to an approver who still
// has to decide, or posts it to an approvals channel.
func (d *Dispatcher) sendCard(ctx context.Context, p Platform, dl flows.Delivery, n flows.Notice, kind string) (*flows.MessageRef, error) {
	r := n.Request
	if r == nil {
		return nil, skip("the request is gone")
	}
	var (
		ref flows.MessageRef
		err error
	)
	if !strings.Contains(dl.Recipient, "@") {
		ref, err = d.postTo(ctx, p, dl, dl.Recipient, ApproverCard(kind, n, Viewer{}))
	} else {
		if !slices.Contains(r.AwaitingApprovalFrom(), dl.Recipient) {
			if ref, found, err := d.closeRecalled(ctx, p, dl, r, kind); found || err != nil {
				return ref, err
			}
			return nil, skip("the approver has nothing left to decide")
		}
		who, found, ferr := p.Find(ctx, dl.Recipient)
		if ferr != nil {
			return nil, ferr
		}
		if !found {
			return nil, skip("not on this platform")
		}
		ref, err = d.sendTo(ctx, p, dl, who, ApproverCard(kind, n, Viewer{Email: dl.Recipient, Location: who.Location}))
	}
	if err != nil {
		return nil, err
	}
	ref.Platform, ref.Recipient, ref.Kind = p.Name(), dl.Recipient, kind
	return &ref, nil
}

// sendCredentials sends the requester the credentials issued at the
// event, held in memory since. Credentials replaced or ended since are not
// sent; credentials the process lost (it restarted) are reissued.
func (d *Dispatcher) sendCredentials(ctx context.Context, p Platform, dl flows.Delivery, n flows.Notice) (*flows.MessageRef, error) {
	r, issued := n.Request, n.Event.At
	if r == nil || r.State != flows.StateActive || !r.CredentialsIssuedAt.Equal(issued) {
		d.deps.Secrets.Forget(dl.RequestID, issued)
		d.forgetReissue(dl.RequestID, issued)
		return nil, skip("the credentials were replaced or the access ended")
	}
	creds, ok := d.deps.Secrets.Lookup(r.ID, issued)
	if !ok {
		if ref, found := d.recallCredentials(ctx, p, dl); found {
			// A process that died had sent them: the requester has this
			// secret, which still holds. Nothing to reissue.
			return ref, nil
		}
		if wait := issued.Add(d.cfg.KeepGrace).Sub(d.deps.Clock.Now()); wait > 0 {
			// Once, until the grace is over, not every second: each look
			// is a store write, and in a store replicas share two secrets
			// in three are made by replicas that do not lead, so most
			// credentials messages wait out the whole grace.
			return nil, &outcome{wait: max(wait, time.Second)}
		}
		if d.deps.Reissue == nil {
			return nil, fmt.Errorf("the credentials are no longer held and cannot be reissued: %w", errUnreachable)
		}
		done, err := d.reissue(ctx, r.ID, issued)
		if !done {
			return nil, &outcome{wait: reissueWait} // under way, beside the senders (reissue.go)
		}
		if errors.Is(err, flows.ErrNothingToReissue) {
			// No secret was lost: the message goes out with what the
			// request says, without the details held in memory.
			d.log.InfoContext(ctx, "the credentials message of a grant without a secret was lost in a restart; sending it without its details", "request_id", r.ID)
			return d.sendNotice(ctx, p, dl, n, nil)
		} else if err != nil {
			return nil, fmt.Errorf("reissue the lost credentials: %w", err)
		}
		d.log.InfoContext(ctx, "reissued credentials lost before they were sent", "request_id", r.ID)
		return nil, skip("reissued: the new credentials have their own delivery")
	}
	return d.sendNotice(ctx, p, dl, n, &creds)
}

// sendNotice sends a person the direct message about an event.
func (d *Dispatcher) sendNotice(ctx context.Context, p Platform, dl flows.Delivery, n flows.Notice, creds *flows.Credentials) (*flows.MessageRef, error) {
	who, found, err := p.Find(ctx, dl.Recipient)
	if err != nil {
		return nil, err
	}
	if !found {
		if creds != nil {
			return nil, errUnreachable
		}
		return nil, skip("not on this platform")
	}
	n.Credentials = creds
	card, ok := NoticeCard(n, Viewer{Email: dl.Recipient, Location: who.Location})
	if !ok {
		return nil, skip("the event tells nobody")
	}
	ref, err := d.sendTo(ctx, p, dl, who, card)
	if err != nil {
		return nil, err
	}
	var kind string
	switch {
	case card.HasSecret():
		kind = KindCredentials
	default:
		kind = remembered(n, card)
	}
	if kind == "" || n.Request == nil {
		return nil, nil
	}
	ref.Platform, ref.Recipient, ref.Kind = p.Name(), dl.Recipient, kind
	return &ref, nil
}

// refresh updates the card the delivery names (or, for a card that was not
// sent yet when the event was expanded, the cards of its kind the recipient
// has now). A card in its final state is closed with the delivery.
func (d *Dispatcher) refresh(ctx context.Context, p Platform, dl flows.Delivery, n flows.Notice, kind string) error {
	r := n.Request
	if r == nil {
		return skip("the request is gone")
	}
	refs, err := d.deps.Store.MessageRefs(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("read the cards of request %s: %w", r.ID, err)
	}
	var targets []flows.MessageRef
	for _, ref := range Open(refs, p.Name()) {
		switch {
		case dl.Ref != nil && ref.Conversation == dl.Ref.Conversation && ref.ID == dl.Ref.ID && ref.Kind == dl.Ref.Kind:
			targets = append(targets, ref)
		case dl.Ref == nil && ref.Recipient == dl.Recipient && ref.Kind == kind:
			targets = append(targets, ref)
		}
	}
	if len(targets) == 0 {
		return skip("no open card to refresh")
	}
	viewer := viewerOf(ctx, p, dl.Recipient)
	for _, ref := range targets {
		card, final, ok := Refresh(ref.Kind, n, viewer)
		if !ok {
			continue
		}
		if err := p.Update(ctx, ref, card); err != nil {
			return err
		}
		if final {
			closed := ref
			closed.Kind = KindClosed
			if err := d.deps.Store.AddMessageRef(ctx, r.ID, closed); err != nil {
				return fmt.Errorf("close card %s: %w", ref.ID, err)
			}
		}
	}
	return nil
}

// prunePacedLocked forgets the pacing of conversations whose wait is over,
// once there are many: a conversation nothing more is sent to is never
// looked at again. The threshold doubles with what stays, so pruning costs
// little per post. Called with mu held.
func (d *Dispatcher) prunePacedLocked(wall time.Time) {
	if len(d.paced) < d.pruneAt {
		return
	}
	for conv, until := range d.paced {
		if !until.After(wall) {
			delete(d.paced, conv)
		}
	}
	d.pruneAt = max(1024, 2*len(d.paced))
}

package bot

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Expand turns the audit records after the outbox cursor (up to Batch of
// them) into deliveries, written in one transaction with the cursor moved
// past the last record expanded: after a crash every event is either fully
// expanded or not at all. It returns how many records it expanded. No chat
// call is made here; the request is read as it is now.
//
// Who hears of what follows Engine.Notify: approval and extension cards to
// every approver the domain names on every platform and to each approvals
// channel; a refresh of every card the event can change; the direct
// messages Tell allows; credentials only to the requester where she asked,
// before the refreshes (but after them for a rotation, whose refreshes
// remove the old secret and must not reach the new message).
func (d *Dispatcher) Expand(ctx context.Context) (int, error) {
	if err := d.load(ctx); err != nil {
		return 0, err
	}
	if an, ok := d.deps.Store.(AnswerNumberer); ok {
		d.numberAnswers(ctx, an)
	}
	cursor, err := d.deps.Store.Cursor(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: read the cursor: %w", err)
	}
	batch := int(d.expandBatch.Load())
	if batch <= 0 || batch > d.cfg.Batch {
		batch = d.cfg.Batch
	}
	recs, err := d.deps.Store.AuditAfter(ctx, cursor, batch)
	if err != nil {
		return 0, fmt.Errorf("outbox: read the audit log after %d: %w", cursor, err)
	}
	if len(recs) == 0 {
		d.expandLag.Store(0)
		return 0, nil
	}
	x := expansion{d: d, ctx: ctx, platforms: d.deps.Platforms(), batch: map[flows.RequestID][]unsentCard{}}
	x.known = d.readRequests(ctx, recs)
	x.prefetchRefs(recs)
	last, n := cursor, 0
	var expandErr error
	for _, rec := range recs {
		if err := x.record(rec); err != nil {
			expandErr = fmt.Errorf("outbox: expand audit record %d (%s): %w", rec.Seq, rec.Event.Type, err)
			break
		}
		last, n = rec.Seq, n+1
		x.commit()
	}
	if n == 0 {
		return 0, expandErr
	}
	d.mu.Lock()
	held := map[string]bool{}
	for i := range x.out {
		dl := &x.out[i]
		if dl.Coalesce == "" {
			continue
		}
		// Coalescing into a delivery being sent would have Delivered remove
		// the update unsent (flows.Delivery.Coalesce); and no worker may
		// start sending the one it coalesces into until the enqueue is
		// over.
		if d.inflight[dl.Conversation].Coalesce == dl.Coalesce {
			dl.Coalesce = ""
		} else if !held[dl.Conversation] {
			held[dl.Conversation] = true
			d.holdForEnqueueLocked(dl.Conversation)
		}
	}
	d.enqueuing = true
	d.mu.Unlock()
	// The enqueue (on etcd, a transaction or several) runs without the
	// lock: the senders go on meanwhile, and the inbox's workers hand over
	// their answers. Held before, every sender stalled on it in turn
	// (the HA bench's goroutine dumps: all eight).
	stored, err := d.deps.Store.Enqueue(ctx, last, x.out...)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enqueuing = false
	for conv := range held {
		delete(d.expanding, conv)
		d.markLocked(conv)
	}
	d.wakeLocked()
	if err != nil {
		d.loaded = false // it may have been written all the same
		d.expandBatch.Store(int64(max(1, batch/2)))
		return 0, fmt.Errorf("outbox: enqueue the deliveries of audit records %d to %d: %w", cursor+1, last, err)
	}
	d.expandBatch.Store(int64(min(d.cfg.Batch, batch*2)))
	d.expandLag.Store(int64(max(d.deps.Clock.Now().Sub(recs[n-1].Event.At), 0)))
	d.scheduleStoredLocked(stored)
	return n, expandErr
}

// ExpandLag is how far behind the audit log the expansion was when it last
// looked: the age of the last event it expanded then (0 when it found
// nothing left). A message cannot go out before its event is expanded.
func (d *Dispatcher) ExpandLag() time.Duration { return time.Duration(d.expandLag.Load()) }

// scheduleStoredLocked takes in deliveries this dispatcher just stored:
// their cards are noted, and they join the schedule if it is loaded (else
// the next load reads them). Called with mu held.
func (d *Dispatcher) scheduleStoredLocked(ds []flows.Delivery) {
	for _, dl := range ds {
		d.noteUnsent(dl)
		if d.loaded {
			d.scheduleLocked(dl)
		}
	}
	if len(ds) > 0 {
		d.wakeLocked()
	}
}

// numberAnswers numbers the answers waiting unnumbered and schedules
// them. A failure is logged, not returned: the audit log's expansion does
// not wait on the answers, and what may have been numbered is read with
// the schedule again.
func (d *Dispatcher) numberAnswers(ctx context.Context, an AnswerNumberer) {
	ds, err := an.NumberAnswers(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.loaded = false
		if ctx.Err() == nil {
			d.log.WarnContext(ctx, "could not number the answers waiting in the outbox", "err", err)
		}
		return
	}
	d.scheduleStoredLocked(ds)
}

// load reads the schedule and the cards waiting to be sent from the
// outbox, once (and again after a store error): those enqueued before a
// restart.
func (d *Dispatcher) load(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loadLocked(ctx)
}

// noteUnsent records dl if it will create a message later events update.
// Called with mu held.
func (d *Dispatcher) noteUnsent(dl flows.Delivery) {
	if dl.What == whatRefresh || dl.RequestID == "" {
		return
	}
	p, err := decodePayload(dl.Payload)
	if err != nil || p.Kind == "" {
		return
	}
	for _, u := range d.unsent[dl.RequestID] {
		if u.id == dl.ID {
			return
		}
	}
	d.unsent[dl.RequestID] = append(d.unsent[dl.RequestID], unsentCard{
		id: dl.ID, platform: dl.Platform, conversation: dl.Conversation, recipient: dl.Recipient, kind: p.Kind})
}

// sentOrDropped forgets an unsent card once its delivery is gone. Called
// with mu held.
func (d *Dispatcher) sentOrDropped(dl flows.Delivery) {
	us := d.unsent[dl.RequestID]
	for i, u := range us {
		if u.id == dl.ID {
			us = append(us[:i:i], us[i+1:]...)
			break
		}
	}
	if len(us) == 0 {
		delete(d.unsent, dl.RequestID)
	} else {
		d.unsent[dl.RequestID] = us
	}
}

// expansion is one Expand's work in progress.
type expansion struct {
	d         *Dispatcher
	ctx       context.Context
	platforms []Platform
	// batch holds the cards of this expansion, not enqueued yet.
	batch map[flows.RequestID][]unsentCard
	// refs are the message refs of the requests whose cards may change,
	// read together, and unsentBefore their cards not sent yet, noted
	// just before (prefetchRefs); a request not in unsentBefore has its
	// read on its own.
	refs         map[flows.RequestID][]flows.MessageRef
	unsentBefore map[flows.RequestID][]unsentCard
	out          []flows.Delivery
	// rec is the deliveries of the record being expanded, moved to out by
	// commit once the record expanded without error.
	rec []flows.Delivery
	// known are the records' requests read together (readRequests), nil
	// for one not stored; one missing from it is read alone.
	known map[flows.RequestID]*flows.Request
}

// readRequests reads the requests of recs together when the store can
// (flows.ManyGetter: on etcd a read each was a round trip per audit
// record), and nothing when it cannot: each is then read alone.
func (d *Dispatcher) readRequests(ctx context.Context, recs []flows.AuditRecord) map[flows.RequestID]*flows.Request {
	var ids []flows.RequestID
	seen := map[flows.RequestID]bool{}
	for _, rec := range recs {
		if id := rec.Event.RequestID; id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	known, err := flows.GetManyByID(ctx, d.deps.Store, ids)
	if err != nil {
		d.log.WarnContext(ctx, "outbox: could not read the audit records' requests together; reading them one at a time", "requests", len(ids), "err", err)
	}
	return known
}

// prefetchRefs reads in one round (ManyMessageRefs) the message refs of
// the requests whose events in recs may change cards, after noting their
// cards not sent yet: the order refreshes needs, so that a card whose
// reference is committed in between is seen at least once. Without
// ManyMessageRefs, or when the read fails, refreshes reads them one
// request at a time: on etcd a round each, which at 100 requests/s left
// the expansion minutes behind the audit log.
func (x *expansion) prefetchRefs(recs []flows.AuditRecord) {
	many, ok := x.d.deps.Store.(ManyMessageRefs)
	if !ok {
		return
	}
	var ids []flows.RequestID
	seen := map[flows.RequestID]bool{}
	for _, rec := range recs {
		if id := rec.Event.RequestID; id != "" && !seen[id] && CardsMayChange(rec.Event) {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	unsent := make(map[flows.RequestID][]unsentCard, len(ids))
	x.d.mu.Lock()
	for _, id := range ids {
		unsent[id] = slices.Clone(x.d.unsent[id])
	}
	x.d.mu.Unlock()
	refs, err := many.ManyMessageRefs(x.ctx, ids)
	if err != nil {
		x.d.log.WarnContext(x.ctx, "outbox: could not read the cards of the audit records' requests together; reading them one at a time", "requests", len(ids), "err", err)
		return
	}
	x.refs, x.unsentBefore = refs, unsent
}

func (x *expansion) commit() {
	x.out = append(x.out, x.rec...)
	x.rec = x.rec[:0]
}

// record expands one audit record.
func (x *expansion) record(rec flows.AuditRecord) error {
	x.rec = x.rec[:0]
	ev := rec.Event
	var r *flows.Request
	if got, ok := x.known[ev.RequestID]; ok {
		r = got // nil: not stored, as ENOTFOUND below
	} else if ev.RequestID != "" {
		got, err := x.d.deps.Store.Get(x.ctx, ev.RequestID)
		switch {
		case err == nil:
			r = got
		case flows.ErrorCode(err) == flows.ENOTFOUND:
			// An orphan's finding names a request that is gone: told as a
			// finding about no request.
		default:
			return err
		}
	}
	n := flows.Notice{Event: ev, Request: r, To: x.d.deps.Audience(ev, r)}
	// A guest's grant hands nothing to chat: the guest gets the password
	// on a web page (guest.go).
	credentials := r != nil && r.Guest == nil && (ev.Type == flows.EventActivated || ev.Type == flows.EventCredentialsRotated)
	if credentials {
		// Placeholder credentials make Tell and NoticeCard decide as they
		// will when the message is rendered with the real ones.
		n.Credentials = &flows.Credentials{}
	}
	credentialsFirst := credentials && !CredentialsCardChanges(ev)
	if credentialsFirst {
		x.directMessages(rec.Seq, n)
	}
	if r != nil {
		switch ev.Type {
		case flows.EventSubmitted:
			x.cards(rec.Seq, n, KindApproval)
		case flows.EventExtensionRequested:
			x.cards(rec.Seq, n, ExtensionKind(ev.Extension))
		case flows.EventApproversReminded:
			x.nudges(rec.Seq, n)
		case flows.EventBrokeGlass:
			x.breakGlassChannel(rec.Seq, n)
		case flows.EventEscalated:
			if err := x.refreshes(rec.Seq, n); err != nil {
				return err
			}
			x.escalated(rec.Seq, n)
		default:
			if err := x.refreshes(rec.Seq, n); err != nil {
				return err
			}
		}
	}
	if !credentialsFirst {
		x.directMessages(rec.Seq, n)
	}
	return nil
}

func (x *expansion) add(dl flows.Delivery, kind string) {
	dl.CreatedAt = x.d.deps.Clock.Now()
	x.rec = append(x.rec, dl)
	if kind != "" && dl.What != whatRefresh {
		x.batch[dl.RequestID] = append(x.batch[dl.RequestID], unsentCard{
			platform: dl.Platform, conversation: dl.Conversation, recipient: dl.Recipient, kind: kind})
	}
}

// cards are the new approval (or extension) cards: one per approver per
// platform, and one per approvals channel.
func (x *expansion) cards(seq uint64, n flows.Notice, kind string) {
	r := n.Request
	body := encodePayload(n.Event, kind)
	for _, p := range x.platforms {
		name := p.Name()
		for _, email := range n.To {
			x.add(flows.Delivery{Conversation: conversation(name, email), Platform: name, Priority: flows.PriorityApproval,
				What: whatCard, Recipient: email, RequestID: r.ID, EventSeq: seq, Payload: body}, kind)
		}
		if channel := p.Channel(r); channel != "" {
			x.add(flows.Delivery{Conversation: conversation(name, channel), Platform: name, Priority: flows.PriorityApproval,
				What: whatCard, Recipient: channel, RequestID: r.ID, EventSeq: seq, Payload: body}, kind)
		}
	}
}

// refreshes bring up to date every card the event changes: those sent
// (their stored references, coalesced per card) and those still waiting to
// be sent (resolved once sent, behind them in their conversation).
func (x *expansion) refreshes(seq uint64, n flows.Notice) error {
	r, ev := n.Request, n.Event
	if !CardsMayChange(ev) {
		return nil // most events change no card: no store read for them
	}
	// The cards not sent yet are read before the stored references: a card
	// whose reference is committed in between is then seen at least once
	// (Deliver forgets it as unsent only after the commit).
	var (
		unsent []unsentCard
		refs   []flows.MessageRef
	)
	if before, ok := x.unsentBefore[r.ID]; ok {
		unsent, refs = append(slices.Clone(before), x.batch[r.ID]...), x.refs[r.ID]
	} else {
		x.d.mu.Lock()
		unsent = append(append([]unsentCard(nil), x.d.unsent[r.ID]...), x.batch[r.ID]...)
		x.d.mu.Unlock()
		var err error
		if refs, err = x.d.deps.Store.MessageRefs(x.ctx, r.ID); err != nil {
			return fmt.Errorf("read the cards of request %s: %w", r.ID, err)
		}
	}
	for _, p := range x.platforms {
		name := p.Name()
		for _, ref := range Open(refs, name) {
			if _, _, ok := Refresh(ref.Kind, n, Viewer{}); !ok {
				continue
			}
			ref := ref
			x.add(flows.Delivery{Conversation: conversation(name, ref.Recipient), Platform: name, Priority: flows.PriorityRefresh,
				What: whatRefresh, Recipient: ref.Recipient, RequestID: r.ID, EventSeq: seq, Ref: &ref, Coalesce: refKey(ref),
				Payload: encodePayload(ev, ref.Kind)}, "")
		}
	}
	for _, u := range unsent {
		if _, _, ok := Refresh(u.kind, n, Viewer{}); !ok {
			continue
		}
		x.add(flows.Delivery{Conversation: u.conversation, Platform: u.platform, Priority: flows.PriorityRefresh,
			What: whatRefresh, Recipient: u.recipient, RequestID: r.ID, EventSeq: seq, Payload: encodePayload(ev, u.kind)}, "")
	}
	return nil
}

// directMessages are the messages Tell allows, one per person per
// platform: which platform reaches whom is found out when they are sent.
func (x *expansion) directMessages(seq uint64, n flows.Notice) {
	var body []byte
	bodyKind := ""
	for _, p := range x.platforms {
		name := p.Name()
		for _, email := range n.To {
			if !Tell(n, email, name) {
				continue
			}
			card, ok := NoticeCard(n, Viewer{Email: email})
			if !ok {
				continue
			}
			dl := flows.Delivery{Conversation: conversation(name, email), Platform: name, Priority: flows.PriorityApproval,
				What: whatNotice, Recipient: email, EventSeq: seq}
			if n.Request != nil {
				dl.RequestID = n.Request.ID
			}
			kind := remembered(n, card)
			if n.Credentials != nil {
				// Only the keeper's memory holds the secret: it sends them.
				dl.What, dl.Priority, dl.Holder = whatCredentials, flows.PriorityCredentials, n.Event.Keeper
			}
			if body == nil || kind != bodyKind {
				body, bodyKind = encodePayload(n.Event, kind), kind
			}
			dl.Payload = body
			x.add(dl, kind)
		}
	}
}

// remembered is the kind of a direct message whose buttons or secret must
// change later, "" for one that never changes: the credentials (removed
// when access ends) and the reminder (its Extend buttons go stale).
func remembered(n flows.Notice, c Card) string {
	switch {
	case n.Request == nil:
		return ""
	case n.Credentials != nil:
		return KindCredentials
	case n.Event.Type == flows.EventReminder && len(c.Actions) > 0:
		return KindReminder
	}
	return ""
}

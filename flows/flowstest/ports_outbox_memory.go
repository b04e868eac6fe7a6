package flowstest

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/jitbot/jitbot/flows"
)

var (
	_ flows.Inbox       = (*Store)(nil)
	_ flows.Outbox      = (*Store)(nil)
	_ flows.AuditReader = (*Store)(nil)
)

// sideEffects is the memory Store's inbox and outbox. Its zero value is
// empty and ready; every access holds Store.mu. It scans where the bbolt
// store keeps indexes: tests hold a handful of items.
type sideEffects struct {
	inbox    map[string]*memInboxItem
	received uint64 // items received so far: each one's seq
	outbox   map[uint64]*flows.Delivery
	marks    map[uint64]flows.SendMark // Sending's, by delivery
	lastID   uint64                    // the last delivery id handed out
	cursor   uint64
	sinks    map[string]uint64 // the audit sinks' cursors (ports_sinkcursor_memory.go)
}

type memInboxItem struct {
	item       flows.InboxItem
	seq        uint64
	finishedAt time.Time // zero while not finished
	// redelivered: received again while not finished (DropInbox keeps
	// it); dropped: finished by DropInbox (Receive takes it as new).
	redelivered, dropped bool
}

func cloneItem(it flows.InboxItem) flows.InboxItem {
	it.Payload = slices.Clone(it.Payload)
	return it
}

func cloneDelivery(d flows.Delivery) flows.Delivery {
	d.Payload = slices.Clone(d.Payload)
	if d.Ref != nil {
		ref := *d.Ref
		d.Ref = &ref
	}
	return d
}

// Receive implements flows.Inbox.
func (s *Store) Receive(ctx context.Context, item flows.InboxItem) (bool, error) {
	if item.Key == "" {
		return false, errors.New("flowstest: receive: an inbox item needs a key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.fx.inbox[item.Key]; ok && !it.dropped {
		it.redelivered = it.redelivered || it.finishedAt.IsZero()
		return false, ctx.Err()
	}
	if s.fx.inbox == nil {
		s.fx.inbox = map[string]*memInboxItem{}
	}
	if item.NextAt.IsZero() {
		item.NextAt = item.ReceivedAt
	}
	s.fx.received++
	s.fx.inbox[item.Key] = &memInboxItem{item: cloneItem(item), seq: s.fx.received}
	return true, ctx.Err()
}

// TakeInbox implements flows.Inbox.
func (s *Store) TakeInbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]flows.InboxItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*memInboxItem
	for _, it := range s.fx.inbox {
		if it.finishedAt.IsZero() && !it.item.NextAt.After(now) {
			due = append(due, it)
		}
	}
	slices.SortFunc(due, func(a, b *memInboxItem) int {
		return cmp.Or(a.item.NextAt.Compare(b.item.NextAt), cmp.Compare(a.seq, b.seq))
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	var out []flows.InboxItem
	for _, it := range due {
		it.item.Attempts++
		it.item.NextAt = now.Add(lease)
		out = append(out, cloneItem(it.item))
	}
	return out, ctx.Err()
}

// TakeInboxKeys implements flows.Inbox.
func (s *Store) TakeInboxKeys(ctx context.Context, now time.Time, lease time.Duration, keys ...string) ([]flows.InboxItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.InboxItem
	for _, k := range keys {
		it, ok := s.fx.inbox[k]
		if !ok || !it.finishedAt.IsZero() || it.item.NextAt.After(now) {
			continue
		}
		it.item.Attempts++
		it.item.NextAt = now.Add(lease)
		out = append(out, cloneItem(it.item))
	}
	return out, ctx.Err()
}

// FinishInbox implements flows.Inbox.
func (s *Store) FinishInbox(ctx context.Context, key string, at time.Time, answers ...flows.Delivery) ([]flows.Delivery, error) {
	if at.IsZero() {
		return nil, errors.New("flowstest: finish inbox item: no finish time")
	}
	for _, d := range answers {
		if d.Conversation == "" {
			return nil, errors.New("flowstest: finish inbox item: a delivery needs a conversation")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.fx.inbox[key]
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)
	}
	if !it.finishedAt.IsZero() {
		return nil, ctx.Err()
	}
	it.finishedAt, it.item.Payload = at, nil
	return s.enqueueLocked(answers), ctx.Err()
}

// DropInbox implements flows.Inbox.
func (s *Store) DropInbox(ctx context.Context, key string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("flowstest: drop inbox item: no finish time")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.fx.inbox[key]
	switch {
	case !ok:
		return false, flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)
	case !it.finishedAt.IsZero() || it.redelivered:
		return false, ctx.Err()
	}
	it.finishedAt, it.item.Payload, it.dropped = at, nil, true
	return true, ctx.Err()
}

// RetryInbox implements flows.Inbox.
func (s *Store) RetryInbox(ctx context.Context, key string, next time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.fx.inbox[key]
	switch {
	case !ok:
		return flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)
	case !it.finishedAt.IsZero():
		return flows.Errorf(flows.ECONFLICT, "inbox item %s is finished", key)
	}
	it.item.NextAt = next
	return ctx.Err()
}

// ExtendInbox implements flows.Inbox.
func (s *Store) ExtendInbox(ctx context.Context, until time.Time, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if it, ok := s.fx.inbox[k]; ok && it.finishedAt.IsZero() && until.After(it.item.NextAt) {
			it.item.NextAt = until
		}
	}
	return ctx.Err()
}

// PurgeInbox implements flows.Inbox.
func (s *Store) PurgeInbox(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, it := range s.fx.inbox {
		if !it.finishedAt.IsZero() && !it.finishedAt.After(t) {
			delete(s.fx.inbox, k)
			n++
		}
	}
	return n, ctx.Err()
}

// InboxDepth implements flows.Inbox.
func (s *Store) InboxDepth(ctx context.Context) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, oldest := 0, time.Time{}
	for _, it := range s.fx.inbox {
		if !it.finishedAt.IsZero() {
			continue
		}
		if n++; n == 1 || it.item.ReceivedAt.Before(oldest) {
			oldest = it.item.ReceivedAt
		}
	}
	return n, oldest, ctx.Err()
}

// Enqueue implements flows.Outbox, with the bbolt store's refusal of a
// cursor that does not move forward.
func (s *Store) Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error) {
	for _, d := range ds {
		if d.Conversation == "" {
			return nil, errors.New("flowstest: enqueue: a delivery needs a conversation")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cursor != 0 && cursor <= s.fx.cursor {
		return nil, flows.Errorf(flows.ECONFLICT, "the outbox cursor is at %d already, not before %d", s.fx.cursor, cursor)
	}
	out := s.enqueueLocked(ds)
	if cursor != 0 {
		s.fx.cursor = cursor
	}
	return out, ctx.Err()
}

// enqueueLocked adds deliveries (or coalesces them into waiting ones) and
// returns them as stored. Called with mu held.
func (s *Store) enqueueLocked(ds []flows.Delivery) []flows.Delivery {
	if s.fx.outbox == nil {
		s.fx.outbox = map[uint64]*flows.Delivery{}
	}
	var out []flows.Delivery
	for _, d := range ds {
		if w := s.coalescing(d); w != nil {
			w.EventSeq, w.Payload, w.What = d.EventSeq, slices.Clone(d.Payload), d.What
			out = append(out, cloneDelivery(*w))
			continue
		}
		s.fx.lastID++
		d = cloneDelivery(d)
		d.ID = s.fx.lastID
		s.fx.outbox[d.ID] = &d
		out = append(out, cloneDelivery(d))
	}
	return out
}

// coalescing returns the waiting delivery d updates in place, if any.
func (s *Store) coalescing(d flows.Delivery) *flows.Delivery {
	if d.Coalesce == "" {
		return nil
	}
	for _, w := range s.fx.outbox {
		if w.Conversation == d.Conversation && w.Coalesce == d.Coalesce {
			return w
		}
	}
	return nil
}

// Cursor implements flows.Outbox.
func (s *Store) Cursor(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fx.cursor, ctx.Err()
}

// Pending implements flows.Outbox.
func (s *Store) Pending(ctx context.Context, limit int) ([]flows.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.fx.outbox))
	var convs []string
	byConv := map[string][]flows.Delivery{}
	for _, id := range ids {
		d := s.fx.outbox[id]
		if _, ok := byConv[d.Conversation]; !ok {
			convs = append(convs, d.Conversation)
		}
		byConv[d.Conversation] = append(byConv[d.Conversation], cloneDelivery(*d))
	}
	var out []flows.Delivery
	for _, c := range convs {
		out = append(out, byConv[c]...)
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, ctx.Err()
}

// Waiting implements flows.Outbox.
func (s *Store) Waiting(ctx context.Context, id uint64) (flows.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.fx.outbox[id]
	if !ok {
		return flows.Delivery{}, flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
	}
	return cloneDelivery(*d), ctx.Err()
}

// ManyWaiting returns those of ids still waiting (bot.ManyWaiting).
func (s *Store) ManyWaiting(ctx context.Context, ids []uint64) ([]flows.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.Delivery
	for _, id := range ids {
		if d, ok := s.fx.outbox[id]; ok {
			out = append(out, cloneDelivery(*d))
		}
	}
	return out, ctx.Err()
}

// Held implements flows.Outbox.
func (s *Store) Held(ctx context.Context, holder string, limit int) ([]flows.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.Delivery
	for _, d := range s.fx.outbox {
		if holder != "" && d.Holder == holder {
			out = append(out, cloneDelivery(*d))
		}
	}
	slices.SortFunc(out, func(a, b flows.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), max(limit, 0))], ctx.Err()
}

// Delivered implements flows.Outbox.
func (s *Store) Delivered(ctx context.Context, id uint64, ref *flows.MessageRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.fx.outbox[id]
	if !ok {
		return flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
	}
	delete(s.fx.outbox, id)
	delete(s.fx.marks, id)
	if ref != nil && d.RequestID != "" {
		s.refs[d.RequestID] = append(s.refs[d.RequestID], *ref)
	}
	return ctx.Err()
}

// Postpone implements flows.Outbox.
func (s *Store) Postpone(ctx context.Context, id uint64, notBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.fx.outbox[id]
	if !ok {
		return flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
	}
	d.Attempts++
	d.NotBefore = notBefore
	return ctx.Err()
}

// Sending implements flows.Outbox.
func (s *Store) Sending(ctx context.Context, id uint64, mark flows.SendMark) (*flows.SendMark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.fx.outbox[id]; !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
	}
	if s.fx.marks == nil {
		s.fx.marks = map[uint64]flows.SendMark{}
	}
	prev, had := s.fx.marks[id]
	s.fx.marks[id] = mark
	if !had {
		return nil, ctx.Err()
	}
	return &prev, ctx.Err()
}

// Drop implements flows.Outbox.
func (s *Store) Drop(ctx context.Context, id uint64, evs ...flows.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.fx.outbox[id]; !ok {
		return flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)
	}
	delete(s.fx.outbox, id)
	delete(s.fx.marks, id)
	s.appendAudit(evs...)
	return ctx.Err()
}

// OutboxDepth implements flows.Outbox.
func (s *Store) OutboxDepth(ctx context.Context) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := time.Time{}
	for _, d := range s.fx.outbox {
		if oldest.IsZero() || d.CreatedAt.Before(oldest) {
			oldest = d.CreatedAt
		}
	}
	return len(s.fx.outbox), oldest, ctx.Err()
}

// AuditAfter implements flows.AuditReader.
func (s *Store) AuditAfter(ctx context.Context, seq uint64, limit int) ([]flows.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq >= uint64(len(s.audit)) {
		return nil, ctx.Err()
	}
	out := slices.Clone(s.audit[seq:])
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, ctx.Err()
}

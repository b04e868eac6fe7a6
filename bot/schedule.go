package bot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// The schedule is the dispatcher's memory of the waiting outbox, so that
// sending a delivery costs that delivery and not a read of everything
// waiting: it is loaded from Outbox.Pending once (and again after a store
// error left it unsure), then kept up to date with what Expand enqueues and
// what each send records. It is an optimisation only: the store stays the
// truth, and a restart rebuilds it.

// convQueue is one conversation's waiting deliveries.
type convQueue struct {
	// dls are the waiting deliveries in ID order: dls[0] is the head, the
	// only one that may be sent. Only the head is held whole (full); the
	// others keep what ordering and urgency need, and are read from the
	// store when their turn comes, so that a backlog of tens of thousands
	// costs tens of bytes each, not its payloads.
	dls []queued
	// count is how many wait at each priority (a priority out of range
	// counts as the nearest one), so that the conversation's urgency costs
	// no walk through its deliveries.
	count [flows.PriorityRefresh + 1]int
	// refreshes are the CreatedAt of the waiting refreshes, oldest first:
	// the oldest decides when the conversation turns urgent.
	refreshes []time.Time
	// ver is the conversation's latest placement (ready.go), placed the
	// urgency it was placed at.
	ver    uint64
	placed flows.Priority
}

// queued is a waiting delivery in the schedule: full for a head (read
// from the store when it became one, if it was not already), nil for the
// others.
type queued struct {
	id       uint64
	priority flows.Priority
	created  time.Time
	full     *flows.Delivery
}

func queuedOf(dl flows.Delivery, whole bool) queued {
	q := queued{id: dl.ID, priority: dl.Priority, created: dl.CreatedAt}
	if whole {
		q.full = &dl
	}
	return q
}

func prioIndex(p flows.Priority) int {
	return int(min(max(p, flows.PriorityActor), flows.PriorityRefresh))
}

func (q *convQueue) add(dl flows.Delivery) {
	q.dls = append(q.dls, queuedOf(dl, len(q.dls) == 0))
	q.count[prioIndex(dl.Priority)]++
	if dl.Priority == flows.PriorityRefresh {
		q.refreshes = append(q.refreshes, dl.CreatedAt)
	}
}

// find returns the index of the delivery id, or -1.
func (q *convQueue) find(id uint64) int {
	i, ok := slices.BinarySearchFunc(q.dls, id, func(e queued, id uint64) int { return cmp.Compare(e.id, id) })
	if !ok {
		return -1
	}
	return i
}

func (q *convQueue) remove(i int) {
	e := q.dls[i]
	if i == 0 {
		// The head, nearly always: sliced off, not shifted, so that a long
		// queue costs nothing per send (append reallocates in time).
		q.dls[0] = queued{}
		q.dls = q.dls[1:]
	} else {
		q.dls = slices.Delete(q.dls, i, i+1)
	}
	q.count[prioIndex(e.priority)]--
	if e.priority == flows.PriorityRefresh {
		switch j := slices.IndexFunc(q.refreshes, e.created.Equal); {
		case j == 0:
			q.refreshes = q.refreshes[1:]
		case j > 0:
			q.refreshes = slices.Delete(q.refreshes, j, j+1)
		}
	}
}

// loadLocked (re)builds the schedule, and the unsent cards, from the
// store. Called with mu held. The conversations in flight stay so: their
// sends record themselves against whatever the store then holds.
func (d *Dispatcher) loadLocked(ctx context.Context) error {
	if d.loaded {
		return nil
	}
	pending, err := d.deps.Store.Pending(ctx, 0)
	if err != nil {
		return fmt.Errorf("outbox: read the waiting deliveries: %w", err)
	}
	d.convs = map[string]*convQueue{}
	d.unsent = map[flows.RequestID][]unsentCard{}
	for _, dl := range pending {
		d.scheduleLocked(dl)
		d.noteUnsent(dl)
	}
	d.resetQueuesLocked()
	d.loaded = true
	d.wakeLocked()
	return nil
}

// scheduleLocked adds a stored delivery to its conversation, or updates it
// in place when Enqueue coalesced it into one already waiting. Called with
// mu held.
func (d *Dispatcher) scheduleLocked(dl flows.Delivery) {
	q := d.convs[dl.Conversation]
	if q == nil {
		q = &convQueue{}
		d.convs[dl.Conversation] = q
	}
	if n := len(q.dls); n == 0 || q.dls[n-1].id < dl.ID {
		q.add(dl)
		if n == 0 || dl.Priority < q.placed {
			d.markLocked(dl.Conversation) // a new head, or a more urgent conversation
		}
		return
	}
	if i := q.find(dl.ID); i >= 0 {
		// Coalesced: the store updated what it says, not its place. Only a
		// head held whole needs the update; the others are read when due.
		d.coalesced++
		if f := q.dls[i].full; f != nil {
			f.EventSeq, f.Payload, f.What = dl.EventSeq, dl.Payload, dl.What
			d.markLocked(dl.Conversation) // What decides its pacing
		}
		return
	}
	// Out of order (not from this dispatcher's Enqueue): keep ID order.
	i, _ := slices.BinarySearchFunc(q.dls, dl.ID, func(x queued, id uint64) int { return cmp.Compare(x.id, id) })
	q.dls = slices.Insert(q.dls, i, queuedOf(dl, i == 0))
	if i == 0 {
		q.dls[1].full = nil // no longer the head
	}
	q.count[prioIndex(dl.Priority)]++
	if dl.Priority == flows.PriorityRefresh {
		q.refreshes = append(q.refreshes, dl.CreatedAt)
		slices.SortFunc(q.refreshes, time.Time.Compare)
	}
	d.markLocked(dl.Conversation)
}

// unscheduleLocked forgets a delivery gone from the outbox. Called with mu
// held.
func (d *Dispatcher) unscheduleLocked(dl flows.Delivery) {
	q := d.convs[dl.Conversation]
	if q == nil {
		return
	}
	if i := q.find(dl.ID); i >= 0 {
		q.remove(i)
		d.markLocked(dl.Conversation)
	}
	if len(q.dls) == 0 {
		delete(d.convs, dl.Conversation)
	}
}

// postponedLocked records a failed attempt in memory as Postpone did in
// the store. Called with mu held.
func (d *Dispatcher) postponedLocked(dl flows.Delivery, until time.Time) {
	if q := d.convs[dl.Conversation]; q != nil {
		if i := q.find(dl.ID); i >= 0 {
			// Absolute, not incremented: a reload may have read it already.
			if f := q.dls[i].full; f != nil {
				f.NotBefore = until
				f.Attempts = dl.Attempts + 1
			}
			d.markLocked(dl.Conversation)
		}
	}
}

// wakeLocked tells the idle workers that the schedule changed. Called with
// mu held.
func (d *Dispatcher) wakeLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// headLocked returns the conversation's head whole, reading it from the
// store if it only just became the head; ok is false when nothing of the
// conversation waits any more. A delivery gone from the store (sent or
// dropped by an earlier owner of the outbox) is forgotten. Called with mu
// held.
func (d *Dispatcher) headLocked(ctx context.Context, conv string, q *convQueue) (flows.Delivery, bool, error) {
	for len(q.dls) > 0 {
		if f := q.dls[0].full; f != nil {
			return *f, true, nil
		}
		dl, err := d.deps.Store.Waiting(ctx, q.dls[0].id)
		switch {
		case flows.ErrorCode(err) == flows.ENOTFOUND:
			q.remove(0)
			continue
		case err != nil:
			d.loaded = false
			return flows.Delivery{}, false, fmt.Errorf("outbox: read delivery %d: %w", q.dls[0].id, err)
		}
		q.dls[0].full = &dl
		return dl, true, nil
	}
	delete(d.convs, conv)
	return flows.Delivery{}, false, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// take marks up to n of the most urgent ready conversations in flight and
// returns their heads; when none is ready, it also returns when one will
// be (zero: not before something changes) and the channel that says
// something changed.
func (d *Dispatcher) take(ctx context.Context, n int) ([]flows.Delivery, time.Time, <-chan struct{}, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := d.changed
	if !d.loaded && d.enqueuing {
		return nil, time.Time{}, changed, nil // read once the enqueue is over (it wakes the workers)
	}
	if err := d.loadLocked(ctx); err != nil {
		return nil, time.Time{}, changed, err
	}
	if d.workers()-len(d.inflight) <= 0 {
		return nil, time.Time{}, changed, nil
	}
	d.readHeadsLocked(ctx) // lets go of the lock while it reads
	n = min(n, d.workers()-len(d.inflight))
	if n <= 0 || !d.loaded {
		return nil, time.Time{}, changed, nil
	}
	now, wall := d.deps.Clock.Now(), d.deps.Wall.Now()
	if err := d.dueLocked(ctx, now, wall); err != nil {
		return nil, time.Time{}, changed, err
	}
	var picks []flows.Delivery
	for len(picks) < n {
		p, ok := d.pickLocked(now)
		if !ok {
			break
		}
		q := d.convs[p.conv]
		head := *q.dls[0].full // placed ready: the head is held whole
		d.queues.seq++
		q.ver = d.queues.seq // in flight: out of every heap
		d.inflight[p.conv] = head
		picks = append(picks, head)
	}
	if len(picks) == 0 {
		return nil, d.nextDueLocked(now, wall), changed, nil
	}
	return picks, time.Time{}, changed, nil
}

// workers is how many messages may be in flight now: Workers, or
// YieldWorkers while the inbox lags. The workers beyond those wait for a
// change or Idle, and look again.
func (d *Dispatcher) workers() int {
	yield := d.deps.InboxLag != nil && d.deps.InboxLag() > d.cfg.YieldAfter
	d.yielding.Store(yield)
	if yield {
		return d.cfg.YieldWorkers
	}
	return d.cfg.Workers
}

// Yielding says whether the dispatcher sends less for now, the inbox
// lagging (DispatcherDeps.InboxLag), as of its last pick.
func (d *Dispatcher) Yielding() bool { return d.yielding.Load() }

// release ends a conversation's send: it may be picked again at once.
func (d *Dispatcher) release(conv string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, conv)
	d.markLocked(conv)
	d.wakeLocked()
}

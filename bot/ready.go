package bot

import (
	"cmp"
	"context"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Picking the next conversation costs a few heap operations, not a walk
// through every conversation: with thousands of requesters waiting for
// their answers, a walk per send took more CPU than everything else the
// burst did (44% of a profile at 800 commands/s).
//
// A conversation is placed when it may have changed (a delivery added or
// gone, a send ended, a failed attempt, a timer due): in the ready heap of
// its urgency when its head may go now, else in a timer heap until it may
// (NotBefore and holds on the domain's clock; pacing on the Wall clock).
// Every placement gets a new version; entries of older versions are
// skipped when they come up.

// placement is a conversation in one of the heaps.
type placement struct {
	conv    string
	ver     uint64
	at      time.Time // the timers: when it may go
	created time.Time // the ready heaps: its head's CreatedAt, then ID
	id      uint64
}

func readyBefore(a, b placement) bool {
	return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) < 0
}

func dueBefore(a, b placement) bool { return a.at.Before(b.at) }

// placements is a binary heap ordered by less.
type placements struct {
	items []placement
	less  func(a, b placement) bool
}

func (h *placements) push(p placement) {
	h.items = append(h.items, p)
	i := len(h.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(h.items[i], h.items[parent]) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

func (h *placements) pop() placement {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items[last] = placement{}
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.items) && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if r < len(h.items) && h.less(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// readyQueues are the dispatcher's heaps.
type readyQueues struct {
	ready  [flows.PriorityRefresh + 1]placements // by urgency, oldest head first
	timers placements                            // held back on the domain's clock
	paced  placements                            // held back by pacing, on the Wall clock
	seq    uint64                                // the last version given
	dirty  map[string]struct{}                   // conversations to place again
}

func newReadyQueues() readyQueues {
	q := readyQueues{timers: placements{less: dueBefore}, paced: placements{less: dueBefore}, dirty: map[string]struct{}{}}
	for i := range q.ready {
		q.ready[i].less = readyBefore
	}
	return q
}

// markLocked has the conversation placed again before the next pick.
// Called with mu held.
func (d *Dispatcher) markLocked(conv string) { d.queues.dirty[conv] = struct{}{} }

// holdForEnqueueLocked keeps conv from being picked until the enqueue
// under way is over (Expand places it again then). Called with mu held.
func (d *Dispatcher) holdForEnqueueLocked(conv string) {
	d.expanding[conv] = true
	if q := d.convs[conv]; q != nil {
		d.queues.seq++
		q.ver = d.queues.seq // out of every heap
	}
}

// resetQueuesLocked empties the heaps and has every conversation placed
// again (after the schedule was read from the store). Called with mu held.
func (d *Dispatcher) resetQueuesLocked() {
	seq := d.queues.seq
	d.queues = newReadyQueues()
	d.queues.seq = seq
	for conv := range d.convs {
		d.markLocked(conv)
	}
}

// current reports whether p is the conversation's latest placement.
func (d *Dispatcher) current(p placement) (*convQueue, bool) {
	q := d.convs[p.conv]
	return q, q != nil && q.ver == p.ver
}

// placeLocked puts the conversation where it belongs now. Called with mu
// held.
func (d *Dispatcher) placeLocked(ctx context.Context, conv string, now, wall time.Time) error {
	q := d.convs[conv]
	if q == nil {
		return nil
	}
	d.queues.seq++
	q.ver = d.queues.seq
	if _, busy := d.inflight[conv]; busy || d.expanding[conv] {
		return nil // release, or the enqueue's end, places it again
	}
	head, ok, err := d.headLocked(ctx, conv, q)
	if err != nil || !ok {
		return err
	}
	at := head.NotBefore
	if h, ok := d.hold[conv]; ok {
		if h.After(now) {
			at = later(at, h)
		} else {
			delete(d.hold, conv)
		}
	}
	if at.After(now) {
		d.queues.timers.push(placement{conv: conv, ver: q.ver, at: at})
		return nil
	}
	if p, ok := d.paced[conv]; ok && head.What != whatRefresh {
		if p.After(wall) {
			d.queues.paced.push(placement{conv: conv, ver: q.ver, at: p})
			return nil
		}
		delete(d.paced, conv)
	}
	q.placed = q.level()
	d.queues.ready[q.placed].push(placement{conv: conv, ver: q.ver, created: head.CreatedAt, id: head.ID})
	return nil
}

// level is the urgency of a conversation's most urgent waiting delivery
// (what is ahead of it goes first, in order); a waiting refresh's age is
// judged when picking.
func (q *convQueue) level() flows.Priority {
	for p := flows.PriorityActor; p <= flows.PriorityApproval; p++ {
		if q.count[p] > 0 {
			return p
		}
	}
	return flows.PriorityRefresh
}

// dueLocked places again the conversations whose timers are due and those
// marked. Called with mu held.
func (d *Dispatcher) dueLocked(ctx context.Context, now, wall time.Time) error {
	for _, t := range []struct {
		h   *placements
		now time.Time
	}{{&d.queues.timers, now}, {&d.queues.paced, wall}} {
		for len(t.h.items) > 0 && !t.h.items[0].at.After(t.now) {
			if p := t.h.pop(); d.isCurrent(p) {
				d.markLocked(p.conv)
			}
		}
	}
	for conv := range d.queues.dirty {
		delete(d.queues.dirty, conv)
		if err := d.placeLocked(ctx, conv, now, wall); err != nil {
			d.markLocked(conv)
			return err
		}
	}
	return nil
}

func (d *Dispatcher) isCurrent(p placement) bool {
	_, ok := d.current(p)
	return ok
}

// topLocked drops stale entries from h and returns its first current one.
// Called with mu held.
func (d *Dispatcher) topLocked(h *placements) (placement, bool) {
	for len(h.items) > 0 {
		if d.isCurrent(h.items[0]) {
			return h.items[0], true
		}
		h.pop()
	}
	return placement{}, false
}

// pickLocked takes the most urgent ready conversation out of its heap:
// by urgency, then by its head's age. A conversation counts one level more
// urgent for each RefreshWait its head has waited (a refresh: its oldest
// refresh), so that more urgent messages, however many, hold the others
// back for a while but never for good: under load the answers to the
// people acting kept every credentials message waiting. Only each heap's
// top can win: within a level, the oldest head is the most promoted.
// Called with mu held.
func (d *Dispatcher) pickLocked(now time.Time) (placement, bool) {
	best, bestAt := flows.Priority(-1), flows.Priority(0)
	var bestTop placement
	for p := flows.PriorityActor; p <= flows.PriorityRefresh; p++ {
		top, ok := d.topLocked(&d.queues.ready[p])
		if !ok {
			continue
		}
		at := d.promoted(p, top, now)
		if best < 0 || at < bestAt || at == bestAt && readyBefore(top, bestTop) {
			best, bestAt, bestTop = p, at, top
		}
	}
	if best < 0 {
		return placement{}, false
	}
	return d.queues.ready[best].pop(), true
}

// promoted is the urgency a conversation placed at p competes at: p, one
// level more urgent for each RefreshWait it has waited.
func (d *Dispatcher) promoted(p flows.Priority, top placement, now time.Time) flows.Priority {
	waited := now.Sub(top.created)
	if p == flows.PriorityRefresh {
		// A refresh waits from its own first one: the head may be older.
		q := d.convs[top.conv]
		if len(q.refreshes) == 0 {
			return p
		}
		waited = now.Sub(q.refreshes[0])
	}
	if waited <= 0 {
		return p
	}
	return max(p-flows.Priority(waited/d.cfg.RefreshWait), flows.PriorityActor)
}

// nextDueLocked is the earliest time a held-back conversation may go, on
// the domain's clock (zero: none is held). Called with mu held.
func (d *Dispatcher) nextDueLocked(now, wall time.Time) time.Time {
	var next time.Time
	if t, ok := d.topLocked(&d.queues.timers); ok {
		next = t.at
	}
	if p, ok := d.topLocked(&d.queues.paced); ok {
		// Real time left, counted on the domain's clock from now.
		if at := now.Add(max(p.at.Sub(wall), 0)); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

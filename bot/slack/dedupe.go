package slack

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// dedupe remembers delivery keys (event ids, trigger ids, view ids) for a
// while, so a retried or replayed delivery is recognised. Signature checks
// do not stop replays and Slack retries events it thinks were lost, so every
// handler consults it before acting. It is bounded in time and in size: past
// the size, the oldest keys are forgotten first.
type dedupe struct {
	clock flows.Clock
	ttl   time.Duration
	max   int

	mu    sync.Mutex
	seen  map[string]time.Time // key -> first seen
	order []string             // keys in the order first seen (a FIFO)
	head  int                  // order[head:] are live candidates
}

func newDedupe(clock flows.Clock, ttl time.Duration, max int) *dedupe {
	return &dedupe{clock: clock, ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// first records key and reports whether this is the first time it was seen
// within the TTL. An empty key is never a duplicate.
func (d *dedupe) first(key string) bool {
	if key == "" {
		return true
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if at, ok := d.seen[key]; ok && now.Sub(at) < d.ttl {
		return false
	}
	d.seen[key] = now
	d.order = append(d.order, key)
	for len(d.seen) > d.max {
		d.drop()
	}
	return true
}

// expire forgets keys older than the TTL; the FIFO is in time order, so it
// stops at the first live key.
func (d *dedupe) expire(now time.Time) {
	for d.head < len(d.order) {
		k := d.order[d.head]
		if at, ok := d.seen[k]; ok && now.Sub(at) < d.ttl {
			break
		}
		d.drop()
	}
	// Reclaim the consumed prefix once it dominates the slice.
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append([]string(nil), d.order[d.head:]...)
		d.head = 0
	}
}

func (d *dedupe) drop() {
	k := d.order[d.head]
	d.order[d.head] = ""
	d.head++
	delete(d.seen, k)
}

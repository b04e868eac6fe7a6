package teams

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// ttlCache maps keys to values for a while. It is bounded in time and in size: past the size,
// the oldest entries go first. It backs the delivery dedupe and the directory of people.
type ttlCache[V any] struct {
	clock flows.Clock
	ttl   time.Duration
	max   int

	mu    sync.Mutex
	items map[string]ttlEntry[V]
	order []ttlKey // in insertion order; order[head:] are live candidates
	head  int
	seq   uint64
}

type ttlEntry[V any] struct {
	v   V
	at  time.Time
	seq uint64 // which insertion wrote it, so a stale order slot cannot evict a newer put
}

type ttlKey struct {
	key string
	seq uint64
}

func newTTLCache[V any](clock flows.Clock, ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{clock: clock, ttl: ttl, max: max, items: map[string]ttlEntry[V]{}}
}

func (c *ttlCache[V]) live(e ttlEntry[V], now time.Time) bool {
	age := now.Sub(e.at)
	// A clock set backwards (tests do) must not make entries immortal.
	return age < c.ttl && age > -c.ttl
}

// get returns the value stored under key, if it has not expired.
func (c *ttlCache[V]) get(key string) (V, bool) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok || !c.live(e, now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v under key, replacing what was there.
func (c *ttlCache[V]) put(key string, v V) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insert(key, v, now)
}

// add stores v under key unless a live value is there already, and reports whether it did:
// false means key was seen within the TTL.
func (c *ttlCache[V]) add(key string, v V) bool {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok && c.live(e, now) {
		return false
	}
	c.insert(key, v, now)
	return true
}

func (c *ttlCache[V]) insert(key string, v V, now time.Time) {
	c.expire(now)
	c.seq++
	c.items[key] = ttlEntry[V]{v: v, at: now, seq: c.seq}
	c.order = append(c.order, ttlKey{key: key, seq: c.seq})
	for len(c.items) > c.max && c.head < len(c.order) {
		c.drop()
	}
}

// expire forgets entries older than the TTL. The order is by insertion, so it stops at the
// first live entry.
func (c *ttlCache[V]) expire(now time.Time) {
	for c.head < len(c.order) {
		k := c.order[c.head]
		if e, ok := c.items[k.key]; ok && e.seq == k.seq && c.live(e, now) {
			break
		}
		c.drop()
	}
	// Reclaim the consumed prefix once it dominates the slice.
	if c.head > 1024 && c.head*2 > len(c.order) {
		c.order = append([]ttlKey(nil), c.order[c.head:]...)
		c.head = 0
	}
}

func (c *ttlCache[V]) drop() {
	k := c.order[c.head]
	c.order[c.head] = ttlKey{}
	c.head++
	if e, ok := c.items[k.key]; ok && e.seq == k.seq {
		delete(c.items, k.key)
	}
}

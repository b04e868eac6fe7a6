package bot

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Cache maps keys to values for a while: the adapters' delivery dedupe and
// what they learnt about people. It is bounded in time and in size: past
// the size, the oldest entries go first, so a flood of new keys costs
// memory proportional to the bound, never more. Create it with NewCache; it
// is safe for concurrent use.
type Cache[V any] struct {
	clock flows.Clock
	ttl   time.Duration
	max   int

	mu    sync.Mutex
	items map[string]cacheEntry[V]
	order []cacheKey // in insertion order; order[head:] are live candidates
	head  int
	seq   uint64
}

type cacheEntry[V any] struct {
	v   V
	at  time.Time
	seq uint64 // which insertion wrote it, so a stale order slot cannot evict a newer put
}

type cacheKey struct {
	key string
	seq uint64
}

// NewCache returns a cache whose entries live for ttl on clock, and that
// holds at most max of them.
func NewCache[V any](clock flows.Clock, ttl time.Duration, max int) *Cache[V] {
	return &Cache[V]{clock: clock, ttl: ttl, max: max, items: map[string]cacheEntry[V]{}}
}

func (c *Cache[V]) live(e cacheEntry[V], now time.Time) bool {
	age := now.Sub(e.at)
	// A clock set backwards (tests do) must not make entries immortal.
	return age < c.ttl && age > -c.ttl
}

// Get returns the value stored under key, if it has not expired.
func (c *Cache[V]) Get(key string) (V, bool) {
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

// Put stores v under key, replacing what was there.
func (c *Cache[V]) Put(key string, v V) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insert(key, v, now)
}

// Add stores v under key unless a live value is there already, and reports
// whether it did: false means key was seen within the TTL, a duplicate
// delivery. An empty key names no delivery: it is never a duplicate and
// never stored.
func (c *Cache[V]) Add(key string, v V) bool {
	if key == "" {
		return true
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok && c.live(e, now) {
		return false
	}
	c.insert(key, v, now)
	return true
}

// Delete forgets key. Its slot in the insertion order stays until it comes up for expiry,
// where it is recognised as stale, as after a Put that replaced it.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, key)
}

// DeleteFunc forgets every entry for which del returns true. It visits every entry under the
// cache's lock: for rare operations (an admin's), not for every request.
func (c *Cache[V]) DeleteFunc(del func(key string, v V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.items {
		if del(k, e.v) {
			delete(c.items, k)
		}
	}
}

func (c *Cache[V]) insert(key string, v V, now time.Time) {
	c.expire(now)
	c.seq++
	c.items[key] = cacheEntry[V]{v: v, at: now, seq: c.seq}
	c.order = append(c.order, cacheKey{key: key, seq: c.seq})
	for len(c.items) > c.max && c.head < len(c.order) {
		c.drop()
	}
}

// expire forgets entries older than the TTL. The order is by insertion, so
// it stops at the first live entry.
func (c *Cache[V]) expire(now time.Time) {
	for c.head < len(c.order) {
		k := c.order[c.head]
		if e, ok := c.items[k.key]; ok && e.seq == k.seq && c.live(e, now) {
			break
		}
		c.drop()
	}
	// Reclaim the consumed prefix once it dominates the slice.
	if c.head > 1024 && c.head*2 > len(c.order) {
		c.order = append([]cacheKey(nil), c.order[c.head:]...)
		c.head = 0
	}
}

func (c *Cache[V]) drop() {
	k := c.order[c.head]
	c.order[c.head] = cacheKey{}
	c.head++
	if e, ok := c.items[k.key]; ok && e.seq == k.seq {
		delete(c.items, k.key)
	}
}

package etcdstore

import (
	"sync"

	"github.com/jitbot/jitbot/store/internal/record"
)

// leasedItems remembers the inbox items this process leased, each as the
// lease committed it and at which revision, until it finishes or retries
// the item: a finish then needs no read before its transaction (a
// linearizable read is a round of the cluster's too), only the compare
// that the item is still at that revision. A compare that fails (another
// replica took the item after the lease ran out) reads it, as before.
type leasedItems struct {
	mu sync.Mutex
	m  map[string]leasedItem
}

type leasedItem struct {
	rec record.Inbox
	rev int64
}

// maxLeasedItems bounds what is remembered: items a worker never finishes
// (its process is being stopped) are forgotten with the rest when it is
// reached, and are then read.
const maxLeasedItems = 4096

func (l *leasedItems) add(rec record.Inbox, rev int64) {
	if rev == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLeasedItems {
		l.m = map[string]leasedItem{}
	}
	l.m[rec.Key] = leasedItem{rec, rev}
}

// take returns and forgets what is remembered of key.
func (l *leasedItems) take(key string) (leasedItem, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it, ok := l.m[key]
	delete(l.m, key)
	return it, ok
}

// peek returns what is remembered of key, and keeps it.
func (l *leasedItems) peek(key string) (leasedItem, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it, ok := l.m[key]
	return it, ok
}

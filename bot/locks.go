package bot

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// RequestLocks serialises the notices of one request, so that an adapter
// updates its cards in the order the notices come, and recognises a notice
// older than one already shown: two flows workers may announce out of
// order, and a stale card must not overwrite a newer one. The zero value is
// ready to use.
type RequestLocks struct {
	mu    sync.Mutex
	locks map[flows.RequestID]*requestLock
	shown map[flows.RequestID]time.Time // request id -> UpdatedAt of the last state shown
}

type requestLock struct {
	mu    sync.Mutex
	users int
}

// maxShown bounds the memory of shown states; forgetting only risks showing
// a stale notice, which the next one corrects.
const maxShown = 100000

// Lock waits for the request's lock; unlock releases it. A lock nobody
// holds or waits for is forgotten.
func (l *RequestLocks) Lock(id flows.RequestID) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[flows.RequestID]*requestLock{}
	}
	rl := l.locks[id]
	if rl == nil {
		rl = &requestLock{}
		l.locks[id] = rl
	}
	rl.users++
	l.mu.Unlock()
	rl.mu.Lock()
	return func() {
		rl.mu.Unlock()
		l.mu.Lock()
		if rl.users--; rl.users == 0 {
			delete(l.locks, id)
		}
		l.mu.Unlock()
	}
}

// Current reports whether r is at least as recent as the last state shown
// for it, and records it. Call it holding the request's lock.
func (l *RequestLocks) Current(r *flows.Request) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.shown[r.ID]; ok && r.UpdatedAt.Before(last) {
		return false
	}
	if l.shown == nil || len(l.shown) > maxShown {
		l.shown = map[flows.RequestID]time.Time{}
	}
	l.shown[r.ID] = r.UpdatedAt
	return true
}

package bot

import (
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// RequestLocks serialises work on one key at a time (a Teams email's
// binding, say) while other keys go on. The zero value is ready to use.
type RequestLocks struct {
	mu    sync.Mutex
	locks map[flows.RequestID]*requestLock
}

type requestLock struct {
	mu    sync.Mutex
	users int
}

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

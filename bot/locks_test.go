package bot

import (
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestRequestLocks(t *testing.T) {
	var l RequestLocks
	older := &flows.Request{ID: "r1", UpdatedAt: t0}
	newer := &flows.Request{ID: "r1", UpdatedAt: t0.Add(time.Second)}
	if !l.Current(newer) || l.Current(older) || !l.Current(newer) {
		t.Error("a notice older than the one shown was taken as current, or a repeat was not")
	}

	// One request's notices run one at a time; the lock is forgotten after.
	var wg sync.WaitGroup
	inside, most := 0, 0
	for range 50 {
		wg.Go(func() {
			unlock := l.Lock("r1")
			defer unlock()
			inside++
			most = max(most, inside)
			time.Sleep(time.Microsecond)
			inside--
		})
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d notices of one request at once", most)
	}
	if len(l.locks) != 0 {
		t.Errorf("%d locks kept", len(l.locks))
	}
}

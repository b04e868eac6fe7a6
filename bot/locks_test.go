package bot

import (
	"sync"
	"testing"
	"time"
)

func TestRequestLocks(t *testing.T) {
	var l RequestLocks
	// One key's holders run one at a time; the lock is forgotten after.
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
		t.Errorf("%d holders of one key at once", most)
	}
	if len(l.locks) != 0 {
		t.Errorf("%d locks kept", len(l.locks))
	}
}

package etcdstore

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// waitingDeliveries remembers, for each delivery this process read or
// wrote, what removing it takes (its index entries) and the revision it
// was at, until it is delivered, postponed or dropped: Delivered then
// needs no read before its transaction (on etcd a read is a round of the
// cluster too, and the dispatcher's senders removed each message with a
// read and a write), only the compare that the delivery is still at that
// revision. A compare that fails (an enqueue coalesced into it since, or
// its coalesce index names another) reads it, as before.
type waitingDeliveries struct {
	mu sync.Mutex
	m  map[uint64]waitingDelivery
}

type waitingDelivery struct {
	conversation, coalesce string
	holder                 string
	requestID              flows.RequestID
	createdAt              time.Time
	rev                    int64
}

// maxWaitingDeliveries bounds what is remembered: past it everything is
// forgotten, and those deliveries are read when they go.
const maxWaitingDeliveries = 16384

func (w *waitingDeliveries) add(rev int64, ds ...flows.Delivery) {
	if rev == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range ds {
		if d.ID == 0 {
			continue
		}
		if w.m == nil || len(w.m) >= maxWaitingDeliveries {
			w.m = map[uint64]waitingDelivery{}
		}
		w.m[d.ID] = waitingDelivery{conversation: d.Conversation, coalesce: d.Coalesce, holder: d.Holder, requestID: d.RequestID, createdAt: d.CreatedAt, rev: rev}
	}
}

// take returns and forgets what is remembered of id.
func (w *waitingDeliveries) take(id uint64) (waitingDelivery, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.m[id]
	delete(w.m, id)
	return d, ok
}

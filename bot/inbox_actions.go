package bot

import (
	"context"
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// actionQueue holds the keys of the actions this replica received, in
// order, until its dispatch takes them ahead of the inbox's order
// (Inbox.ReceiveAction). Bounded: past actionQueueMax, an action waits in
// the inbox's order like anything else.
type actionQueue struct {
	mu   sync.Mutex
	keys []string
}

const actionQueueMax = 4096

func (q *actionQueue) push(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.keys) < actionQueueMax {
		q.keys = append(q.keys, key)
	}
}

// pop removes and returns up to n keys, the oldest first.
func (q *actionQueue) pop(n int) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.keys))
	out := q.keys[:n:n]
	q.keys = q.keys[n:]
	if len(q.keys) == 0 {
		q.keys = nil // let the backing array go
	}
	return out
}

// takeActions leases up to n of the actions this replica received, ahead
// of the inbox's order. An action the store does not hand over (another
// replica took it, or it is not due: a retry's backoff) is left to that
// order, as is every one when the store fails.
func (in *Inbox) takeActions(ctx context.Context, n int) []flows.InboxItem {
	var out []flows.InboxItem
	for len(out) < n {
		keys := in.actions.pop(n - len(out))
		if len(keys) == 0 {
			break
		}
		items, err := in.store.TakeInboxKeys(ctx, in.clock.Now(), in.lease, keys...)
		out = append(out, items...)
		if err != nil {
			if ctx.Err() == nil {
				in.log.WarnContext(ctx, "could not take the actions received; they are taken in the inbox's order", "err", err)
			}
			break
		}
	}
	return out
}

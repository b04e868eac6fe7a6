package bot

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// ReceiveTimeout bounds the commit of a delivery to the inbox before it is
// acknowledged: within Slack's 3 s, so that a store that cannot commit is
// answered with NotTaken rather than with the platform's timeout.
const ReceiveTimeout = 2 * time.Second

// NotTaken answers a delivery the inbox could not record (Inbox.Receive
// failed with err): nothing was done, nothing was half-written, and the
// person should send it again. A store that cannot be reached (several
// replicas on a cluster without a quorum) is said as such: it may last
// minutes, and grants that are due are revoked meanwhile.
func NotTaken(err error) Card {
	if flows.IsStoreUnreachable(err) {
		return Card{Title: "jitbot cannot take requests right now",
			Text: "Its store cannot be reached, so nothing was recorded and nothing was done. Send it again in a few minutes. " +
				"Access that is due to end still ends on time meanwhile.",
			Tone: ToneWarning}
	}
	return Card{Title: "jitbot could not take that", Text: "Nothing was done. Try again in a minute.", Tone: ToneWarning}
}

// refusals are the keys of deliveries Receive refused because the store
// could not be reached. etcd may have taken such a write without
// committing it (its leader lost its quorum with the write in its log),
// and commit it when the quorum is back: the item then appears, although
// its sender was told nothing was recorded. The inbox drops such an item
// (flows.Inbox.DropInbox) without acting on it: the item whose receipt
// time is the refused write's. Kept in this replica's memory, for
// refusalMemory: another replica that takes the item first acts on it
// (the sender then hears back after all), and so does this one when the
// item is another replica's write (the delivery sent again there and
// taken as new). A delivery sent again and acknowledged as received
// before, by any replica, is marked in the store, which then keeps the
// item from being dropped; one sent again after the drop is taken as new.
type refusals struct {
	mu   sync.Mutex
	keys map[string]time.Time // the receipt time of the write refused
}

// refusalMemory is how long a refusal is remembered: a write left in
// etcd's log commits when the quorum is back, which the inbox then sees at
// once; an outage longer than this is answered by the sender's next try.
const refusalMemory = time.Hour

// refusalMax bounds the refusals remembered.
const refusalMax = 10000

func (r *refusals) add(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]time.Time{}
	}
	for k, at := range r.keys {
		if now.Sub(at) > refusalMemory {
			delete(r.keys, k)
		}
	}
	if len(r.keys) < refusalMax {
		r.keys[key] = now
	}
}

// take reports whether key was refused, with the receipt time of the
// write refused, and forgets it.
func (r *refusals) take(key string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.keys[key]
	delete(r.keys, key)
	return at, ok
}

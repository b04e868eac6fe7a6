package bot

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// How far behind the inbox is. The outbox's dispatcher shares the store
// with the inbox (on etcd, every replica's inbox with the leader's
// dispatcher): while people wait for what they sent to be acted on, it
// sends less (DispatcherDeps.InboxLag). The HA bench found that what the
// outbox gained in speed on a busy etcd the inbox lost: clicks were acted
// on after their requests had timed out.

// inboxLag is the latest receipt-to-finish time of an item finished at its
// first attempt (a retry's time is mostly its backoff), and when it was
// seen.
type inboxLag struct {
	mu  sync.Mutex
	lag time.Duration
	at  time.Time
}

// lagFresh is how long a lag seen stays true: an inbox that finished
// nothing since is idle (or stalled, and then sending less does not help
// it).
const lagFresh = 2 * time.Second

func (in *Inbox) noteFinished(it flows.InboxItem, now time.Time) {
	if it.Attempts != 1 {
		return
	}
	in.lag.mu.Lock()
	defer in.lag.mu.Unlock()
	in.lag.lag, in.lag.at = now.Sub(it.ReceivedAt), now
}

// noteNothingDue: a take found no item due, so none waits for a worker.
func (in *Inbox) noteNothingDue() {
	in.lag.mu.Lock()
	defer in.lag.mu.Unlock()
	in.lag.lag = 0
}

// Lag is how long the last item this replica finished took from its
// receipt (the store's inbox is shared: its workers take the oldest items
// of every replica); 0 once nothing is due, or when nothing finished in
// the last two seconds.
func (in *Inbox) Lag() time.Duration {
	in.lag.mu.Lock()
	defer in.lag.mu.Unlock()
	if in.clock.Now().Sub(in.lag.at) > lagFresh {
		return 0
	}
	return in.lag.lag
}

package bot

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Reissues of lost secrets run beside the senders, not on one. A reissue
// sets a new secret in Atlas and waits for Atlas to apply it: seconds, more
// on a busy cluster. Run on the sender that found the secret missing, a few
// of them held the outbox's few senders (8), and with replicas two secrets
// in three are made where the dispatcher does not run: hundreds of
// reissues in the HA bench. Now the
// delivery that found its secret missing starts the reissue and waits; a
// later attempt finds the outcome: reissued (the request names new
// credentials, whose own delivery carries them), nothing to reissue (sent
// without the details), or an error (tried again).

// reissueWait is how long a credentials delivery waits for a reissue under
// way before it looks again; maxReissues bounds the reissues under way.
const (
	reissueWait = 5 * time.Second
	maxReissues = 8
)

type reissues struct {
	mu    sync.Mutex
	done  map[string]error // finished, not yet seen by their delivery
	under map[string]bool  // under way
	wg    sync.WaitGroup
}

func reissueKey(id flows.RequestID, issued time.Time) string {
	return string(id) + "@" + strconv.FormatInt(issued.UnixNano(), 10)
}

// reissue reports whether the reissue of the secret of id issued at issued
// is done, and how it went; the first call starts it in the background
// (when fewer than maxReissues are under way; else a later one does).
func (d *Dispatcher) reissue(ctx context.Context, id flows.RequestID, issued time.Time) (done bool, err error) {
	k := reissueKey(id, issued)
	rs := &d.reissues
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err, ok := rs.done[k]; ok {
		delete(rs.done, k)
		return true, err
	}
	if rs.under[k] || len(rs.under) >= maxReissues {
		return false, nil
	}
	if rs.under == nil {
		rs.under, rs.done = map[string]bool{}, map[string]error{}
	}
	rs.under[k] = true
	rs.wg.Go(func() {
		err := d.deps.Reissue(ctx, id, issued)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		delete(rs.under, k)
		if len(rs.done) >= 4096 { // outcomes nobody came back for (the request ended)
			clear(rs.done)
		}
		rs.done[k] = err
	})
	return false, nil
}

// forgetReissue drops the outcome of a finished reissue its delivery no
// longer needs (the credentials were replaced, by that reissue most often).
func (d *Dispatcher) forgetReissue(id flows.RequestID, issued time.Time) {
	rs := &d.reissues
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.done, reissueKey(id, issued))
}

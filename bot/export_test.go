package bot

import (
	"context"
	"sync"
)

// WaitReissues waits for the reissues under way (tests drive the
// dispatcher round by round, without Run).
func (d *Dispatcher) WaitReissues() { d.reissues.wg.Wait() }

// SendHeld is one round of RunHeld: it sends what this replica holds and
// may go now, and waits for the sends.
func (d *Dispatcher) SendHeld(ctx context.Context) {
	var wg sync.WaitGroup
	d.sendHeld(ctx, &wg)
	wg.Wait()
}

// HoldLock holds the dispatcher's lock, as a long load would, until the
// returned function is called.
func (d *Dispatcher) HoldLock() (release func()) {
	d.mu.Lock()
	return d.mu.Unlock
}

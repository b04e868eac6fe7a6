package bot

// WaitReissues waits for the reissues under way (tests drive the
// dispatcher round by round, without Run).
func (d *Dispatcher) WaitReissues() { d.reissues.wg.Wait() }

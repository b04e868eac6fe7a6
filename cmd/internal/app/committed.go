package app

import (
	"context"

	"github.com/jitbot/jitbot/flows"
)

// committed is flows' Notifier in a running jitbot: told of every event
// once it is committed, it counts it and wakes the outbox's dispatcher,
// which reads the event from the audit log and says what must be said.
// Nothing here waits on chat.
type committed struct {
	metrics *metrics
	kick    func()
}

func (c committed) Notify(ctx context.Context, n flows.Notice) error {
	c.kick()
	return c.metrics.Notify(ctx, n)
}

package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// inboxCounters are the gauges of the inbox: how many deliveries were
// acknowledged and are not finished yet, and how long the oldest has
// waited. A depth that grows, or an oldest age past a minute, means the
// workers do not keep up (or cannot reach the store).
func inboxCounters(inbox flows.Inbox, clock flows.Clock, log *slog.Logger) []counter {
	read := func() (int, time.Time, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, oldest, err := inbox.InboxDepth(ctx)
		if err != nil {
			log.Warn("metrics: could not read the inbox depth", "err", err)
			return 0, time.Time{}, false
		}
		return n, oldest, true
	}
	return []counter{
		{name: "jitbot_inbox_depth", help: "Deliveries acknowledged to Slack or Teams and not finished yet.", gauge: true,
			read: func() map[string]float64 {
				n, _, ok := read()
				if !ok {
					return nil
				}
				return map[string]float64{"": float64(n)}
			}},
		{name: "jitbot_inbox_oldest_age_seconds", help: "How long the oldest unfinished delivery has waited (0 when none).", gauge: true,
			read: func() map[string]float64 {
				_, oldest, ok := read()
				if !ok {
					return nil
				}
				age := 0.0
				if !oldest.IsZero() {
					age = max(clock.Now().Sub(oldest).Seconds(), 0)
				}
				return map[string]float64{"": age}
			}},
	}
}

// outboxCounters are the gauges of the outbox: how many deliveries wait to
// be sent, and how long the oldest has waited. A depth that only grows, or
// an oldest age of many minutes, means the dispatcher cannot keep up with
// the platforms' pacing (or cannot reach them).
func outboxCounters(outbox flows.Outbox, clock flows.Clock, log *slog.Logger) []counter {
	read := func() (int, time.Time, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, oldest, err := outbox.OutboxDepth(ctx)
		if err != nil {
			log.Warn("metrics: could not read the outbox depth", "err", err)
			return 0, time.Time{}, false
		}
		return n, oldest, true
	}
	return []counter{
		{name: "jitbot_outbox_depth", help: "Messages waiting in the outbox to be sent.", gauge: true,
			read: func() map[string]float64 {
				n, _, ok := read()
				if !ok {
					return nil
				}
				return map[string]float64{"": float64(n)}
			}},
		{name: "jitbot_outbox_oldest_age_seconds", help: "How long the oldest waiting message has waited (0 when none).", gauge: true,
			read: func() map[string]float64 {
				_, oldest, ok := read()
				if !ok {
					return nil
				}
				age := 0.0
				if !oldest.IsZero() {
					age = max(clock.Now().Sub(oldest).Seconds(), 0)
				}
				return map[string]float64{"": age}
			}},
	}
}

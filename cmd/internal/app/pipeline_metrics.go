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

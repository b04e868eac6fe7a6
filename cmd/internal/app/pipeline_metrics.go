package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// inboxCounters are the gauges of the inbox: how many deliveries were
// acknowledged and are not finished yet, and how long the oldest has
// waited. A depth that grows, or an oldest age past a minute, means the
// workers do not keep up (or cannot reach the store).
func inboxCounters(inbox flows.Inbox, clock flows.Clock, log *slog.Logger) []counter {
	return queueCounters("inbox", "Deliveries acknowledged to Slack or Teams and not finished yet.",
		"How long the oldest unfinished delivery has waited (0 when none).", inbox.InboxDepth, clock, log)
}

// outboxCounters are the gauges of the outbox: the messages decided and not
// sent yet, and how long the oldest has waited. During a chat outage they
// grow and the oldest age follows the outage; afterwards both fall back.
func outboxCounters(outbox flows.Outbox, clock flows.Clock, log *slog.Logger) []counter {
	return queueCounters("outbox", "Messages decided and not sent yet (the outbox).",
		"How long the oldest unsent message has waited (0 when none).", outbox.OutboxDepth, clock, log)
}

// queueCounters are a durable queue's depth and oldest age, read from the
// store at each scrape: one read for both when their collections overlap
// (a scrape collects them at once), as a store counts the queue to read
// either.
func queueCounters(name, depthHelp, ageHelp string, depth func(context.Context) (int, time.Time, error), clock flows.Clock, log *slog.Logger) []counter {
	shared := &sharedRead{}
	read := func() (int, time.Time, bool) {
		return shared.do(func() (int, time.Time, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, oldest, err := depth(ctx)
			if err != nil {
				log.Warn("metrics: could not read a queue's depth", "queue", name, "err", err)
				return 0, time.Time{}, false
			}
			return n, oldest, true
		})
	}
	return []counter{
		{name: "jitbot_" + name + "_depth", help: depthHelp, gauge: true,
			read: func() map[string]float64 {
				n, _, ok := read()
				if !ok {
					return nil
				}
				return map[string]float64{"": float64(n)}
			}},
		{name: "jitbot_" + name + "_oldest_age_seconds", help: ageHelp, gauge: true,
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

// deliveryCounters count what became of the outbox's sends, by platform,
// kind of message (card, notice, credentials, refresh, reply) and outcome
// (bot.Outcome*): attempts are every outcome but skipped; repeats are
// "repeated"; permanent failures "permanent".
func deliveryCounters(stats func() []bot.DeliveryCount) []counter {
	return []counter{{name: "jitbot_outbox_sends_total", help: "Outbox sends by platform, kind of message and outcome.",
		labels: []string{"platform", "what", "outcome"},
		read: func() map[string]float64 {
			out := map[string]float64{}
			for _, c := range stats() {
				out[c.Platform+"|"+c.What+"|"+c.Outcome] = float64(c.N)
			}
			return out
		}}}
}

// expandLagGauge is how far behind the audit log the leader's outbox
// expansion is (bot.Dispatcher.ExpandLag); 0 where this replica does not
// lead.
func expandLagGauge(lag func() time.Duration) counter {
	return counter{name: "jitbot_outbox_expand_lag_seconds", gauge: true,
		help: "How old the last event the outbox expanded into messages was when it did (0 when nothing was left to expand, or this replica does not lead): messages wait at least this long.",
		read: func() map[string]float64 { return map[string]float64{"": lag().Seconds()} }}
}

// yieldGauges are how long the last delivery this replica acted on took
// from its acknowledgement (bot.Inbox.Lag), and whether the outbox sends
// less for now because of it (bot.Dispatcher.Yielding; 0 where this
// replica does not lead).
func yieldGauges(inboxLag func() time.Duration, yielding func() bool) []counter {
	return []counter{
		{name: "jitbot_inbox_lag_seconds", gauge: true,
			help: "How long the last delivery acted on at its first attempt took from its acknowledgement to its finish (0 when nothing waits, or nothing finished in the last 2 s).",
			read: func() map[string]float64 { return map[string]float64{"": inboxLag().Seconds()} }},
		{name: "jitbot_outbox_yielding", gauge: true,
			help: "1 while the outbox sends fewer messages at once, the inbox lagging (jitbot_inbox_lag_seconds over 2 s); else 0.",
			read: func() map[string]float64 {
				if yielding() {
					return map[string]float64{"": 1}
				}
				return map[string]float64{"": 0}
			}},
	}
}

// sharedRead runs a queue's read once for the callers that ask while it is
// under way; a caller after it ends reads afresh.
type sharedRead struct {
	mu   sync.Mutex
	call *queueRead
}

type queueRead struct {
	done   chan struct{}
	n      int
	oldest time.Time
	ok     bool
}

func (s *sharedRead) do(read func() (int, time.Time, bool)) (int, time.Time, bool) {
	s.mu.Lock()
	if c := s.call; c != nil {
		s.mu.Unlock()
		<-c.done
		return c.n, c.oldest, c.ok
	}
	c := &queueRead{done: make(chan struct{})}
	s.call = c
	s.mu.Unlock()
	c.n, c.oldest, c.ok = read()
	s.mu.Lock()
	s.call = nil
	s.mu.Unlock()
	close(c.done)
	return c.n, c.oldest, c.ok
}

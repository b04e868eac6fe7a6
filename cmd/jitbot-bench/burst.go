package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/scenario"
)

// The burst rows (DESIGN §8's ack and burst rows, issue 12): `jitbot
// serve` in its own process, the load generator, the simulators and the
// fsync probe in this one.
//
//   - 200 slash commands/s, with the fsync probe and the handler's own cost
//     measured before it (HandlerCost: the ack path on a store without
//     fsync, one request at a time): ack p99 against probe p99 + handler p99.
//   - 800 slash commands/s from 6,000 requesters, each routed to 2 of 50
//     approvers, until the outbox is empty: ack p99, answers, the server's
//     goroutines and heap, the drain, the fake's per-channel limit.

// burstOwnGoroutines is the documented bound on `jitbot serve`'s own
// goroutines (README, Performance): about 70 when idle (32 inbox workers,
// 8 dispatcher workers, the expander, the committer, the schedules and
// health checks, the listeners, the runtime's), and at most 3 more for
// each of the 40 workers busy with a platform call (its connection's two
// loops, slack-go's cancel watcher): 190, with room. net/http adds one
// per open inbound connection and one more per request in flight on it:
// the platform's concurrency, which the generator sets here (its
// connections, each kept alive).
const burstOwnGoroutines = 250

// burstSizes are the runs' sizes: full, or -quick.
type burstSizes struct {
	slowFor, fastFor     time.Duration
	slowUsers, fastUsers int
	handlerSamples       int
}

func burstSizesFor(quick bool) burstSizes {
	if quick {
		return burstSizes{slowFor: 5 * time.Second, fastFor: 3 * time.Second, slowUsers: 1000, fastUsers: 600, handlerSamples: 1000}
	}
	return burstSizes{slowFor: 30 * time.Second, fastFor: 30 * time.Second, slowUsers: 6000, fastUsers: 6000, handlerSamples: 5000}
}

// burstRows runs the two bursts and returns their rows and the Atlas
// simulator's spec violations.
func burstRows(ctx context.Context, o benchOptions, progress io.Writer) ([]benchRow, []string, error) {
	sz := burstSizesFor(o.quick)
	ms := fmtDuration
	var rows []benchRow
	var violations []string
	quick := ""
	if o.quick {
		quick = " (-quick)"
	}

	hp50, hp99, hmax, err := scenario.HandlerCost(ctx, os.TempDir(), sz.handlerSamples)
	if err != nil {
		return rows, violations, fmt.Errorf("handler cost: %w", err)
	}
	fmt.Fprintf(progress, "    handler cost on a NoSync store: p50 %s, p99 %s, max %s (n=%d)\n", ms(hp50), ms(hp99), ms(hmax), sz.handlerSamples)
	slow, err := scenario.Burst(ctx, o.jitbot, scenario.BurstOptions{Rate: 200, Duration: sz.slowFor, Requesters: sz.slowUsers, Probe: true}, nil)
	if err != nil {
		return rows, violations, fmt.Errorf("burst at 200/s: %w", err)
	}
	violations = append(violations, slow.AtlasViolations...)
	ratio := float64(slow.Ack.P99) / float64(slow.Probe.P99+hp99)
	rows = append(rows,
		benchRow{fmt.Sprintf("burst: ack, `jitbot serve`, 200 commands/s × %s%s", slow.Duration, quick),
			fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d); %d × 200, %d unanswered", ms(slow.Ack.P50), ms(slow.Ack.P99), ms(slow.Ack.Max), slow.Ack.N, slow.Status[200], slow.Errors),
			"p99 < 100ms", check(slow.Ack.P99 < 100*time.Millisecond && slow.Status[200] == slow.Sent)},
		benchRow{"  ack p99 ÷ (fsync probe p99 + handler p99)",
			fmt.Sprintf("%s ÷ (%s (n=%d) + %s (n=%d)) = %.2f×", ms(slow.Ack.P99), ms(slow.Probe.P99), slow.Probe.N, ms(hp99), sz.handlerSamples, ratio),
			"≤ 2×", check(ratio <= 2)},
		benchRow{"  answer (response_url) from send time", fmt.Sprintf("p99 %s, max %s (n=%d)", ms(slow.Answer.P99), ms(slow.Answer.Max), slow.Answer.N),
			"all ≤ 60s", check(slow.Answered == slow.Sent && slow.Late == 0)})

	fmt.Fprintf(progress, "    800 commands/s for %s from %d requesters, then the outbox drains (%d cards to 50 DMs at 1/s)\n", sz.fastFor, sz.fastUsers, 2*int(sz.fastFor.Seconds())*800)
	fast, err := scenario.Burst(ctx, o.jitbot, scenario.BurstOptions{Rate: 800, Duration: sz.fastFor, Requesters: sz.fastUsers, Drain: true}, nil)
	if err != nil {
		return rows, violations, fmt.Errorf("burst at 800/s: %w", err)
	}
	violations = append(violations, fast.AtlasViolations...)
	rows = append(rows,
		benchRow{fmt.Sprintf("burst: ack, 800 commands/s × %s, %d requesters, 2 of %d approvers each%s", fast.Duration, fast.Requesters, fast.Approvers, quick),
			fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d); %d × 200, %d unanswered, %d sent late", ms(fast.Ack.P50), ms(fast.Ack.P99), ms(fast.Ack.Max), fast.Ack.N, fast.Status[200], fast.Errors, fast.Behind),
			"p99 < 100ms", check(fast.Ack.P99 < 100*time.Millisecond && fast.Status[200] == fast.Sent)},
		benchRow{"  answer (response_url) from send time", fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d); %d of %d requesters all answered ≤ 60s", ms(fast.Answer.P50), ms(fast.Answer.P99), ms(fast.Answer.Max), fast.Answer.N, fast.RequesterAnswered, fast.Requesters),
			"every requester ≤ 60s", check(fast.Answered == fast.Sent && fast.Late == 0 && fast.RequesterAnswered == fast.Requesters)},
		benchRow{fmt.Sprintf("  goroutines of `jitbot serve` (max of %d samples)", fast.Samples),
			fmt.Sprintf("%d, %d inbound connections", fast.MaxGoroutines, fast.Conns),
			fmt.Sprintf("< %d + 2 per inbound connection", burstOwnGoroutines),
			check(fast.MaxGoroutines > 0 && fast.MaxGoroutines < burstOwnGoroutines+2*fast.Conns)},
		benchRow{fmt.Sprintf("  Go heap of `jitbot serve` (max of %d samples)", fast.Samples), fmt.Sprintf("in use %.1f MB, allocated %.1f MB", mb(fast.MaxHeapInuse), mb(fast.MaxHeapAll)),
			"< 128 MB", check(fast.MaxHeapInuse > 0 && fast.MaxHeapInuse < 128<<20 && fast.MaxHeapAll < 128<<20)},
		benchRow{fmt.Sprintf("  outbox: %d approval cards to %d DMs, 1 post/s each", fast.CardsWanted, fast.Approvers), drained(fast),
			"empty ≤ 30 min", check(fast.Drained && fast.Emptied <= 30*time.Minute)},
		benchRow{"  posts refused by the fake's 1/s per channel; other Slack violations", fmt.Sprintf("%d; %d", fast.PacingViolations+slow.PacingViolations, len(fast.SlackViolations)+len(slow.SlackViolations)),
			"0", check(fast.PacingViolations+slow.PacingViolations == 0 && len(fast.SlackViolations)+len(slow.SlackViolations) == 0)})
	return rows, violations, nil
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func drained(r scenario.BurstResult) string {
	if !r.Drained {
		return fmt.Sprintf("not empty after %s: %d of %d cards posted", r.DrainTimeout, r.Cards, r.CardsWanted)
	}
	return fmt.Sprintf("empty %s after the first command (%d posted, max depth %d)", fmtDuration(r.Emptied), r.Cards, r.OutboxMax)
}

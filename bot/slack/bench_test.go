package slack

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/internal/ackbench"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

// BenchmarkAck measures how long Slack waits for its acknowledgement: from
// the signed request leaving the client to the response arriving, over
// loopback HTTP, signature check included, with many requests in flight.
// The detached work each one starts (a users.info, a store read, a
// response_url post) runs meanwhile, as in production. DESIGN §8 budgets
// p99 < 100 ms.
//
// The parallel variants keep 16 clients per GOMAXPROCS busy (a closed loop,
// far above Slack's rates); the _200rps variants send 200 requests per
// second open-loop, the rate of the budget's row.
//
// The inbox here is flowstest's, in memory (this package may not import
// store): the fsync each ack waits for in production is not in these
// figures. cmd/internal/scenario's BenchmarkAck sends the same requests to
// the same handler on a real bbolt store, with and without fsync.
func BenchmarkAck(b *testing.B) {
	slash := func(h *harness, n int64) url.Values {
		return slacktest.SlashCommandForm(slackgo.SlashCommand{
			Command: "/access", Text: "list", UserID: alice.ID, ChannelID: "CGENERAL",
			TriggerID: fmt.Sprintf("bench.%d", n), ResponseURL: h.slack.NewResponseURL(),
		})
	}
	click := func(h *harness, n int64) url.Values {
		form, err := slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
			UserID: bob.ID, ActionID: "approve:nosuchreq" + fmt.Sprint(n%100), TriggerID: fmt.Sprintf("bench.%d", n),
			ResponseURL: h.slack.NewResponseURL(), ChannelID: "DUBOB", MessageTS: "1.000001",
		}))
		if err != nil {
			panic(err) // a struct of strings always marshals
		}
		return form
	}
	b.Run("slash_command", func(b *testing.B) { benchAck(b, "/slack/commands", slash, 0) })
	b.Run("interaction", func(b *testing.B) { benchAck(b, "/slack/interactions", click, 0) })
	b.Run("slash_command_200rps", func(b *testing.B) { benchAck(b, "/slack/commands", slash, 200) })
	b.Run("interaction_200rps", func(b *testing.B) { benchAck(b, "/slack/interactions", click, 200) })
}

// benchAck sends b.N signed requests to path and reports the latency
// percentiles (ackbench.Run).
func benchAck(b *testing.B, path string, build func(h *harness, n int64) url.Values, rate int) {
	h := newHarness(b)
	ackbench.Run(b, rate, func(n int64) (*http.Request, error) {
		return slacktest.SignedRequest(h.ctx, h.srv.URL+path, build(h, n), signingSecret, time.Now())
	}, h.bot.idle)
}

package slack

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

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

// benchAck sends b.N signed requests and reports the latency percentiles:
// in parallel closed loops when rate is 0, else open-loop at rate per second.
func benchAck(b *testing.B, path string, build func(h *harness, n int64) url.Values, rate int) {
	h := newHarness(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	send := func(n int64) (time.Duration, error) {
		req, err := slacktest.SignedRequest(h.ctx, h.srv.URL+path, build(h, n), signingSecret, time.Now())
		if err != nil {
			return 0, err
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			return took, fmt.Errorf("status %d", resp.StatusCode)
		}
		return took, nil
	}
	var seq atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	record := func(d time.Duration) {
		mu.Lock()
		all = append(all, d)
		mu.Unlock()
	}
	b.ResetTimer()
	if rate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var wg sync.WaitGroup
		for i := 0; i < b.N; i++ {
			<-tick.C
			wg.Go(func() {
				d, err := send(seq.Add(1))
				if err != nil {
					b.Error(err)
				}
				record(d)
			})
		}
		wg.Wait()
		tick.Stop()
	} else {
		// Many clients per core: Slack delivers many requests at once.
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d, err := send(seq.Add(1))
				if err != nil {
					b.Error(err)
					return
				}
				record(d)
			}
		})
	}
	b.StopTimer()
	h.bot.idle()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // per-request latency is what matters; ns/op divides by parallelism
	if p99 := pct(0.99); p99 >= 100 {
		b.Errorf("ack p99 %.1f ms, budget 100 ms", p99)
	}
}

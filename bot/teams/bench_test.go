package teams

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// BenchmarkAck measures how long the Bot Framework waits for its 200: from the signed activity
// leaving the client to the response arriving, over loopback HTTP, token validation included,
// while the detached work each activity starts (a member lookup, a store read, a reply through
// the connector) runs meanwhile. DESIGN §8 budgets p99 < 100 ms at 200 requests per second;
// Teams itself gives up after 15 s.
//
// Every activity comes from its own conversation, so the connector's per-conversation pacing
// does not pile up replies, as many people writing at once would not.
func BenchmarkAck(b *testing.B) {
	b.Run("parallel", func(b *testing.B) { benchAck(b, 0) })
	b.Run("200rps", func(b *testing.B) { benchAck(b, 200) })
}

func benchAck(b *testing.B, rate int) {
	h := newHarness(b)
	tok := h.bf.MintToken(teamstest.TokenClaims{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	send := func(n int64) (time.Duration, error) {
		act := h.bf.Message(fmt.Sprintf("a:bench-%d", n), alice, "access list")
		req, err := teamstest.NewActivityRequest(h.ctx, h.url(), act, tok)
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
		for range b.N {
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
	b.ReportMetric(0, "ns/op") // per-request latency is what matters
	if p99 := pct(0.99); p99 >= 100 {
		b.Errorf("ack p99 %.1f ms, budget 100 ms", p99)
	}
}

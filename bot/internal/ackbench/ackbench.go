package ackbench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// budget is the p99 acknowledgement latency DESIGN §8 allows.
const budget = 100 * time.Millisecond

// Run sends b.N requests made by build (n numbers them from 1), each timed
// from leaving the client to its response arriving, and reports the p50 and
// p99 latencies; a p99 over budget fails the benchmark. With rate 0 it keeps
// 16 clients per GOMAXPROCS busy in closed loops (far above the platforms'
// rates); otherwise it sends rate requests per second open-loop, the rate of
// the budget's row. idle waits for the detached work the requests started,
// which runs meanwhile as in production.
func Run(b *testing.B, rate int, build func(n int64) (*http.Request, error), idle func()) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	send := func(n int64) (time.Duration, error) {
		req, err := build(n)
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
		// Many clients per core: the platforms deliver many requests at once.
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
	idle()
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
	if p99 := pct(0.99); p99 >= float64(budget/time.Millisecond) {
		b.Errorf("ack p99 %.1f ms, budget %d ms", p99, budget/time.Millisecond)
	}
}

package scenario

import (
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAck sends signed `/access request ...` slash commands over
// loopback HTTP to the real Slack handler, whose inbox is a real store.DB:
// each acknowledgement commits its inbox record to a bbolt file in
// b.TempDir() before the 200 (AckStack; nothing processes the records, so
// only the ack is measured). bot/slack's BenchmarkAck runs the same handler
// on the in-memory store (that package may not import store).
//
//   - fsync: one request at a time, every commit fsync'd: ns/op is the
//     whole ack, the disk's commit included.
//   - nosync: the same on a store opened with NoSync: ns/op is the
//     handler's own cost (what jitbot-bench's ack-cost row calls handler
//     CPU), the client's share of the loopback round trip included.
//   - fsync_parallel: 16 clients per GOMAXPROCS at once, so commits are
//     shared (store/commit.go): ns/op is the inverse of the throughput.
//
// Allocations are counted on both sides of the loopback: the client and
// the handler run in this process. Run it with -short, which spares
// building the jitbot binary the scenarios' tests need:
//
//	go test -short -run '^$' -bench BenchmarkAck -benchmem ./cmd/internal/scenario
func BenchmarkAck(b *testing.B) {
	serial := func(noSync bool) func(b *testing.B) {
		return func(b *testing.B) {
			a, err := NewAckStack(filepath.Join(b.TempDir(), "jitbot.db"), noSync)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			ctx := b.Context()
			took := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				d, err := a.Send(ctx, n)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, d)
				n++
			}
			reportPercentiles(b, took)
		}
	}
	b.Run("fsync", serial(false))
	b.Run("nosync", serial(true))
	b.Run("fsync_parallel", func(b *testing.B) {
		a, err := NewAckStack(filepath.Join(b.TempDir(), "jitbot.db"), false)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		ctx := b.Context()
		var seq atomicCounter
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Send(ctx, seq.next()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	ms := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// atomicCounter numbers requests sent from several goroutines.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int { return int(c.n.Add(1)) }

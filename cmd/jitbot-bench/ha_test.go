package main

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/scenario"
)

func TestMachineShares(t *testing.T) {
	burst := func(busy time.Duration, ok bool) scenario.BurstResult {
		r := scenario.BurstResult{Sent: 6000}
		if ok {
			r.Machine = scenario.MachineCPU{Busy: busy, Window: 30 * time.Second, Cores: 2}
		}
		return r
	}
	got := machineShares(burst(51*time.Second, true), burst(24*time.Second, true))
	if want := "; the machine 85% and 40% busy, 8.5 and 4.0 ms of CPU per command"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := machineShares(burst(51*time.Second, true), burst(24*time.Second, false)); got != "" {
		t.Fatalf("an unread machine: got %q, want nothing", got)
	}
}

func TestAckPair(t *testing.T) {
	burst := func(p50, p99 time.Duration, ok int) scenario.BurstResult {
		return scenario.BurstResult{Sent: 6000, Status: map[int]int{200: ok}, Ack: scenario.Latencies{N: ok, P50: p50, P99: p99}}
	}
	bolt := burst(2*time.Millisecond, 10*time.Millisecond, 6000)
	text, held := ackPair(burst(5*time.Millisecond, 24*time.Millisecond, 6000), bolt)
	if !held {
		t.Errorf("2.4× held nothing: %s", text)
	}
	if want := "24ms (p50 5ms, n=6000) ÷ 10ms (p50 2ms, n=6000) = 2.40×; 6000 and 6000 × 200"; text != want {
		t.Errorf("got %q, want %q", text, want)
	}
	if text, held := ackPair(burst(9*time.Millisecond, 31*time.Millisecond, 6000), bolt); held {
		t.Errorf("3.1× held: %s", text)
	}
	if text, held := ackPair(burst(5*time.Millisecond, 24*time.Millisecond, 5999), bolt); held {
		t.Errorf("a command not answered 200 held: %s", text)
	}
	if text, held := ackPair(burst(5*time.Millisecond, 24*time.Millisecond, 6000), scenario.BurstResult{}); held {
		t.Errorf("no bbolt burst held: %s", text)
	}
}

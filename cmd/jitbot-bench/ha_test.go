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

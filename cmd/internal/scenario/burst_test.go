package scenario

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// TestBurst is the burst scenario small: 300 slash commands at 100 a
// second from 100 requesters to `jitbot serve`, the fsync probe on, and the
// outbox drained. Every request is acknowledged and answered, every card
// posted, and no post breaks the fake Slack's one per second per channel.
// (The figures at 200 and 800 a second are jitbot-bench's.)
func TestBurst(t *testing.T) {
	rigtest.NeedJitbot(t, jitbotExe)
	res, err := Burst(context.Background(), jitbotExe, BurstOptions{Rate: 100, Duration: 3 * time.Second, Requesters: 100, Probe: true, Drain: true, DrainTimeout: 2 * time.Minute}, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Errors != 0 || res.Status[200] != res.Sent || res.Sent != 300 {
		t.Fatalf("acks: %d sent, %v, %d errors", res.Sent, res.Status, res.Errors)
	}
	if res.Answered != res.Sent || res.Waiting != res.Sent || res.RequesterAnswered != 100 || res.Pending != res.Sent {
		t.Fatalf("answers: %d of %d answered, %d waiting for approval, %d requesters answered, %d pending", res.Answered, res.Sent, res.Waiting, res.RequesterAnswered, res.Pending)
	}
	if !res.Drained || res.Cards != res.CardsWanted {
		t.Fatalf("outbox: drained %v, %d of %d cards", res.Drained, res.Cards, res.CardsWanted)
	}
	if res.PacingViolations != 0 || len(res.SlackViolations) != 0 || len(res.AtlasViolations) != 0 {
		t.Fatalf("violations: %d pacing, %v, %v", res.PacingViolations, res.SlackViolations, res.AtlasViolations)
	}
	if res.Samples == 0 || res.MaxGoroutines == 0 || res.MaxHeapInuse == 0 || res.Probe.N == 0 {
		t.Fatalf("samples: %+v", res)
	}
	// jitbot, the generator and the simulators all ran in the window, from
	// the first send to the last ack (the last sent one interval before
	// the end).
	if runtime.GOOS == "linux" && (!res.Machine.Measured() || res.Machine.Busy <= 0 || res.Machine.Window < res.Duration-time.Second/time.Duration(res.Rate)) {
		t.Fatalf("machine CPU: %+v (read: %v)", res.Machine, res.Machine.Measured())
	}
}

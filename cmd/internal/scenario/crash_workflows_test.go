package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestCrashChecksWorkflows: the crash scenario's checks of reminders,
// tiers and scheduled starts accept a trail that did each in time, and
// find one lost, late, early or unplanned, and a start lost, early or
// never ended; what fell while jitbot was down is not asked of it.
func TestCrashChecksWorkflows(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	escalating := func() *flows.Request {
		return &flows.Request{ID: "e1", Requester: "a@example.com", State: flows.StatePending, CreatedAt: t0, PendingUntil: at(3 * time.Minute),
			RemindApproversEvery: time.Minute, RemindApproversAt: at(time.Minute),
			Escalation: []flows.EscalationStep{{At: at(2 * time.Minute), Approvers: []string{"b@example.com"}}}}
	}
	ev := func(typ flows.EventType, d time.Duration, to flows.State, tier int) flows.Event {
		return flows.Event{Type: typ, RequestID: "e1", At: at(d), To: to, Tier: tier}
	}
	submitted := ev(flows.EventSubmitted, 0, flows.StatePending, 0)
	reminded := ev(flows.EventApproversReminded, time.Minute+time.Second, flows.StatePending, 0)
	escalated := ev(flows.EventEscalated, 2*time.Minute+time.Second, flows.StatePending, 1)
	timedOut := ev(flows.EventTimedOut, 3*time.Minute+time.Second, flows.StateTimedOut, 0)
	up := [][2]time.Time{{at(-time.Minute), at(10 * time.Minute)}}

	for _, tc := range []struct {
		name      string
		evs       []flows.Event
		ups       [][2]time.Time
		lost      int
		problem   string
		wantExtra int
	}{
		{"in time", []flows.Event{submitted, reminded, escalated, timedOut}, up, 0, "", 0},
		{"tier lost", []flows.Event{submitted, reminded}, up, 1, "its escalation tier due", 0},
		{"reminder late", []flows.Event{submitted, ev(flows.EventApproversReminded, time.Minute+20*time.Second, flows.StatePending, 0), escalated}, up, 1, "was done only at", 0},
		{"reminder early", []flows.Event{submitted, ev(flows.EventApproversReminded, 30*time.Second, flows.StatePending, 0), escalated}, up, 1, "before it was due", 0},
		{"a reminder where the tier was due", []flows.Event{submitted, reminded, ev(flows.EventApproversReminded, 2*time.Minute+time.Second, flows.StatePending, 0)}, up, 1, "where its escalation tier was due", 0},
		{"unplanned", []flows.Event{submitted, reminded, escalated, ev(flows.EventApproversReminded, 2*time.Minute+50*time.Second, flows.StatePending, 0)}, up, 0, "when nothing was due", 1},
		{"down at the reminder, caught up", []flows.Event{submitted, ev(flows.EventApproversReminded, time.Minute+32*time.Second, flows.StatePending, 0)},
			[][2]time.Time{{at(-time.Minute), at(50 * time.Second)}, {at(time.Minute + 30*time.Second), at(time.Minute + 40*time.Second)}}, 0, "", 0},
		{"down at the reminder and the tier: the tier alone", []flows.Event{submitted, ev(flows.EventEscalated, 2*time.Minute+32*time.Second, flows.StatePending, 1)},
			[][2]time.Time{{at(-time.Minute), at(50 * time.Second)}, {at(2*time.Minute + 30*time.Second), at(2*time.Minute + 40*time.Second)}}, 0, "", 0},
		{"down, and killed before the next tick", []flows.Event{submitted},
			[][2]time.Time{{at(-time.Minute), at(50 * time.Second)}, {at(2*time.Minute + 30*time.Second), at(2*time.Minute + 31*time.Second)}}, 0, "", 0},
		{"decided before it was due", []flows.Event{submitted, ev(flows.EventDenied, 30*time.Second, flows.StateDenied, 0)}, up, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &crashRun{res: &CrashResult{}}
			c.checkNudges(escalating(), tc.evs, tc.ups, false)
			if c.res.LostNudges != tc.lost || c.res.ExtraNudges != tc.wantExtra || (tc.problem == "") != (len(c.res.Problems) == 0) ||
				tc.problem != "" && !strings.Contains(strings.Join(c.res.Problems, "; "), tc.problem) {
				t.Fatalf("lost %d extra %d, problems %q; want lost %d, %q", c.res.LostNudges, c.res.ExtraNudges, c.res.Problems, tc.lost, tc.problem)
			}
		})
	}

	start := at(20 * time.Minute)
	scheduled := func() *flows.Request {
		return &flows.Request{ID: "s1", Requester: "a@example.com", State: flows.StateExpired, StartsAt: start, Duration: time.Minute,
			ExpiresAt: start.Add(time.Minute), ActivatedAt: at(10*time.Minute + 2*time.Second)}
	}
	sev := func(typ flows.EventType, tm time.Time, to flows.State) flows.Event {
		return flows.Event{Type: typ, RequestID: "s1", At: tm, To: to}
	}
	approved := sev(flows.EventApproved, at(time.Minute), flows.StateApproved)
	provisioning := sev(flows.EventProvisioning, at(10*time.Minute+time.Second), flows.StateProvisioning)
	activated := sev(flows.EventActivated, at(10*time.Minute+2*time.Second), flows.StateActive)
	expired := sev(flows.EventExpired, start.Add(time.Minute+time.Second), flows.StateExpired)
	longUp := [][2]time.Time{{t0, at(time.Hour)}}
	for _, tc := range []struct {
		name    string
		evs     []flows.Event
		ups     [][2]time.Time
		lost    int
		problem string
	}{
		{"in time", []flows.Event{approved, provisioning, activated, expired}, longUp, 0, ""},
		{"never provisioned", []flows.Event{approved}, longUp, 2, "due to be provisioned"},
		{"provisioned too early", []flows.Event{approved, sev(flows.EventProvisioning, at(5*time.Minute), flows.StateProvisioning), activated, expired}, longUp, 0, "more than 10m before its start"},
		{"late", []flows.Event{approved, sev(flows.EventProvisioning, start.Add(30*time.Second), flows.StateProvisioning), sev(flows.EventActivated, start.Add(31*time.Second), flows.StateActive), expired}, longUp, 2, "not active by"},
		{"never ended", []flows.Event{approved, provisioning, activated}, longUp, 1, "not ended by"},
		{"down at the start, caught up", []flows.Event{approved, sev(flows.EventProvisioning, start.Add(2*time.Minute), flows.StateProvisioning),
			sev(flows.EventActivated, start.Add(2*time.Minute+time.Second), flows.StateActive), sev(flows.EventExpired, start.Add(2*time.Minute+2*time.Second), flows.StateExpired)},
			[][2]time.Time{{t0, at(5 * time.Minute)}, {start.Add(2 * time.Minute), at(time.Hour)}}, 0, ""},
		{"cancelled before its start", []flows.Event{approved, sev(flows.EventCancelled, at(2*time.Minute), flows.StateCancelled)}, longUp, 0, ""},
	} {
		t.Run("start "+tc.name, func(t *testing.T) {
			c := &crashRun{res: &CrashResult{}}
			c.checkStart(scheduled(), tc.evs, tc.ups)
			if c.res.LostStarts != tc.lost || (tc.problem == "") != (len(c.res.Problems) == 0) ||
				tc.problem != "" && !strings.Contains(strings.Join(c.res.Problems, "; "), tc.problem) {
				t.Fatalf("lost %d, problems %q; want %d, %q", c.res.LostStarts, c.res.Problems, tc.lost, tc.problem)
			}
		})
	}
}

// TestUpWindows: jitbot ran from each start to the kill that ended it,
// then, for the last starts, to each stop that left messages to send, and
// the last to the final stop.
func TestUpWindows(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c := &crashRun{ups: []time.Time{at(0), at(10), at(20), at(30)}, kills: []time.Time{at(5), at(15)}, stops: []time.Time{at(25)}}
	got := c.upWindows(at(35))
	want := [][2]time.Time{{at(0), at(5)}, {at(10), at(15)}, {at(20), at(25)}, {at(30), at(35)}}
	if len(got) != len(want) {
		t.Fatalf("windows %v, want %v", got, want)
	}
	for i := range want {
		if !got[i][0].Equal(want[i][0]) || !got[i][1].Equal(want[i][1]) {
			t.Fatalf("window %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Still running (a check after a kill): the last start has no window yet.
	c.ups = c.ups[:3]
	c.stops = nil
	if got := c.upWindows(time.Time{}); len(got) != 2 {
		t.Fatalf("windows before the end: %v", got)
	}
}

package record

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestTheDueEntryIsDueAt: the due index holds a request at DueAt, also
// for what only the newer fields make due (a break-glass review after the
// grant ended), and nothing once nothing is due.
func TestTheDueEntryIsDueAt(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &flows.Request{ID: "bglass0001", Requester: "alice@example.com", State: flows.StateExpired, CreatedAt: t0,
		BreakGlass: &flows.Review{Due: t0.Add(24 * time.Hour), RemindEvery: 6 * time.Hour, RemindAt: t0.Add(6 * time.Hour)}}
	if got := dueAt(Entries(r)); !got.Equal(t0.Add(6*time.Hour)) || !got.Equal(r.DueAt()) {
		t.Fatalf("due entry at %v, DueAt %v", got, r.DueAt())
	}
	r.BreakGlass.RemindAt, r.BreakGlass.ReviewedBy, r.BreakGlass.ReviewedAt = time.Time{}, "sec@example.com", t0.Add(time.Hour)
	for _, e := range Entries(r) {
		if e.Index == IndexDue || e.Index == IndexLive || e.Index == IndexApprover {
			t.Errorf("a reviewed, expired request is in %s", e.Index)
		}
	}
}

func dueAt(es []Entry) time.Time {
	for _, e := range es {
		if e.Index == IndexDue {
			return e.At
		}
	}
	return time.Time{}
}

package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"

	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestRecordsKeepTheRoutingNote: why a condition routed a request
// otherwise (flows/hours.go) survives the round trip.
func TestRecordsKeepTheRoutingNote(t *testing.T) {
	r := flowstest.NewRequest("note000001", "alice@example.com", flowstest.T0)
	r.RoutingNote = "outside working hours: 2 approvals"
	if got := roundTrip(t, r).RoutingNote; got != r.RoutingNote {
		t.Fatalf("routing note %q", got)
	}
	// And a break-glass review (flows/breakglass.go), every field of it.
	r.BreakGlass = &flows.Review{Reviewers: []string{"sec@example.com"}, Channel: "#security", Due: flowstest.T0.Add(24 * time.Hour),
		RemindEvery: 6 * time.Hour, RemindAt: flowstest.T0.Add(6 * time.Hour), Tier: 1, Overdue: true, MFA: true,
		Escalation: []flows.EscalationStep{{At: flowstest.T0.Add(time.Hour), Approvers: []string{"ciso@example.com"}, Added: []string{"ciso@example.com"}}},
		ReviewedBy: "ciso@example.com", ReviewedAt: flowstest.T0.Add(30 * time.Hour), Note: "checked the session"}
	if got := roundTrip(t, r).BreakGlass; !reflect.DeepEqual(got, r.BreakGlass) {
		t.Fatalf("review %+v, want %+v", got, r.BreakGlass)
	}
}

// TestAReviewDueAfterTheGrantIsInTheDueIndex: an expired break-glass grant
// whose review still needs a reminder is found by Due on real bbolt, and
// no longer once reviewed: a restart loses no review reminder.
func TestAReviewDueAfterTheGrantIsInTheDueIndex(t *testing.T) {
	db := openTemp(t)
	ctx := t.Context()
	r := flowstest.NewRequest("bglass0001", "alice@example.com", flowstest.T0)
	r.State, r.EndState, r.EndedAt = flows.StateExpired, flows.StateExpired, flowstest.T0.Add(time.Hour)
	r.BreakGlass = &flows.Review{Reviewers: []string{"sec@example.com"}, Due: flowstest.T0.Add(24 * time.Hour), RemindEvery: 6 * time.Hour, RemindAt: flowstest.T0.Add(6 * time.Hour)}
	if _, _, err := db.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	if due, err := db.Due(ctx, flowstest.T0.Add(6*time.Hour), 0); err != nil || len(due) != 1 || due[0] != r.ID {
		t.Fatalf("due: %v %v", due, err)
	}
	if _, err := db.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
		ev, err := r.AcknowledgeReview("sec@example.com", "checked", flowstest.T0.Add(2*time.Hour))
		return []flows.Event{ev}, err
	}); err != nil {
		t.Fatal(err)
	}
	if due, err := db.Due(ctx, flowstest.T0.Add(48*time.Hour), 0); err != nil || len(due) != 0 {
		t.Fatalf("due after the review: %v %v", due, err)
	}
}

// roundTrip is r written and read back as both stores do.
func roundTrip(t *testing.T, r *flows.Request) *flows.Request {
	t.Helper()
	raw, err := record.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := record.DecodeRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

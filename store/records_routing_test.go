package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"

	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestRecordsKeepTheRoutingNote: why a condition routed a request
// otherwise (flows/hours.go) survives the round trip.
func TestRecordsKeepTheRoutingNote(t *testing.T) {
	r := flowstest.NewRequest("note000001", "alice@example.com", flowstest.T0)
	r.RoutingNote = "outside working hours: 2 approvals"
	if got := toRecord(r).request().RoutingNote; got != r.RoutingNote {
		t.Fatalf("routing note %q", got)
	}
	// And a break-glass review (flows/breakglass.go), every field of it.
	r.BreakGlass = &flows.Review{Reviewers: []string{"sec@example.com"}, Channel: "#security", Due: flowstest.T0.Add(24 * time.Hour),
		RemindEvery: 6 * time.Hour, RemindAt: flowstest.T0.Add(6 * time.Hour), Tier: 1, Overdue: true,
		Escalation: []flows.EscalationStep{{At: flowstest.T0.Add(time.Hour), Approvers: []string{"ciso@example.com"}, Added: []string{"ciso@example.com"}}},
		ReviewedBy: "ciso@example.com", ReviewedAt: flowstest.T0.Add(30 * time.Hour), Note: "checked the session"}
	if got := toRecord(r).request().BreakGlass; !reflect.DeepEqual(got, r.BreakGlass) {
		t.Fatalf("review %+v, want %+v", got, r.BreakGlass)
	}
}

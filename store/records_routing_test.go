package store

import (
	"testing"

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
}

package store

import (
	"reflect"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestRecordsKeepTheGuest: the guest a sponsor asked for, and what their
// sign-in must prove (flows/thirdparty.go), survive the round trip; a
// request for the requester has none.
func TestRecordsKeepTheGuest(t *testing.T) {
	r := flowstest.NewRequest("guest00001", "alice@example.com", flowstest.T0)
	if got := roundTrip(t, r).Guest; got != nil {
		t.Fatalf("a request for its requester came back with guest %+v", got)
	}
	r.Guest = &flows.Guest{Email: "vendor@partner.com", AMR: []string{"mfa"}, ACRValues: []string{"phr"}}
	if got := roundTrip(t, r).Guest; !reflect.DeepEqual(got, r.Guest) {
		t.Fatalf("guest %+v, want %+v", got, r.Guest)
	}
}

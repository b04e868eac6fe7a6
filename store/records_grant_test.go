package store

import (
	"context"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/internal/record"
)

// TestRecordsKeepTheGrantState: what a provisioner records of a grant
// (flows.Journal) round-trips; a request without it stores no key.
func TestRecordsKeepTheGrantState(t *testing.T) {
	db := openTemp(t)
	r := flowstest.NewRequest("ui00000001", "carol@example.com", flowstest.T0)
	r.Kind, r.Roles, r.GrantState = flows.KindAtlasUI, []string{"GROUP_READ_ONLY"}, `{"user_id":"u1","before":["GROUP_READ_ONLY"]}`
	if _, _, err := db.Create(context.Background(), r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(context.Background(), r.ID)
	if err != nil || got.GrantState != r.GrantState {
		t.Fatalf("round trip: %q, %v", got.GrantState, err)
	}
	raw, err := record.EncodeRequest(flowstest.NewRequest("one0000001", "alice@example.com", flowstest.T0))
	if err != nil || strings.Contains(string(raw), "grant_state") {
		t.Fatalf("a record without state: %s, %v", raw, err)
	}
}

package etcdstore_test

import (
	"fmt"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// GetMany reads requests in the order named, more than a transaction's
// worth of them, nil for those not stored.
func TestGetManyReadsInOrder(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	ctx := t.Context()
	var ids []flows.RequestID
	for i := range 300 {
		id := flows.RequestID(fmt.Sprintf("r%03d", i))
		ids = append(ids, id)
		if i%7 == 3 {
			continue // never stored
		}
		if _, _, err := s.Create(ctx, flowstest.NewRequest(id, "alice@example.com", flowstest.T0), flows.Event{Type: flows.EventSubmitted, RequestID: id, At: flowstest.T0}, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetMany(ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("GetMany: %d requests, %v", len(got), err)
	}
	for i, r := range got {
		switch {
		case i%7 == 3 && r != nil:
			t.Fatalf("%s was never stored, read %+v", ids[i], r)
		case i%7 != 3 && (r == nil || r.ID != ids[i]):
			t.Fatalf("position %d: %+v, want %s", i, r, ids[i])
		}
	}
}

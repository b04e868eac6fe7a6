package etcdstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// Compaction drops old revisions; the store reads on.
func TestStatusAndCompact(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	r := flowstest.NewRequest("c1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
		t.Fatal(err)
	}
	before, err := s.Status(ctx)
	if err != nil || before.Members != 1 || before.DBSize <= 0 || before.Revision <= 0 || len(before.Alarms) != 0 {
		t.Fatalf("status: %+v %v", before, err)
	}
	for i := range 20 {
		if _, err := s.Update(ctx, "c1", func(r *flows.Request) ([]flows.Event, error) { r.Attempts = i; return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := s.Compact(ctx, 5)
	if err != nil || rev <= before.Revision {
		t.Fatalf("compact: %d %v (status before: %+v)", rev, err, before)
	}
	if _, err := cli.Get(ctx, s.Prefix()+"req/c1", clientv3.WithRev(before.Revision)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("a read of a compacted revision: %v", err)
	}
	if got, err := s.Find(ctx, flows.Query{Requester: "alice@example.com"}); err != nil || len(got) != 1 || got[0].Attempts != 19 {
		t.Fatalf("find after compaction: %v %v", got, err)
	}
	// Nothing was written since: compacted that far already.
	if again, err := s.Compact(ctx, 5); err != nil || again != 0 {
		t.Fatalf("compact again: %d %v, want nothing to do", again, err)
	}
}

// A cluster out of space refuses writes with etcd's own words, and
// Status raises its alarm.
func TestNoSpace(t *testing.T) {
	c := etcdtest.StartWith(t, etcdtest.Options{Members: 1, QuotaBytes: 1 << 20})
	s, err := etcdstore.New(t.Context(), c.Client(), etcdstore.Options{Prefix: "/full/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var werr error
	for i := range 200 {
		werr = s.PutContact(ctx, "teams", fmt.Sprint(i), make([]byte, 64<<10))
		if werr != nil {
			break
		}
	}
	if werr == nil || !strings.Contains(werr.Error(), "database space exceeded") {
		t.Fatalf("writes into a full cluster: %v", werr)
	}
	st, err := s.Status(ctx)
	if err != nil || len(st.Alarms) != 1 || !strings.HasPrefix(st.Alarms[0], "NOSPACE on member") {
		t.Fatalf("status of a full cluster: %+v %v", st, err)
	}
	// Reads go on.
	if _, err := s.Contact(ctx, "teams", "0"); err != nil {
		t.Fatalf("a read from a full cluster: %v", err)
	}
}

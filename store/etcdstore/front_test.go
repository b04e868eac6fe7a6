package etcdstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// TakeInbox reads the inbox's index from where its live entries begin,
// not past the entries deleted since the last compaction. An item this
// process receives below that point is taken at once; one another
// process committed there (stamped long before it committed) is taken by
// the next read from the index's start, at most 30 seconds on.
func TestTakeInboxReadsFromItsFront(t *testing.T) {
	cli, a, b := twoProcesses(t)
	ctx := t.Context()
	receive := func(s *etcdstore.Store, key string, at time.Time) {
		t.Helper()
		if first, err := s.Receive(ctx, flows.InboxItem{Key: key, Platform: "slack", ReceivedAt: at}); err != nil || !first {
			t.Fatalf("receive %s: %v %v", key, first, err)
		}
	}
	take := func(now time.Time) []string {
		t.Helper()
		items, err := a.TakeInbox(ctx, now, time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, it := range items {
			keys = append(keys, it.Key)
			if _, err := a.FinishInbox(ctx, it.Key, now); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(keys)
		return keys
	}
	t0 := flowstest.T0
	for i := range 50 {
		receive(a, fmt.Sprintf("old%02d", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := take(t0.Add(time.Minute)); len(got) != 50 {
		t.Fatalf("first take: %d items, want 50", len(got))
	}
	// The 50 index entries are deleted, not yet compacted. The next take
	// finds nothing, so the front moves to a margin before its time.
	if got := take(t0.Add(time.Minute + time.Second)); len(got) != 0 {
		t.Fatalf("second take: %v, want nothing", got)
	}
	receive(b, "late", t0.Add(time.Second)) // another process, stamped far below the front
	receive(a, "mine", t0.Add(2*time.Second))
	if got := take(t0.Add(time.Minute + 2*time.Second)); !slices.Equal(got, []string{"mine"}) {
		t.Fatalf("take from the front: %v, want [mine] (this process's write lowers the front; the other's waits for the rescan)", got)
	}
	if got := take(t0.Add(time.Minute + 30*time.Second)); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("take a rescan period after the last read from the start: %v, want [late]", got)
	}
	// Nothing is left behind: the index holds no live entry.
	resp, err := cli.Get(ctx, a.Prefix()+"inbox/next/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Fatalf("inbox index after the takes: %d entries (%v), want 0", resp.Count, err)
	}
}

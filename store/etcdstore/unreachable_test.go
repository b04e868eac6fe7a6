package etcdstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// With its cluster down, the store's reads, writes and pings fail as
// flows.ErrStoreUnreachable within its timeout; a caller that gave up is
// not taken for an outage; the cluster back, the store works again.
func TestUnreachableCluster(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := t.Context()
	s, err := etcdstore.New(ctx, c.Client(), etcdstore.Options{Prefix: "/down/", RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	item := func(key string) flows.InboxItem {
		return flows.InboxItem{Key: key, Platform: "slack", Payload: []byte(`{}`), ReceivedAt: time.Now()}
	}
	if _, err := s.Receive(ctx, item("before")); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	checks := map[string]func() error{
		"ping":    func() error { return s.Ping(ctx) },
		"receive": func() error { _, err := s.Receive(ctx, item("during")); return err },
		"get":     func() error { _, err := s.Get(ctx, "nosuchreq0"); return err },
		"due":     func() error { _, err := s.Due(ctx, time.Now(), 10); return err },
		"expiring": func() error {
			_, err := s.Expiring(ctx, time.Now(), 10)
			return err
		},
		"update many": func() error {
			_, _, err := s.UpdateMany(ctx, []flows.RequestID{"nosuchreq0"}, func(*flows.Request) ([]flows.Event, error) { return nil, nil })
			return err
		},
	}
	for name, call := range checks {
		start := time.Now()
		err := call()
		if !flows.IsStoreUnreachable(err) || flows.ErrorCode(err) != flows.EUNAVAILABLE {
			t.Errorf("%s with the cluster down: %v, want the store unreachable", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(gaveUp, "nosuchreq0"); err == nil || flows.IsStoreUnreachable(err) {
		t.Errorf("a caller that gave up: %v", err)
	}
	c.Restart(0)
	deadline := time.Now().Add(15 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store is not reachable again after the cluster came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if first, err := s.Receive(ctx, item("after")); err != nil || !first {
		t.Fatalf("receive after the outage: %v %v", first, err)
	}
	if first, err := s.Receive(ctx, item("during")); err != nil || !first {
		t.Fatalf("what was refused during the outage was not half-written: first %v, %v", first, err)
	}
}

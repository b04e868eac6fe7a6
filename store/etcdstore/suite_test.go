package etcdstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// prefixes gives every store of a test binary its own prefix, so that the
// tests share a cluster and never see each other's keys.
var prefixes atomic.Int64

// opener starts one member for a test and opens each store of its
// subtests under a prefix of its own.
func opener(t *testing.T) (*clientv3.Client, func(t *testing.T) *etcdstore.Store) {
	cli := etcdtest.Start(t, 1).Client()
	return cli, func(t *testing.T) *etcdstore.Store {
		t.Helper()
		s, err := etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: fmt.Sprintf("/t%d/", prefixes.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// twoProcesses opens two stores on one prefix of one cluster, as two
// replicas would.
func twoProcesses(t *testing.T) (cli *clientv3.Client, a, b *etcdstore.Store) {
	t.Helper()
	cli, open := opener(t)
	a = open(t)
	b, err := etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: a.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	return cli, a, b
}

func events(t *testing.T, s *etcdstore.Store) []flows.Event {
	t.Helper()
	var out []flows.Event
	if err := s.Audit(context.Background(), time.Time{}, func(r flows.AuditRecord) error {
		out = append(out, r.Event)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.StoreSuite(t, func(t *testing.T) (flows.Store, func() []flows.Event) {
		s := open(t)
		return s, func() []flows.Event { return events(t, s) }
	})
}

func TestAuditSuite(t *testing.T) {
	cli, open := opener(t)
	flowstest.AuditSuite(t, func(t *testing.T) flowstest.Backend { return open(t) },
		func(t *testing.T, b flowstest.Backend, seq uint64) {
			s := b.(*etcdstore.Store)
			// Records are chained when the log is first read (audit.go).
			if _, err := s.AuditAfter(t.Context(), 0, 0); err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprintf("%saudit/r/%016x", s.Prefix(), seq)
			resp, err := cli.Get(t.Context(), k)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("read record %d: %v", seq, err)
			}
			var rec map[string]any
			if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
				t.Fatal(err)
			}
			rec["message"] = "rewritten"
			raw, _ := json.Marshal(rec)
			if _, err := cli.Put(t.Context(), k, string(raw)); err != nil {
				t.Fatal(err)
			}
		})
}

func TestChatStateSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.ChatStateSuite(t, func(t *testing.T) flowstest.Backend { return open(t) })
}

// reopen opens a new store on what the old one wrote, as a restart does.
func reopen(t *testing.T, b flowstest.Backend) flowstest.Backend {
	old := b.(*etcdstore.Store)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := etcdstore.New(t.Context(), old.Client(), etcdstore.Options{Prefix: old.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInboxSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.InboxSuite(t, func(t *testing.T) flowstest.Backend { return open(t) }, reopen)
}

func TestOutboxSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.OutboxSuite(t, func(t *testing.T) flowstest.Backend { return open(t) }, reopen)
}

func TestAuditReaderSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.AuditReaderSuite(t, func(t *testing.T) flowstest.Backend { return open(t) })
}

func TestSinkCursorSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.SinkCursorSuite(t, func(t *testing.T) flowstest.SinkCursors { return open(t) },
		func(t *testing.T, c flowstest.SinkCursors) flowstest.SinkCursors {
			return reopen(t, c.(*etcdstore.Store)).(*etcdstore.Store)
		})
}

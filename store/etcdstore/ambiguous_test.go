package etcdstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// lossyKV loses the answer of the next conditional transaction: after
// applying it (applied) or without sending it, it reports that the leader
// changed, as etcd does when a proposal's fate is unknown.
type lossyKV struct {
	clientv3.KV
	armed   atomic.Bool
	applied bool
}

func (k *lossyKV) Txn(ctx context.Context) clientv3.Txn {
	return &lossyTxn{Txn: k.KV.Txn(ctx), kv: k}
}

type lossyTxn struct {
	clientv3.Txn
	kv   *lossyKV
	cond bool
}

func (t *lossyTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.cond = len(cs) > 0
	t.Txn = t.Txn.If(cs...)
	return t
}
func (t *lossyTxn) Then(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(ops...); return t }
func (t *lossyTxn) Else(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Else(ops...); return t }

func (t *lossyTxn) Commit() (*clientv3.TxnResponse, error) {
	if !t.cond || !t.kv.armed.CompareAndSwap(true, false) {
		return t.Txn.Commit()
	}
	if t.kv.applied {
		if _, err := t.Txn.Commit(); err != nil {
			return nil, err
		}
	}
	return nil, rpctypes.ErrLeaderChanged
}

// A change whose answer etcd lost is applied exactly once: settled as
// applied when it was, tried again when it was not.
func TestLostAnswersApplyOnce(t *testing.T) {
	c := etcdtest.Start(t, 1)
	for _, applied := range []bool{true, false} {
		name := map[bool]string{true: "applied, answer lost", false: "not applied"}[applied]
		t.Run(name, func(t *testing.T) {
			cli := c.Client()
			kv := &lossyKV{KV: cli.KV, applied: applied}
			cli.KV = kv
			ctx := t.Context()
			s, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/" + map[bool]string{true: "a", false: "n"}[applied] + "/"})
			if err != nil {
				t.Fatal(err)
			}
			r := flowstest.NewRequest("amb1", "alice@example.com", flowstest.T0)
			if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
				t.Fatal(err)
			}
			kv.armed.Store(true)
			got, err := s.Update(ctx, "amb1", func(r *flows.Request) ([]flows.Event, error) {
				r.Attempts++
				return []flows.Event{{Type: flows.EventProvisionFailed, RequestID: r.ID, Actor: "jitbot", At: flowstest.T0.Add(time.Second), Attempt: r.Attempts}}, nil
			})
			if err != nil || got.Attempts != 1 {
				t.Fatalf("update: %v %v", got, err)
			}
			if kv.armed.Load() {
				t.Fatal("no answer was lost: the test tested nothing")
			}
			if stored, _ := s.Get(ctx, "amb1"); stored.Attempts != 1 {
				t.Fatalf("attempts stored: %d, want 1", stored.Attempts)
			}
			if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 2 {
				t.Fatalf("audit: %+v %v, want 2 records", sum, err)
			}

			kv.armed.Store(true)
			first, err := s.Receive(ctx, flows.InboxItem{Key: "k1", Platform: "slack", ReceivedAt: flowstest.T0})
			if err != nil || !first {
				t.Fatalf("receive whose answer was lost: first=%v %v, want first", first, err)
			}
			if first, err := s.Receive(ctx, flows.InboxItem{Key: "k1", Platform: "slack", ReceivedAt: flowstest.T0}); err != nil || first {
				t.Fatalf("receive again: first=%v %v", first, err)
			}
		})
	}
}

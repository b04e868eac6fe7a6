package etcdstore_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// After a write failed without saying whether it was applied, settling
// its marker tells which, and makes sure a write that had not been
// applied never will be.
func TestSettleAnAmbiguousWrite(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()

	// The write went through before its answer was lost.
	applied := s.Prefix() + "txn/applied"
	if _, err := cli.Put(ctx, applied, ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Settle(ctx, applied); err != nil || !ok {
		t.Fatalf("settle of a write that was applied: %v %v, want applied", ok, err)
	}

	// The write had not been applied: settling says so, and the write,
	// should it reach etcd later, fails on its marker.
	pending := s.Prefix() + "txn/pending"
	if ok, err := s.Settle(ctx, pending); err != nil || ok {
		t.Fatalf("settle of a write that was not applied: %v %v, want not applied", ok, err)
	}
	late, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(pending), "=", 0)).
		Then(clientv3.OpPut(s.Prefix()+"late", "x")).Commit()
	if err != nil || late.Succeeded {
		t.Fatalf("the late write after settling: succeeded=%v %v", late != nil && late.Succeeded, err)
	}
}

// Every write leaves a marker that lives on a lease, so markers do not
// pile up.
func TestMarkersLiveOnALease(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	ctx := t.Context()
	if err := s.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: "jitbot", At: flowstest.T0}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, s.Prefix()+"txn/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("markers after one write: %v %v, want one on a lease", resp.Kvs, err)
	}
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.TTL <= 0 || ttl.TTL > 60 {
		t.Fatalf("the markers' lease: %+v %v", ttl, err)
	}
}

// The jitbot binary links etcd's client, never its server: only tests and
// etcdtest may.
func TestJitbotDoesNotLinkTheEtcdServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(context.Background(), "go", "list", "-deps", "github.com/jitbot/jitbot/cmd/jitbot").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	deps := string(out)
	if !strings.Contains(deps, "go.etcd.io/etcd/client/v3\n") {
		t.Fatal("jitbot does not link etcd's client: is the etcd store wired?")
	}
	for _, banned := range []string{"go.etcd.io/etcd/server/v3", "go.etcd.io/raft/v3", "store/etcdstore/etcdtest"} {
		if strings.Contains(deps, banned) {
			t.Errorf("jitbot links %s", banned)
		}
	}
}

package etcdstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// TestLocksAmongProcesses: two stores, each with its own client, stand for
// two replicas: a key one holds, the other waits for until it is given
// back; other keys go on; nothing of a lock stays once given back.
func TestLocksAmongProcesses(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx := t.Context()
	var clients []*clientv3.Client
	open := func() *etcdstore.Store {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[0].ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		clients = append(clients, cli)
		s, err := etcdstore.New(ctx, cli, etcdstore.Options{Prefix: "/shared/"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(), open()
	const key = "address\x00prod\x0010.0.0.1/32"

	unlockA, err := a.Lock(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The other replica cannot have it meanwhile: it waits, here until
	// its deadline.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.Lock(short, key)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the other replica locked a held key: %v", err)
	}
	// Another key is not held up.
	unlockOther, err := b.Lock(ctx, "address\x00prod\x0010.0.0.2/32")
	if err != nil {
		t.Fatalf("another key: %v", err)
	}
	unlockOther()

	got := make(chan error, 1)
	var unlockB func()
	go func() {
		var err error
		unlockB, err = b.Lock(ctx, key)
		got <- err
	}()
	unlockA()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiting replica, once the key was given back: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting replica never got the key given back")
	}
	unlockB()

	resp, err := clients[0].Get(ctx, "/shared/locks/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d lock keys left once every lock was given back", resp.Count)
	}
}

package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// jitbot serves on etcd when store.etcd is configured: a grant is asked
// for, approved, given and taken back at expiry, and everything it wrote
// is in etcd, under the configured prefix, its audit chain whole.
func TestServeOnEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /e2e/, request_timeout: 10s}}", c.Endpoints()[0]))
	h.Start()
	addr := h.Addr()

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9 checkout errors")
	card := h.WaitDM(rig.Olivia, "Approve")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")
	if n := len(h.Atlas.Users(rig.Project)); n != 1 {
		t.Fatalf("%d Atlas users, want 1", n)
	}
	r := onlyRequest(h)
	clock.Set(r.ExpiresAt)
	h.Main.Sweep(h.Ctx)
	h.WaitDM(rig.Alice, "Access expired")
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("%d Atlas users left after expiry", n)
	}

	// What the running jitbot wrote, read by another process's store.
	s, err := etcdstore.New(h.Ctx, c.Client(), etcdstore.Options{Prefix: "/e2e/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(h.Ctx, r.ID)
	if err != nil || got.State != flows.StateExpired {
		t.Fatalf("request %s in etcd: %v %v", r.ID, got, err)
	}
	sum, err := s.VerifyAudit(h.Ctx)
	if err != nil || sum.Records < 5 {
		t.Fatalf("the audit chain in etcd: %+v %v", sum, err)
	}
	if served, err := h.Main.Store().VerifyAudit(h.Ctx); err != nil || served != sum {
		t.Fatalf("the server's chain %+v (%v) is not the one in etcd %+v", served, err, sum)
	}
	if _, err := h.Main.Store().Backup(io.Discard); !errors.Is(err, app.ErrNoBackupOnEtcd) {
		t.Fatalf("backup on etcd: %v", err)
	}
	// No bbolt file was made beside.
	if _, err := os.Stat(h.StorePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a bbolt store at %s: %v", h.StorePath(), err)
	}
}

// A cluster that cannot be reached fails start-up with the reason, within
// the dial timeout, rather than hanging.
func TestServeOnUnreachableEtcd(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("store: {path: "+h.StorePath()+"}", `store: {etcd: {endpoints: ["http://127.0.0.1:1"], dial_timeout: 500ms, request_timeout: 500ms}}`)
	cfg, err := h.Config()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = app.New(context.Background(), cfg, app.Options{})
	if err == nil || !strings.Contains(err.Error(), "etcdstore") {
		t.Fatalf("start on an unreachable etcd: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("start-up took %v to fail", d)
	}
}

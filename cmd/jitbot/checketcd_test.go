package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// `jitbot check -online` reaches the etcd store the configuration names,
// and says clearly, naming the endpoints, when it cannot.
func TestCheckOnlineReachesEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	h := rigtest.New(t, nil)
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /check/}}", c.Endpoints()[0]))
	code, out := runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 0 || !strings.Contains(out, "store: OK (etcd at "+c.Endpoints()[0]+", prefix /check/)") || !strings.Contains(out, "integration prod: OK") {
		t.Fatalf("check -online on etcd: %d %s", code, out)
	}

	h.EditConfig(fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /check/}}", c.Endpoints()[0]),
		`store: {etcd: {endpoints: ["http://127.0.0.1:1"], dial_timeout: 500ms, request_timeout: 500ms}}`)
	code, out = runCLI("check", "-config", h.ConfigPath, "-online")
	if code != 1 || !strings.Contains(out, "store: FAILED: store: etcd at http://127.0.0.1:1 cannot be reached") || !strings.Contains(out, "integration prod: OK") {
		t.Fatalf("check -online on an unreachable etcd: %d %s", code, out)
	}
}

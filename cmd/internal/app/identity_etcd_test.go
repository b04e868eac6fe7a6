package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// OIDC identity serves on etcd: the sign-in state (the link, the
// sign-in under way, the binding) is kept in etcd, under the store's
// prefix, so any replica finishes what another started; alice links her
// account and her request then goes through.
func TestIdentityOnEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /id/, request_timeout: 10s}}", c.Endpoints()[0]))
	idp, addr := withIdentity(t, h)
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	h.Start()

	h.Slash(addr, rig.Alice, "list")
	link := signInLink.FindString(h.WaitDM(rig.Alice, "Sign in to link").AllText())
	idp.SignInAs(idptest.Login{Subject: "sub-alice"})
	if page := signInHTTP(t, "http://"+addr, link, 2); !strings.Contains(page, "Linked") {
		t.Fatalf("linking alice:\n%s", page)
	}
	resp, err := c.Client().Get(h.Ctx, "/id/signin/binding\x00", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), "sub-alice") {
		t.Fatalf("alice's binding in etcd: %v %v", resp, err)
	}
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9 checkout errors")
	h.WaitDM(rig.Olivia, "INC-9")
}

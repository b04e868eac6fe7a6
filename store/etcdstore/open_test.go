package etcdstore_test

import (
	"context"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// jitbot reaches a cluster that asks for TLS with a client certificate and
// for a user and password, as the configuration says; it fails clearly
// when the password or the CA is wrong.
func TestOpenWithTLSAndPassword(t *testing.T) {
	certs := etcdtest.NewCerts(t)
	c := etcdtest.StartWith(t, etcdtest.Options{Members: 1, TLS: certs})
	admin := c.Client()
	ctx := t.Context()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.UserAdd(ctx, "root", "root-pw"))
	must(admin.UserGrantRole(ctx, "root", "root"))
	must(admin.UserAdd(ctx, "jitbot", "s3cret-pw"))
	must(admin.RoleAdd(ctx, "jitbot"))
	must(admin.RoleGrantPermission(ctx, "jitbot", "/jitbot/", clientv3.GetPrefixRangeEnd("/jitbot/"), clientv3.PermissionType(clientv3.PermReadWrite)))
	must(admin.UserGrantRole(ctx, "jitbot", "jitbot"))
	must(admin.AuthEnable(ctx))

	cfg := etcdstore.Config{
		Endpoints: c.Endpoints(), Username: "jitbot", Password: "s3cret-pw", RequestTimeout: "2s", DialTimeout: "2s",
		TLS: &etcdstore.TLS{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.Client},
	}
	s, err := etcdstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := flowstest.NewRequest("tls1", "alice@example.com", flowstest.T0)
	if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, "k"); err != nil {
		t.Fatal(err)
	}
	if sum, err := s.VerifyAudit(ctx); err != nil || sum.Records != 1 {
		t.Fatalf("over TLS with a password: %+v %v", sum, err)
	}

	wrong := cfg
	wrong.Password = "not-it"
	if _, err := etcdstore.Open(ctx, wrong); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("a wrong password: %v", err)
	}
	untrusted := cfg
	untrusted.TLS = &etcdstore.TLS{CAFile: certs.OtherCA, CertFile: certs.ClientCert, KeyFile: certs.Client}
	untrusted.RequestTimeout = "500ms"
	if _, err := etcdstore.Open(context.Background(), untrusted); err == nil {
		t.Fatal("a cluster whose certificate no trusted CA signed was used")
	}
	// Outside its prefix, jitbot's user may do nothing.
	other := cfg
	other.Prefix = "/elsewhere/"
	if _, err := etcdstore.Open(ctx, other); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("a prefix the user may not write: %v", err)
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func withStore(t *testing.T, store string) []byte {
	t.Helper()
	return []byte(strings.Replace(withSecretFile(t, good), "store: {path: /data/jitbot.db}", store, 1))
}

func TestStoreOnEtcd(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(pw, []byte("etcd-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("jitbot.yaml", withStore(t, `store:
  etcd:
    endpoints: ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]
    prefix: /jitbot-prod/
    dial_timeout: 2s
    request_timeout: 3s
    username: jitbot
    password_file: `+pw), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.StoreEtcd
	if cfg.StorePath != "" || e == nil || len(e.Endpoints) != 2 || e.Prefix != "/jitbot-prod/" || e.Username != "jitbot" || e.Password != "etcd-s3cret" || e.RequestTimeout != "3s" {
		t.Fatalf("store: path %q, etcd %+v", cfg.StorePath, e)
	}
}

func TestStoreOnEtcdProblems(t *testing.T) {
	for _, tt := range []struct{ name, store, want string }{
		{"both", "store: {path: /data/jitbot.db, etcd: {endpoints: [\"http://127.0.0.1:2379\"]}}", "store.etcd: set store.path (a bbolt file: one replica) or store.etcd"},
		{"no endpoints", "store: {etcd: {prefix: /j/}}", "store.etcd.endpoints: required"},
		{"not a URL", "store: {etcd: {endpoints: [\"etcd-0:2379\"]}}", "store.etcd.endpoints[0]: \"etcd-0:2379\" is not an etcd client URL"},
		{"user in the URL", "store: {etcd: {endpoints: [\"http://u:p@etcd-0:2379\"]}}", "store.etcd.endpoints[0]: \"http://u:xxxxx@etcd-0:2379\" carries a user name or password"},
		{"plain http with tls", "store: {etcd: {endpoints: [\"http://etcd-0:2379\"], tls: {}}}", "is plain http but tls is configured"},
		{"password in clear", "store: {etcd: {endpoints: [\"http://etcd-0:2379\"], username: u, password: hunter22}}", "the password would cross the network in clear"},
		{"prefix", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], prefix: jitbot}}", "store.etcd.prefix: \"jitbot\": a prefix starts and ends with /"},
		{"timeout", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], request_timeout: 10ms}}", "store.etcd.request_timeout: 10ms: use between 100ms and 1m"},
		{"bad duration", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], dial_timeout: soon}}", "store.etcd.dial_timeout:"},
		{"password without user", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], password: hunter22}}", "store.etcd.username: set username and password"},
		{"password twice", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], username: u, password: a, password_file: /x}}", "store.etcd.password: set either password or password_file, not both"},
		{"missing password file", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], username: u, password_file: /nonexistent/pw}}", "store.etcd.password_file: cannot read the secret"},
		{"half a client certificate", "store: {etcd: {endpoints: [\"https://etcd-0:2379\"], tls: {cert_file: /x.pem}}}", "store.etcd.tls.cert_file: set cert_file and key_file together"},
		{"missing CA", "store: {etcd: {endpoints: [\"https://etcd-0:2379\"], tls: {ca_file: /nonexistent/ca.pem}}}", "store.etcd.tls.ca_file: cannot read /nonexistent/ca.pem"},
		{"max txn ops", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], max_txn_ops: 8}}", "store.etcd.max_txn_ops: 8"},
		{"unknown key", "store: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], endpoint: x}}", "store.etcd.endpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("jitbot.yaml", withStore(t, tt.store), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q, got:\n%v", tt.want, err)
			}
		})
	}
}

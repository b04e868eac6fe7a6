// Package etcdtest starts real etcd clusters inside the test process, with
// go.etcd.io/etcd/server/v3/embed: one member for fast tests, three for
// the tests that need a quorum (a member stopped and restarted, several
// jitbot processes on one cluster). Every member has its own loopback
// ports and its own data directory under t.TempDir().
//
// Only tests, `jitbot demo`-style rigs and cmd/jitbot-bench may import it:
// it links etcd's server, which the jitbot binary must not.
package etcdtest

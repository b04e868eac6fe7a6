package app_test

import (
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// A copy refuses ends that are one store, or etcd prefixes one inside the
// other on one cluster (it would read what it writes).
func TestCopyEndsThatOverlap(t *testing.T) {
	onEtcd := func(prefix string, eps ...string) app.StoreEnd {
		return app.StoreEnd{Config: &config.Config{StoreEtcd: &etcdstore.Config{Endpoints: eps, Prefix: prefix}}}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		a, b app.StoreEnd
		same bool
	}{
		{"one file", app.StoreEnd{Path: dir + "/a.db"}, app.StoreEnd{Path: dir + "/./a.db"}, true},
		{"two files", app.StoreEnd{Path: dir + "/a.db"}, app.StoreEnd{Path: dir + "/b.db"}, false},
		{"a file and its configuration", app.StoreEnd{Path: dir + "/a.db"}, app.StoreEnd{Config: &config.Config{StorePath: dir + "/a.db"}}, true},
		{"one prefix", onEtcd("", "http://e:2379"), onEtcd("/jitbot/", "http://e:2379"), true},
		{"nested prefixes", onEtcd("/jitbot/", "http://e:2379"), onEtcd("/jitbot/new/", "http://f:2379", "http://e:2379"), true},
		{"two prefixes", onEtcd("/a/", "http://e:2379"), onEtcd("/b/", "http://e:2379"), false},
		{"two clusters", onEtcd("/a/", "http://e:2379"), onEtcd("/a/", "http://f:2379"), false},
		{"bbolt and etcd", app.StoreEnd{Path: dir + "/a.db"}, onEtcd("/a/", "http://e:2379"), false},
	} {
		if got := app.SameStore(tc.a, tc.b); got != tc.same {
			t.Errorf("%s: same=%v, want %v", tc.name, got, tc.same)
		}
	}
}

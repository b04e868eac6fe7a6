package config

import (
	"strings"
	"testing"
	"time"
)

// store.etcd.compaction: how much history the leader keeps, or off.
func TestStoreOnEtcdCompaction(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"", time.Minute}, {"compaction: 15m", 15 * time.Minute}, {"compaction: \"off\"", 0}, {"compaction: off", 0}} {
		cfg, err := Parse("jitbot.yaml", withStore(t, `store: {etcd: {endpoints: ["http://127.0.0.1:2379"], `+tt.value+`}}`), goodEnv)
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if got := cfg.StoreEtcd.CompactionRetention(); got != tt.want {
			t.Errorf("%q: retention %v, want %v", tt.value, got, tt.want)
		}
	}
	_, err := Parse("jitbot.yaml", withStore(t, `store: {etcd: {endpoints: ["http://127.0.0.1:2379"], compaction: 5s}}`), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "store.etcd.compaction: 5s: keep between 1m and 720h") {
		t.Fatalf("a compaction too short: %v", err)
	}
}

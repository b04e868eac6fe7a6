package app

import "context"

// CheckStoreAlarm checks etcd's alarms now, as the leader's schedule does.
func (m *Main) CheckStoreAlarm(ctx context.Context) error { return m.etcd.checkAlarm(ctx) }

// CompactStore runs a step of the etcd compactor now, as the leader's
// schedule does.
func (m *Main) CompactStore(ctx context.Context) error { return m.etcd.compact(ctx) }

var CompactionSchedule = compactionSchedule

// SameStore reports whether a copy's two ends name one store.
var SameStore = same

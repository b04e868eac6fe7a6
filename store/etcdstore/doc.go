// Package etcdstore keeps jitbot's state in etcd, so that several jitbot
// replicas share it (DESIGN §9): requests and their indexes, the one
// hash-chained audit log, chat state, and the side-effect path (inbox,
// outbox and its cursor). It implements the same storage ports as the
// bbolt store (package store) and passes flows/flowstest's suites.
//
// Correctness lives in etcd, never in process memory: every change is one
// etcd transaction conditioned on the revisions of what it read
// (compare-and-swap), retried when another writer got there first, so two
// processes on one cluster behave as one. See etcd.go for the key layout
// and the limits it keeps within.
//
// It imports flows and etcd's client only; never etcd's server (only
// etcdtest and tests do), nor any other adapter.
package etcdstore

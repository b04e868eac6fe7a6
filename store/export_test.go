package store

import bolt "go.etcd.io/bbolt"

// Commits is the number of write transactions committed to d's file so
// far (bbolt's transaction id; each commit is two fdatasyncs, the pages
// then the meta page), for tests and benchmarks that count fsyncs.
func Commits(d *DB) uint64 {
	var id int
	_ = d.bolt.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return uint64(id)
}

// Package record is how the stores (package store on bbolt, package
// etcdstore on etcd) write the domain's values: one encoding for both, so
// that a request, an audit record (and so its hash), an inbox item or a
// delivery reads the same in either store, and a store copied from one to
// the other keeps its audit chain verifying on both sides.
//
// The records mirror the flows types field by field; keeping them apart
// from the domain types means a change to a domain type is a visible
// change here, with its own decision about records written before it.
// The encoding is what release 1 wrote (store/testdata/release-1.db) and
// must stay readable: fields are added, never renamed or retyped.
//
// It imports flows and the standard library only: no bbolt, no etcd.
package record

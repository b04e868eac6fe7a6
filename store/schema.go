package store

import (
	"bytes"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/jitbot/jitbot/flows"
)

// SchemaVersion is the layout this jitbot writes. Open brings a file of an
// earlier version forward (every step in one transaction, so a crash leaves
// the old version whole) and refuses a later one rather than guess at
// records it does not understand.
//
//	1: requests, their indexes, the audit chain, message refs, contacts
//	2: live requests indexed per requester (Submit and list cost the same
//	   whatever a person's history); delivery claims
//	3: the inbox and the outbox with the dispatcher's audit cursor
//	   (flows.Inbox, flows.Outbox; schema_v3.go)
//	4: no delivery claims: the inbox's tombstones recognise redeliveries
const SchemaVersion = 4

// migration brings a file from version to-1 to version to.
type migration struct {
	to   int
	what string
	run  func(tx *bolt.Tx) error
}

// migrations lists every step from version 1 on, in order.
func migrations() []migration {
	return []migration{
		{to: 2, what: "index live requests per requester", run: indexLiveRequests},
		{to: 3, what: "add the inbox and the outbox", run: addSideEffects},
		{to: 4, what: "drop the delivery claims", run: dropClaims},
	}
}

// fileVersion reads the layout version of an existing store; 0 when the
// file has no metadata yet (a new file).
func fileVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("schema version %q is not a version jitbot wrote", raw)
	}
	return v, nil
}

// checkSchema migrates a writable file forward and creates what is missing.
// A read-only open migrates nothing: it reads a file of this version or an
// earlier one (indexes an earlier version lacks are not used).
func (d *DB) checkSchema(readOnly bool) error {
	if readOnly {
		return d.bolt.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketMeta) == nil {
				return fmt.Errorf("store: %s is not a jitbot store (no metadata)", d.path)
			}
			v, err := fileVersion(tx)
			if err == nil && v > SchemaVersion {
				err = fmt.Errorf("schema version %q; this jitbot reads version %d and earlier", strconv.Itoa(v), SchemaVersion)
			}
			if err != nil {
				return fmt.Errorf("store: %s has %w", d.path, err)
			}
			d.version = v
			return nil
		})
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		v, err := fileVersion(tx)
		if err == nil && v > SchemaVersion {
			err = fmt.Errorf("schema version %q; this jitbot reads version %d and earlier (a newer jitbot wrote it)", strconv.Itoa(v), SchemaVersion)
		}
		if err != nil {
			return fmt.Errorf("store: %s has %w", d.path, err)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		if v > 0 {
			for _, m := range migrations() {
				if m.to <= v {
					continue
				}
				if err := m.run(tx); err != nil {
					return fmt.Errorf("store: migrate %s to version %d (%s): %w", d.path, m.to, m.what, err)
				}
				d.migrated = append(d.migrated, m.to)
			}
		}
		d.version = SchemaVersion
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// Migrated lists the versions Open migrated the file to, oldest first
// (empty when the file was new or already current), for the start-up log.
func (d *DB) Migrated() []int { return d.migrated }

// indexLiveRequests (version 2) adds every request that is not over to the
// per-requester live index. It reads them through the state index, so it
// costs what the live requests cost, not the whole history.
func indexLiveRequests(tx *bolt.Tx) error {
	live := tx.Bucket(bucketLive)
	c := tx.Bucket(bucketState).Cursor()
	for _, s := range flows.States() {
		if s.Terminal() {
			continue
		}
		prefix := join([]byte(s), sep)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			r, err := getRequest(tx, flows.RequestID(k[len(prefix)+8:]))
			if err != nil {
				return err
			}
			for _, key := range indexEntries(r)[string(bucketLive)] {
				if err := live.Put(key, nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Version is the file's layout version (see SchemaVersion).
func (d *DB) Version() int { return d.version }

// dropClaims removes the delivery claims of versions 2 and 3, which
// nothing reads since the inbox recognises redeliveries by its tombstones.
func dropClaims(tx *bolt.Tx) error {
	for _, name := range [][]byte{[]byte("claims"), []byte("idx_claims")} {
		if err := tx.DeleteBucket(name); err != nil && err != berrors.ErrBucketNotFound {
			return fmt.Errorf("delete bucket %s: %w", name, err)
		}
	}
	return nil
}

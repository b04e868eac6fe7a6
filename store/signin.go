package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/flows"
)

// prefixSignIn keys, in the meta bucket, the identity provider's sign-in
// state (bot/identity.Records): "signin" 0 kind 0 key -> be64(expires, unix
// ns; 0 for never) + value. Like the audit sinks' cursors they live in meta,
// whose keys any version has, so they need no schema step; they are kept in
// the store, not in memory, so that any replica finishes a sign-in another
// started.
var prefixSignIn = []byte("signin\x00")

func signInKey(kind, key string) []byte {
	return join(prefixSignIn, []byte(kind), []byte{0}, []byte(key))
}

func checkSignInKind(kind, key string) error {
	if kind == "" || strings.ContainsRune(kind, 0) || key == "" {
		return flows.Errorf(flows.EINVALID, "store: sign-in record %q/%q: kind and key must not be empty, and the kind holds no NUL", kind, key)
	}
	return nil
}

// live returns the value of a stored sign-in record, false when it expired.
func signInLive(raw []byte, now time.Time) ([]byte, bool) {
	if len(raw) < 8 {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(raw[:8]))
	if exp != 0 && !now.Before(time.Unix(0, exp)) {
		return nil, false
	}
	return bytes.Clone(raw[8:]), true
}

// PutSignIn implements bot/identity.Records: it writes (or replaces) a
// record that is gone at expires (never, when zero).
func (d *DB) PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSignInKind(kind, key); err != nil {
		return err
	}
	var exp uint64
	if !expires.IsZero() {
		exp = uint64(expires.UnixNano())
	}
	err := d.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(signInKey(kind, key), join(be64(exp), value))
	})
	if err != nil {
		return fmt.Errorf("store: put sign-in %s record: %w", kind, err)
	}
	return nil
}

// SignIn implements bot/identity.Records: the record's value, ENOTFOUND
// when there is none or it expired.
func (d *DB) SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSignInKind(kind, key); err != nil {
		return nil, err
	}
	var out []byte
	var ok bool
	if err := d.bolt.View(func(tx *bolt.Tx) error {
		out, ok = signInLive(tx.Bucket(bucketMeta).Get(signInKey(kind, key)), now)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: read sign-in %s record: %w", kind, err)
	}
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (or it expired)", kind)
	}
	return out, nil
}

// TakeSignIn implements bot/identity.Records: it reads and deletes the
// record in one transaction, so that of two replicas (or two requests)
// taking the same record only one gets it.
func (d *DB) TakeSignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSignInKind(kind, key); err != nil {
		return nil, err
	}
	var out []byte
	var ok bool
	err := d.write(func(tx *bolt.Tx) error {
		meta, k := tx.Bucket(bucketMeta), signInKey(kind, key)
		raw := meta.Get(k)
		if raw == nil {
			ok = false
			return nil
		}
		out, ok = signInLive(raw, now)
		return meta.Delete(k)
	})
	if err != nil {
		return nil, fmt.Errorf("store: take sign-in %s record: %w", kind, err)
	}
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (it was used, or it expired)", kind)
	}
	return out, nil
}

// DeleteSignIn implements bot/identity.Records; deleting what is not
// there succeeds.
func (d *DB) DeleteSignIn(ctx context.Context, kind, key string) error {
	if err := checkSignInKind(kind, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := d.write(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(signInKey(kind, key)) })
	if err != nil {
		return fmt.Errorf("store: delete sign-in %s record: %w", kind, err)
	}
	return nil
}

// EachSignIn implements bot/identity.Records: fn is called with every live
// record of kind, in key order, outside any transaction.
func (d *DB) EachSignIn(ctx context.Context, kind string, now time.Time, fn func(key string, value []byte) error) error {
	if err := checkSignInKind(kind, "-"); err != nil {
		return err
	}
	type kv struct {
		k string
		v []byte
	}
	var all []kv
	prefix := join(prefixSignIn, []byte(kind), []byte{0})
	if err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if val, ok := signInLive(v, now); ok {
				all = append(all, kv{string(k[len(prefix):]), val})
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: list sign-in %s records: %w", kind, err)
	}
	for _, r := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// PurgeSignIns implements bot/identity.Records: it deletes the records
// expired at now and returns how many.
func (d *DB) PurgeSignIns(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := d.write(func(tx *bolt.Tx) error {
		n = 0
		meta := tx.Bucket(bucketMeta)
		var dead [][]byte
		c := meta.Cursor()
		for k, v := c.Seek(prefixSignIn); k != nil && bytes.HasPrefix(k, prefixSignIn); k, v = c.Next() {
			if _, ok := signInLive(v, now); !ok {
				dead = append(dead, bytes.Clone(k))
			}
		}
		for _, k := range dead {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge sign-in records: %w", err)
	}
	return n, nil
}

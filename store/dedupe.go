package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Claim implements flows.Dedupe. A claim is one key in bucketClaims holding
// its lapse time, and one entry in bucketClaimsDue (time first) so that
// PurgeClaims reads only what has lapsed.
func (d *DB) Claim(ctx context.Context, key string, now time.Time, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	first := false
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		claims, due := tx.Bucket(bucketClaims), tx.Bucket(bucketClaimsDue)
		if old := bytes.Clone(claims.Get([]byte(key))); len(old) == 8 {
			if time.Unix(0, int64(binary.BigEndian.Uint64(old))).After(now) {
				return nil // still claimed: a replay
			}
			// Lapsed but not purged yet: as good as absent.
			if err := due.Delete(join(old, sep, []byte(key))); err != nil {
				return err
			}
		}
		first = true
		until := timeKey(now.Add(ttl))
		if err := claims.Put([]byte(key), until); err != nil {
			return err
		}
		return due.Put(join(until, sep, []byte(key)), nil)
	})
	return first, err
}

// PurgeClaims implements flows.Dedupe.
func (d *DB) PurgeClaims(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	limit := timeKey(t)
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		claims, due := tx.Bucket(bucketClaims), tx.Bucket(bucketClaimsDue)
		c := due.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) <= 0; k, _ = c.First() {
			key := k[9:]
			if cur := claims.Get(key); bytes.Equal(cur, k[:8]) {
				if err := claims.Delete(key); err != nil {
					return err
				}
				n++
			}
			if err := due.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

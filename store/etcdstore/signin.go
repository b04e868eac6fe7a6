package etcdstore

import (
	"context"
	"encoding/binary"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/jitbot/jitbot/flows"
)

// The identity provider's sign-in state (bot/identity.Records): one key
// per record, signin/<kind> 0 <key>, holding its expiry (8 bytes,
// big-endian Unix nanoseconds, 0 for never) and its value, as the bbolt
// store holds it. Expiry is the injected clock's, not an etcd lease:
// whether a record is live is decided at the now the caller passes, so a
// test's fake clock and every replica agree; PurgeSignIns removes the dead.

func (s *Store) signInPrefix() string { return s.p + "signin/" }
func (s *Store) signInKindPrefix(kind string) string {
	return s.signInPrefix() + kind + "\x00"
}
func (s *Store) signInKey(kind, key string) string { return s.signInKindPrefix(kind) + key }

func checkSignIn(kind, key string) error {
	if kind == "" || strings.ContainsRune(kind, 0) || key == "" {
		return flows.Errorf(flows.EINVALID, "etcdstore: sign-in record %q/%q: kind and key must not be empty, and the kind holds no NUL", kind, key)
	}
	return nil
}

func encodeSignIn(value []byte, expires time.Time) string {
	var exp [8]byte
	if !expires.IsZero() {
		binary.BigEndian.PutUint64(exp[:], uint64(expires.UnixNano()))
	}
	return string(exp[:]) + string(value)
}

// signInValue is a stored record's value, false when it expired at now
// (or is not a record).
func signInValue(raw []byte, now time.Time) ([]byte, bool) {
	if len(raw) < 8 {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(raw[:8]))
	if exp != 0 && !now.Before(time.Unix(0, exp)) {
		return nil, false
	}
	return append([]byte{}, raw[8:]...), true
}

// PutSignIn implements bot/identity.Records: it writes (or replaces) a
// record that is gone at expires (never, when zero).
func (s *Store) PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	if err := checkSignIn(kind, key); err != nil {
		return err
	}
	return s.retry(ctx, "put sign-in "+kind+" record", func(ctx context.Context) (bool, error) {
		c := &change{}
		c.put(s.signInKey(kind, key), encodeSignIn(value, expires))
		return s.commit(ctx, c)
	})
}

// SignIn implements bot/identity.Records: the record's value, ENOTFOUND
// when there is none or it expired.
func (s *Store) SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	if err := checkSignIn(kind, key); err != nil {
		return nil, err
	}
	var kv *mvccpb.KeyValue
	err := s.read(ctx, "read sign-in "+kind+" record", func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.signInKey(kind, key))
		if err == nil {
			kv = kvs[0]
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if kv != nil {
		if v, ok := signInValue(kv.Value, now); ok {
			return v, nil
		}
	}
	return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (or it expired)", kind)
}

// TakeSignIn implements bot/identity.Records: it reads the record and
// deletes it on condition that nobody changed it since, so that of
// concurrent takers, in any number of replicas, only one gets it. An
// expired record is deleted too, and not returned.
func (s *Store) TakeSignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	if err := checkSignIn(kind, key); err != nil {
		return nil, err
	}
	var out []byte
	var ok bool
	k := s.signInKey(kind, key)
	err := s.retry(ctx, "take sign-in "+kind+" record", func(ctx context.Context) (bool, error) {
		out, ok = nil, false
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil || kvs[0] == nil {
			return err == nil, err
		}
		out, ok = signInValue(kvs[0].Value, now)
		c := &change{}
		c.unchanged(k, kvs[0])
		c.del(k)
		return s.commit(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (it was used, or it expired)", kind)
	}
	return out, nil
}

// DeleteSignIn implements bot/identity.Records; deleting what is not
// there succeeds.
func (s *Store) DeleteSignIn(ctx context.Context, kind, key string) error {
	if err := checkSignIn(kind, key); err != nil {
		return err
	}
	return s.retry(ctx, "delete sign-in "+kind+" record", func(ctx context.Context) (bool, error) {
		c := &change{}
		c.del(s.signInKey(kind, key))
		return s.commit(ctx, c)
	})
}

// EachSignIn implements bot/identity.Records: fn is called with every live
// record of kind, in key order, from one snapshot read page by page, and
// outside any transaction.
func (s *Store) EachSignIn(ctx context.Context, kind string, now time.Time, fn func(key string, value []byte) error) error {
	if err := checkSignIn(kind, "-"); err != nil {
		return err
	}
	prefix := s.signInKindPrefix(kind)
	return s.scan(ctx, "list sign-in "+kind+" records", prefix, 0, func(kv *mvccpb.KeyValue) error {
		v, ok := signInValue(kv.Value, now)
		if !ok {
			return nil
		}
		return fn(string(kv.Key[len(prefix):]), v)
	})
}

// PurgeSignIns implements bot/identity.Records: it deletes the records
// expired at now, each on condition it was not rewritten since it was
// read (a record renewed meanwhile stays), and returns how many.
func (s *Store) PurgeSignIns(ctx context.Context, now time.Time) (int, error) {
	var dead []*mvccpb.KeyValue
	if err := s.scan(ctx, "list sign-in records", s.signInPrefix(), 0, func(kv *mvccpb.KeyValue) error {
		if _, ok := signInValue(kv.Value, now); !ok {
			dead = append(dead, kv)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range dead {
		var gone bool
		err := s.retry(ctx, "purge a sign-in record", func(ctx context.Context) (bool, error) {
			c := &change{}
			c.unchanged(string(kv.Key), kv)
			c.del(string(kv.Key))
			applied, err := s.commit(ctx, c)
			gone = applied
			return true, err // not applied: rewritten since, so live again
		})
		if err != nil {
			return n, err
		}
		if gone {
			n++
		}
	}
	return n, nil
}

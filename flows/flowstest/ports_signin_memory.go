package flowstest

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

var _ SignIns = (*Store)(nil)

// signInRecord is one sign-in record held in memory.
type signInRecord struct {
	value   []byte
	expires time.Time
}

func (r signInRecord) live(now time.Time) bool { return r.expires.IsZero() || now.Before(r.expires) }

func signInMapKey(kind, key string) (string, error) {
	if kind == "" || strings.ContainsRune(kind, 0) || key == "" {
		return "", flows.Errorf(flows.EINVALID, "flowstest: sign-in record %q/%q: kind and key must not be empty, and the kind holds no NUL", kind, key)
	}
	return kind + "\x00" + key, nil
}

// PutSignIn implements bot/identity.Records.
func (s *Store) PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	k, err := signInMapKey(kind, key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signIns == nil {
		s.signIns = map[string]signInRecord{}
	}
	s.signIns[k] = signInRecord{value: bytes.Clone(value), expires: expires}
	return ctx.Err()
}

// SignIn implements bot/identity.Records.
func (s *Store) SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	k, err := signInMapKey(kind, key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.signIns[k]
	if !ok || !r.live(now) {
		return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (or it expired)", kind)
	}
	return bytes.Clone(r.value), ctx.Err()
}

// TakeSignIn implements bot/identity.Records: read and delete at once.
func (s *Store) TakeSignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error) {
	k, err := signInMapKey(kind, key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.signIns[k]
	delete(s.signIns, k)
	if !ok || !r.live(now) {
		return nil, flows.Errorf(flows.ENOTFOUND, "no such %s (it was used, or it expired)", kind)
	}
	return r.value, ctx.Err()
}

// DeleteSignIn implements bot/identity.Records.
func (s *Store) DeleteSignIn(ctx context.Context, kind, key string) error {
	k, err := signInMapKey(kind, key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.signIns, k)
	return ctx.Err()
}

// EachSignIn implements bot/identity.Records, in key order.
func (s *Store) EachSignIn(ctx context.Context, kind string, now time.Time, fn func(key string, value []byte) error) error {
	prefix, err := signInMapKey(kind, "-")
	if err != nil {
		return err
	}
	prefix = prefix[:len(prefix)-1]
	s.mu.Lock()
	var keys []string
	vals := map[string][]byte{}
	for k, r := range s.signIns {
		if strings.HasPrefix(k, prefix) && r.live(now) {
			keys = append(keys, k[len(prefix):])
			vals[k[len(prefix):]] = bytes.Clone(r.value)
		}
	}
	s.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, vals[k]); err != nil {
			return err
		}
	}
	return nil
}

// PurgeSignIns implements bot/identity.Records.
func (s *Store) PurgeSignIns(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.signIns {
		if !r.live(now) {
			delete(s.signIns, k)
			n++
		}
	}
	return n, ctx.Err()
}

package flowstest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// SignIns is the port the identity provider's sign-in state lives behind
// (bot/identity.Records, declared there, where it is used): one-time links,
// the state, nonce and PKCE verifier of a sign-in under way, web sessions
// and bindings, as opaque values under a kind and a key. Its suite is here,
// beside the other storage ports', so that every backend runs it.
type SignIns interface {
	PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error)
	TakeSignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error)
	DeleteSignIn(ctx context.Context, kind, key string) error
	EachSignIn(ctx context.Context, kind string, now time.Time, fn func(key string, value []byte) error) error
	PurgeSignIns(ctx context.Context, now time.Time) (int, error)
}

// SignInSuite checks a backend's sign-in records. reopen, when not nil,
// closes the backend and opens it again, as a restart (or another replica)
// does.
func SignInSuite(t *testing.T, open func(t *testing.T) SignIns, reopen func(t *testing.T, s SignIns) SignIns) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	put := func(t *testing.T, s SignIns, kind, key, v string, exp time.Time) {
		t.Helper()
		if err := s.PutSignIn(ctx, kind, key, []byte(v), exp); err != nil {
			t.Fatalf("put %s/%s: %v", kind, key, err)
		}
	}
	get := func(t *testing.T, s SignIns, kind, key string, now time.Time) (string, error) {
		t.Helper()
		v, err := s.SignIn(ctx, kind, key, now)
		return string(v), err
	}

	t.Run("a record is read until it expires", func(t *testing.T) {
		s := open(t)
		put(t, s, "link", "k1", "v1", t0.Add(10*time.Minute))
		if v, err := get(t, s, "link", "k1", t0.Add(9*time.Minute)); err != nil || v != "v1" {
			t.Fatalf("before expiry: %q, %v", v, err)
		}
		if _, err := get(t, s, "link", "k1", t0.Add(10*time.Minute)); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("at expiry: %v, want ENOTFOUND", err)
		}
		if _, err := s.TakeSignIn(ctx, "link", "k1", t0.Add(11*time.Minute)); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("taking an expired record: %v, want ENOTFOUND", err)
		}
	})

	t.Run("a record with no expiry stays", func(t *testing.T) {
		s := open(t)
		put(t, s, "binding", "slack:U1", "sub", time.Time{})
		if v, err := get(t, s, "binding", "slack:U1", t0.AddDate(10, 0, 0)); err != nil || v != "sub" {
			t.Fatalf("ten years on: %q, %v", v, err)
		}
	})

	t.Run("kinds do not see each other's keys", func(t *testing.T) {
		s := open(t)
		put(t, s, "link", "k", "a link", time.Time{})
		put(t, s, "lin", "kk", "another kind", time.Time{})
		if _, err := get(t, s, "state", "k", t0); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("another kind's key: %v, want ENOTFOUND", err)
		}
		var keys []string
		if err := s.EachSignIn(ctx, "link", t0, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != "k" {
			t.Fatalf("links: %q, want [k]", keys)
		}
	})

	t.Run("a record is taken once", func(t *testing.T) {
		s := open(t)
		put(t, s, "state", "s1", "verifier", t0.Add(time.Minute))
		if v, err := s.TakeSignIn(ctx, "state", "s1", t0); err != nil || string(v) != "verifier" {
			t.Fatalf("first take: %q, %v", v, err)
		}
		if _, err := s.TakeSignIn(ctx, "state", "s1", t0); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("second take: %v, want ENOTFOUND", err)
		}
	})

	t.Run("concurrent takes: exactly one wins", func(t *testing.T) {
		s := open(t)
		put(t, s, "state", "race", "x", t0.Add(time.Minute))
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := s.TakeSignIn(ctx, "state", "race", t0); err == nil {
					won.Add(1)
				} else if flows.ErrorCode(err) != flows.ENOTFOUND {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d takes won, want 1", won.Load())
		}
	})

	t.Run("delete, list and purge", func(t *testing.T) {
		s := open(t)
		put(t, s, "session", "a", "1", t0.Add(time.Hour))
		put(t, s, "session", "b", "2", t0.Add(time.Minute))
		put(t, s, "session", "c", "3", time.Time{})
		if err := s.DeleteSignIn(ctx, "session", "c"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSignIn(ctx, "session", "never"); err != nil {
			t.Fatalf("deleting a missing record: %v", err)
		}
		got := map[string]string{}
		later := t0.Add(2 * time.Minute)
		if err := s.EachSignIn(ctx, "session", later, func(k string, v []byte) error { got[k] = string(v); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got["a"] != "1" {
			t.Fatalf("live sessions: %v, want only a", got)
		}
		n, err := s.PurgeSignIns(ctx, later)
		if err != nil || n != 1 {
			t.Fatalf("purge: %d, %v; want 1 (b)", n, err)
		}
		if v, err := get(t, s, "session", "a", later); err != nil || v != "1" {
			t.Fatalf("a after the purge: %q, %v", v, err)
		}
	})

	t.Run("bad keys are refused", func(t *testing.T) {
		s := open(t)
		for _, kk := range [][2]string{{"", "k"}, {"link", ""}, {"li\x00nk", "k"}} {
			if err := s.PutSignIn(ctx, kk[0], kk[1], nil, time.Time{}); flows.ErrorCode(err) != flows.EINVALID {
				t.Errorf("put %q/%q: %v, want EINVALID", kk[0], kk[1], err)
			}
		}
	})

	if reopen != nil {
		t.Run("records survive a restart", func(t *testing.T) {
			s := open(t)
			put(t, s, "state", "s", "v", t0.Add(time.Hour))
			s = reopen(t, s)
			if v, err := s.TakeSignIn(ctx, "state", "s", t0); err != nil || string(v) != "v" {
				t.Fatalf("after a restart: %q, %v", v, err)
			}
		})
	}
}

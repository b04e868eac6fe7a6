package teams

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// TestMain refuses any connection that leaves the machine, so a test that accidentally reaches
// a real Microsoft URL (hard-coded in msbotbuilder-go, or a default) fails instead of calling out.
func TestMain(m *testing.M) {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		guarded := tr.Clone()
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		guarded.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if !isLoopback(host) {
				return nil, fmt.Errorf("test network guard: refusing to dial %s", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		}
		http.DefaultTransport = guarded
	}
	os.Exit(m.Run())
}

// fakeClock is a settable clock whose Sleep advances time instead of blocking, so retry and
// pacing tests run instantly and measure waits exactly.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// mustErrorIs fails unless err wraps want.
func mustErrorIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

package flowstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// SinkCursors is the port the audit sinks keep their place with
// (store/auditsink.Cursors, declared there, where it is used): the last
// audit sequence number each sink acknowledged. Its suite is here, beside
// the other storage ports', so that every backend runs it.
type SinkCursors interface {
	SinkCursor(ctx context.Context, sink string) (uint64, error)
	AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error
}

// SinkCursorSuite checks a backend's sink cursors. reopen, when not nil,
// closes the backend and opens it again, as a restart does.
func SinkCursorSuite(t *testing.T, open func(t *testing.T) SinkCursors, reopen func(t *testing.T, c SinkCursors) SinkCursors) {
	ctx := context.Background()
	read := func(t *testing.T, c SinkCursors, sink string) uint64 {
		t.Helper()
		seq, err := c.SinkCursor(ctx, sink)
		if err != nil {
			t.Fatalf("cursor of %q: %v", sink, err)
		}
		return seq
	}
	advance := func(t *testing.T, c SinkCursors, sink string, seq uint64) {
		t.Helper()
		if err := c.AdvanceSinkCursor(ctx, sink, seq); err != nil {
			t.Fatalf("advance %q to %d: %v", sink, seq, err)
		}
	}

	t.Run("a sink never acknowledged starts before the first record", func(t *testing.T) {
		if got := read(t, open(t), "siem"); got != 0 {
			t.Fatalf("a new sink's cursor is %d, want 0", got)
		}
	})

	t.Run("each sink has its own cursor", func(t *testing.T) {
		c := open(t)
		advance(t, c, "siem", 7)
		advance(t, c, "siem-eu", 3) // a name that extends another's
		advance(t, c, "sie", 1)
		for sink, want := range map[string]uint64{"siem": 7, "siem-eu": 3, "sie": 1, "other": 0} {
			if got := read(t, c, sink); got != want {
				t.Errorf("cursor of %q: %d, want %d", sink, got, want)
			}
		}
	})

	t.Run("a cursor never moves back", func(t *testing.T) {
		// A late acknowledgement (a streamer replaced while it sent) must not
		// make a sink receive again what it acknowledged since.
		c := open(t)
		advance(t, c, "siem", 10)
		advance(t, c, "siem", 4)
		if got := read(t, c, "siem"); got != 10 {
			t.Fatalf("cursor after a lower advance: %d, want 10", got)
		}
		advance(t, c, "siem", 11)
		if got := read(t, c, "siem"); got != 11 {
			t.Fatalf("cursor: %d, want 11", got)
		}
	})

	t.Run("an empty sink name is refused", func(t *testing.T) {
		if err := open(t).AdvanceSinkCursor(ctx, "", 1); err == nil {
			t.Fatal("advanced the cursor of a sink with no name")
		}
	})

	t.Run("concurrent advances keep the highest", func(t *testing.T) {
		c := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 5 {
					if err := c.AdvanceSinkCursor(ctx, fmt.Sprint("s", i%2), uint64(i*10+j)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if s0, s1 := read(t, c, "s0"), read(t, c, "s1"); s0 != 64 || s1 != 74 {
			t.Fatalf("cursors s0=%d s1=%d, want 64 and 74", s0, s1)
		}
	})

	if reopen != nil {
		t.Run("cursors survive a restart", func(t *testing.T) {
			c := open(t)
			advance(t, c, "siem", 42)
			c = reopen(t, c)
			if got := read(t, c, "siem"); got != 42 {
				t.Fatalf("cursor after a restart: %d, want 42", got)
			}
		})
	}
}

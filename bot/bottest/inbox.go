package bottest

import (
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// NewInbox is an inbox on st, closed when the test ends, for platforms a test builds by hand.
func NewInbox(t testing.TB, st flows.Inbox) *bot.Inbox {
	t.Helper()
	in, err := bot.NewInbox(bot.InboxConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in
}

// InboxDepth is how many deliveries st holds unfinished.
func InboxDepth(t testing.TB, st flows.Inbox) int {
	t.Helper()
	n, _, err := st.InboxDepth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Resume is a restart after a crash right after the acks: restart builds a new process on the
// same store, idle processes what the inbox holds, and then nothing may be left in it.
func Resume(t testing.TB, st flows.Inbox, restart, idle func()) {
	t.Helper()
	restart()
	idle()
	if n := InboxDepth(t, st); n != 0 {
		t.Errorf("inbox holds %d items after the restart processed it", n)
	}
}

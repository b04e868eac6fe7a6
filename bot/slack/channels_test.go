package slack

import (
	"context"
	"testing"
	"time"
)

// TestChannelIDsByName: a #name is found among the bot's channels in any
// case and with or without its '#'; one list answers every name it holds
// for an hour, and a name it lacks is not looked for again for minutes.
func TestChannelIDsByName(t *testing.T) {
	h := newHarness(t)
	h.slack.AddPrivateChannel("CSEC", "sec-approvals")
	d := newChannelDirectory(h.bot.api, h.clock)
	lookup := func(name string) (string, bool) {
		t.Helper()
		id, found, err := d.id(h.ctx, h.bot.callNow, name)
		if err != nil {
			t.Fatal(err)
		}
		return id, found
	}
	if id, ok := lookup("#DB-Access"); !ok || id != "CAPPROVALS" {
		t.Errorf("#DB-Access: %q %v, want CAPPROVALS", id, ok)
	}
	if id, ok := lookup("sec-approvals"); !ok || id != "CSEC" {
		t.Errorf("sec-approvals (private): %q %v, want CSEC", id, ok)
	}
	if n := h.slack.CountCalls("users.conversations"); n != 1 {
		t.Errorf("%d lists for two names of one list, want 1", n)
	}
	if _, ok := lookup("#nowhere"); ok {
		t.Error("#nowhere was found")
	}
	h.slack.AddChannel("CNEW", "#nowhere")
	if _, ok := lookup("#nowhere"); ok {
		t.Error("#nowhere looked for again at once")
	}
	h.clock.Advance(channelAbsentTTL + time.Second)
	if id, ok := lookup("#nowhere"); !ok || id != "CNEW" {
		t.Errorf("#nowhere after %v: %q %v, want CNEW", channelAbsentTTL, id, ok)
	}
	if n := h.slack.CountCalls("users.conversations"); n != 3 {
		t.Errorf("%d lists, want 3", n)
	}

	// Slack refusing the list is an error, not "no such channel".
	h.slack.Refuse("users.conversations", 1, "missing_scope")
	if _, _, err := newChannelDirectory(h.bot.api, h.clock).id(context.Background(), h.bot.callNow, "#db-access"); err == nil {
		t.Error("a refused list was no error")
	}
}

func TestIsChannelName(t *testing.T) {
	for where, want := range map[string]bool{
		"#db-access": true, "db-access": true, "general": true, "#C0123": true,
		"C0123ABCD": false, "G0123ABCD": false, "D0123ABCD": false, "U0123ABCD": false,
	} {
		if got := isChannelName(where); got != want {
			t.Errorf("isChannelName(%q) = %v, want %v", where, got, want)
		}
	}
}

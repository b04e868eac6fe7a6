package bot_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot"
)

// TestInvisibleCharactersInNamesAreRefused: a database or collection name
// typed with a right-to-left override or a zero-width space (which make a
// name look like another on the approver's card) is refused where the
// command is parsed, naming the code point and never echoing it.
func TestInvisibleCharactersInNamesAreRefused(t *testing.T) {
	for _, tc := range []struct{ text, codePoint string }{
		{"request prod/Cluster0/sales/ord\u202esredro read 1h INC-1", "U+202E"},
		{"request prod/Cluster0/sa\u200bles read 1h INC-1", "U+200B"},
		{"request prod/Cluster0/sales/orders\u200b read 1h INC-1", "U+200B"},
	} {
		_, err := bot.Parse(tc.text)
		if err == nil {
			t.Errorf("%q was accepted", tc.text)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.codePoint) || strings.ContainsAny(msg, "\u202e\u200b") {
			t.Errorf("%q: %q should name %s and not contain it", tc.text, msg, tc.codePoint)
		}
	}
	// Markup is not invisible: it stays a valid name and is escaped where
	// it is shown (see the platforms' markup tests).
	if _, err := bot.Parse("request prod/Cluster0/sales/<!channel> read 1h INC-1"); err != nil {
		t.Errorf("a collection named <!channel>: %v", err)
	}
}

package flows_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/flows"
)

// clearError fails the test unless err is an EINVALID error whose message a
// person can read: not empty, valid UTF-8, and bounded in length whatever the
// input was.
func clearError(t *testing.T, in string, err error) {
	t.Helper()
	if code := flows.ErrorCode(err); code != flows.EINVALID {
		t.Fatalf("%q: code %s, want invalid: %v", in, code, err)
	}
	if msg := flows.ErrorMessage(err); msg == "" || !utf8.ValidString(msg) || len(msg) > 400 {
		t.Fatalf("%q: unclear message %q", in, msg)
	}
	if msg := flows.ErrorMessage(err); strings.ContainsFunc(msg, invisible) {
		t.Fatalf("%q: the message repeats an invisible or control character: %q", in, msg)
	}
}

// FuzzParseDuration proves ParseDuration never panics, refuses with a clear
// error, and that whatever it accepts is positive, bounded, whole minutes,
// and printed by FormatDuration in a form it reads back to the same value.
// Its seed corpus runs as a normal test.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"", "30m", "2h", "1h30m", "1d", " 1D2H3M ", "0m", "90", "m", "1s", "1h-", "-1h", "1.5h",
		"10000d", "10001d", "10000d10000d", "99999999999999999999m", "1h1h1h", "0d0h1m", "\x00", "１h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := flows.ParseDuration(s)
		if err != nil {
			clearError(t, s, err)
			return
		}
		if d <= 0 || d > 10000*24*time.Hour || d%time.Minute != 0 {
			t.Fatalf("ParseDuration(%q) = %v: not a positive, bounded number of minutes", s, d)
		}
		back, err := flows.ParseDuration(flows.FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, printed %q, read back as %v, %v", s, d, flows.FormatDuration(d), back, err)
		}
	})
}

// FuzzParseResource proves ParseResource never panics, refuses with a clear
// error, and that whatever it accepts validates, prints as what was typed
// (trimmed), and parses back to itself.
func FuzzParseResource(f *testing.F) {
	for _, s := range []string{
		"prod/Cluster0/sales/orders", " prod/Cluster0/sales ", "prod/Cluster0", "a/b/c/d/e", "prod/Cluster0/sales/",
		"Prod/Cluster0/sales", "prod/-x/sales", "prod/Cluster0/admin", "prod/Cluster0/sales/system.users",
		"prod/Cluster0/sa.les", "prod/Cluster0/sales/a$b", "prod/Cluster0/" + strings.Repeat("d", 64), "///", "\x00/\x00/\x00",
		"prod/Cluster0/sales/ orders", "prod/Cluster0/ventes/commandes-été",
		// Control and format characters (Unicode Cc, Cf) in each part, and
		// text that is not UTF-8: refused by code point, never repeated.
		"prod/Cluster0/sales/ord\u202eers", "prod/Cluster0/sa\u200bles/orders", "prod/Clus\u200dter0/sales",
		"\ufeffprod/Cluster0/sales", "prod/Cluster0/sales/or\nders", "prod/Cluster0/sales/or\tders",
		"prod/Cluster0/sales/or\x00ders", "prod/Cluster0/sales/\u2066x\u2069", "prod/Cluster0/sales/\u0085",
		"prod/Cluster0/sal\xffes", "prod/Cluster0/sales/orders\n", "\u202eprod/Cluster0/sales",
		// What MongoDB allows stays allowed; escaping is the chat layer's job.
		"prod/Cluster0/sales/<!channel>", "prod/Cluster0/sales/注文",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := flows.ParseResource(s)
		if err != nil {
			clearError(t, s, err)
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseResource(%q) = %+v, which does not validate: %v", s, r, err)
		}
		if strings.ContainsFunc(r.String(), invisible) {
			t.Fatalf("ParseResource(%q) accepted an invisible or control character: %+q", s, r.String())
		}
		// Names with spaces are shown quoted (acme/"Project 0"/...): only
		// text without quotes or spaces prints back as it was typed.
		if !strings.ContainsAny(strings.TrimSpace(s), "\" ") && r.String() != strings.TrimSpace(s) {
			t.Fatalf("ParseResource(%q) prints as %q", s, r.String())
		}
		back, err := flows.ParseResource(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseResource(%q) = %+v; its text reads back as %+v, %v", s, r, back, err)
		}
	})
}

// TestErrorsQuoteABoundedExcerpt is the regression test for what
// FuzzParseResource and FuzzParseDuration found: refusals quoted the whole
// input, so a forged form field of a megabyte came back as a megabyte of
// error message (four times that in \x escapes).
func TestErrorsQuoteABoundedExcerpt(t *testing.T) {
	long := strings.Repeat("\xd1", 100_000)
	// A name that is not UTF-8 is refused without being quoted at all, so the
	// long database name is valid UTF-8.
	longName := strings.Repeat("é", 50_000)
	for name, err := range map[string]error{
		"resource": func() error { _, err := flows.ParseResource(long); return err }(),
		"database": func() error { _, err := flows.ParseResource("prod/Cluster0/" + longName); return err }(),
		"duration": func() error { _, err := flows.ParseDuration("A" + long); return err }(),
		"role":     flows.ValidateRole(long),
		"email":    func() error { _, err := flows.NormalizeEmail(long); return err }(),
	} {
		msg := flows.ErrorMessage(err)
		if err == nil || len(msg) > 400 || !strings.Contains(msg, "…") {
			t.Errorf("%s: %d bytes: %.200q", name, len(msg), msg)
		}
	}
	if _, err := flows.ParseResource("prod/Cluster0/" + strings.Repeat("é", 40)); !strings.Contains(flows.ErrorMessage(err), strings.Repeat("é", 32)+"…") {
		t.Errorf("the excerpt splits a character: %q", flows.ErrorMessage(err))
	}
}

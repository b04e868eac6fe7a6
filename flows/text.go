package flows

import (
	"unicode"
	"unicode/utf8"
)

// Names and reasons travel from one person to others (approvers read what
// a requester typed) and into the audit log, so characters that make text
// show differently from what it is are refused where the text comes in.
// Escaping what remains for each chat platform is the chat layer's job.

// invisible reports whether c is a control (Cc) or format (Cf) character:
// NUL, newline and tab, the bidirectional controls such as U+202E
// RIGHT-TO-LEFT OVERRIDE, zero-width spaces and joiners, and the like. None
// of them shows as itself, so a name holding one is not the name it seems.
func invisible(c rune) bool {
	return unicode.Is(unicode.Cc, c) || unicode.Is(unicode.Cf, c)
}

// checkNameText refuses a name (what is "integration", "cluster",
// "database" or "collection") that is not valid UTF-8 or holds an invisible
// character. The message names the character by its code point and never
// repeats it.
func checkNameText(what, name string) error {
	if !utf8.ValidString(name) {
		return Errorf(EINVALID, "the %s name is not valid UTF-8 text", what)
	}
	for _, c := range name {
		if invisible(c) {
			return Errorf(EINVALID, "the %s name contains %U (an invisible or control character)", what, c)
		}
	}
	return nil
}

// bidiControl reports whether c is a bidirectional embedding, override or
// isolate (U+202A–U+202E, U+2066–U+2069): they reorder the text that follows,
// so a reason could read one way to its approver and say another (the
// "Trojan Source" trick). The marks U+200E, U+200F and U+061C only nudge the
// direction of neighbouring punctuation and stay allowed.
func bidiControl(c rune) bool {
	return c >= '\u202a' && c <= '\u202e' || c >= '\u2066' && c <= '\u2069'
}

// checkReason refuses free text (a request's reason, a denial's, a
// revocation's) that is not valid UTF-8, holds a bidirectional control, or
// holds a control character other than tab, newline and carriage return:
// those have no place in typed text and could drive the terminal of an
// admin reading the audit log. Line breaks stay, as do other format
// characters people use: emoji joiners, soft hyphens, direction marks.
func checkReason(reason string) error {
	if !utf8.ValidString(reason) {
		return Errorf(EINVALID, "the reason is not valid UTF-8 text")
	}
	for _, c := range reason {
		if c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if unicode.Is(unicode.Cc, c) || bidiControl(c) {
			return Errorf(EINVALID, "the reason contains %U (an invisible or control character); write it again without it", c)
		}
	}
	return nil
}

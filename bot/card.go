package bot

import (
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Tone is the mood of a card; platforms show it as a colour or an icon.
type Tone string

// Tones.
const (
	ToneInfo    Tone = "info"    // something to know or to decide
	ToneGood    Tone = "good"    // approved, active, done
	ToneWarning Tone = "warning" // something slow or about to end
	ToneAlert   Tone = "alert"   // denied, failed, needs an admin
	ToneMuted   Tone = "muted"   // over: expired, cancelled, timed out
)

// ButtonStyle is how prominent a button is.
type ButtonStyle string

// Button styles.
const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button is an action offered on a card. ActionID is an Action's ID.
type Button struct {
	Label    string
	ActionID string
	Style    ButtonStyle
	// Confirm, when set, is the question to ask before acting, on platforms
	// that can ask.
	Confirm string
	// ReasonRequired marks a Deny whose request's flow requires a reason:
	// platforms that ask for it in the card itself require an answer there
	// (flows checks again either way).
	ReasonRequired bool
}

// Field is one labelled fact on a card.
type Field struct {
	Label string
	Value string
	// Mono asks for a fixed-width, copyable rendering (usernames, passwords,
	// connection strings) that no markup may alter.
	Mono bool
	// Sensitive marks a secret (the password): Card redacts it when logged or
	// printed. Only the credentials views set it.
	Sensitive bool
}

// Card is a platform-neutral message: a title, facts, free text, a status
// line and buttons. Text values are plain text; the platforms escape them for
// their markup.
type Card struct {
	Title    string
	Subtitle string
	Fields   []Field
	Text     string
	// Status says where things stand: who decided and when, or what happens
	// next.
	Status  string
	Actions []Button
	Tone    Tone
}

// Summary is a one-line plain-text version of the card, for notifications
// and clients that cannot show rich content. It never contains a secret.
func (c Card) Summary() string {
	if c.Subtitle == "" {
		return c.Title
	}
	return c.Title + ": " + c.Subtitle
}

// Truncate cuts s to at most n runes, marking the cut, for the platforms'
// length limits: a cut text reads the same on every platform.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// HasSecret reports whether the card carries a sensitive field.
func (c Card) HasSecret() bool {
	for _, f := range c.Fields {
		if f.Sensitive {
			return true
		}
	}
	return false
}

// Redacted returns a copy of the card with sensitive values replaced.
func (c Card) Redacted() Card {
	out := c
	out.Fields = make([]Field, len(c.Fields))
	for i, f := range c.Fields {
		if f.Sensitive {
			f.Value = "[REDACTED]"
		}
		out.Fields[i] = f
	}
	return out
}

// LogValue keeps secrets out of logs: a card is logged as its title and
// status only.
func (c Card) LogValue() slog.Value {
	return slog.GroupValue(slog.String("title", c.Title), slog.String("status", c.Status), slog.Int("buttons", len(c.Actions)))
}

// String prints the card without its secrets.
func (c Card) String() string {
	r := c.Redacted()
	var b strings.Builder
	b.WriteString(r.Summary())
	for _, f := range r.Fields {
		b.WriteString("\n" + f.Label + ": " + f.Value)
	}
	if r.Text != "" {
		b.WriteString("\n" + r.Text)
	}
	if r.Status != "" {
		b.WriteString("\n" + r.Status)
	}
	for _, a := range r.Actions {
		b.WriteString("\n[" + a.Label + "]")
	}
	return b.String()
}

// GoString prints the card without its secrets, for %#v.
func (c Card) GoString() string { return "bot.Card{" + c.String() + "}" }

// Viewer is who a view is rendered for.
type Viewer struct {
	// Email is the person looking; empty for a shared audience such as an
	// approvals channel, where any approver may act.
	Email string
	// Location is the viewer's time zone; nil means UTC.
	Location *time.Location
}

func (v Viewer) loc() *time.Location {
	if v.Location == nil {
		return time.UTC
	}
	return v.Location
}

// FormatTime prints t for the viewer: "Mon 23 Nov 10:00 CET".
func (v Viewer) FormatTime(t time.Time) string {
	return t.In(v.loc()).Format("Mon 2 Jan 15:04 MST")
}

// FormatClock prints the time of day only, when the day is obvious: "10:00 CET".
func (v Viewer) FormatClock(t time.Time) string {
	return t.In(v.loc()).Format("15:04 MST")
}

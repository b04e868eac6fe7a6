package bot

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Actor is the person behind a command or a click, as their platform
// identified them.
type Actor struct {
	// Platform is where they acted (a Platform's Name): the origin of what
	// they ask for, and the Wording of the answer.
	Platform string
	Email    string
	// Location is their time zone; nil means UTC.
	Location *time.Location
	// UserID is the platform's id of the person, for logs.
	UserID string
	// Ref names the delivery (a trigger id, an activity id): logged, and
	// shown with an internal error so that the log can be found.
	Ref string
}

// Viewer is the actor looking at an answer.
func (a Actor) Viewer() Viewer { return Viewer{Email: a.Email, Location: a.Location} }

// Reply is the engine's answer to a command or a click. The platform
// delivers it its own way (Slack through the response_url or an ephemeral
// message, Teams in the 1:1 chat or in place of the form). At most one of
// Card, List and Form is set; none means there is nothing to say, as after
// an approval, whose cards update through the notices.
type Reply struct {
	Card *Card
	List *List
	// Form lists what the person may ask for, to be offered in the request
	// form; never empty when set.
	Form []flows.Choice
	// Prefill, with Form, opens the form filled in (request again).
	Prefill *Prefill
	// Err is the refusal Card explains, for platforms that show refusals
	// apart.
	Err error
}

// List is an answer made of several requests: list, pending.
type List struct {
	Title string
	// Empty is said when there is no request.
	Empty string
	Items []ListItem // newest first
}

// ListItem is one request of a List, as the viewer sees it (SummaryCard).
type ListItem struct {
	RequestID flows.RequestID
	Card      Card
}

// NewList makes the list of rs as v sees them.
func NewList(title, empty string, rs []*flows.Request, v Viewer) List {
	l := List{Title: title, Empty: empty}
	for _, r := range rs {
		l.Items = append(l.Items, ListItem{RequestID: r.ID, Card: SummaryCard(r, v)})
	}
	return l
}

// Head is the card that heads the list, saying so when it is empty.
func (l List) Head() Card {
	c := Card{Title: l.Title, Tone: ToneInfo}
	if len(l.Items) == 0 {
		c.Text = l.Empty
	}
	return c
}

// UsageCard explains the access command in a platform's words, or what
// was wrong with a command (problem, a Parse error).
func UsageCard(w Wording, problem error) Card {
	c := Card{Title: w.UsageTitle, Text: Usage() + "\n\n" + w.UsageHint, Tone: ToneInfo}
	if problem != nil {
		c.Title = "That command did not work"
		c.Subtitle = flows.ErrorMessage(problem)
		c.Tone = ToneAlert
	}
	return c
}

// Refused answers a person whose command or click failed: why, in words
// safe to show (ErrorCard). Internal errors and unavailable dependencies
// are logged as warnings, an internal one shown with the actor's Ref to
// find the log; refusals are logged as information. Platforms call it for
// what fails before the engine is reached (who the person is, a button
// nobody made).
func (e *Engine) Refused(ctx context.Context, who Actor, err error) Reply {
	c := ErrorCard(err)
	switch code := flows.ErrorCode(err); code {
	case flows.EINTERNAL, flows.EUNAVAILABLE:
		e.log.WarnContext(ctx, "request failed", "platform", who.Platform, "user_id", who.UserID, "ref", who.Ref, "err", err)
		if code == flows.EINTERNAL && who.Ref != "" {
			c.Status = "Reference: " + who.Ref
		}
	default:
		e.log.InfoContext(ctx, "request refused", "platform", who.Platform, "user_id", who.UserID, "code", string(code), "reason", flows.ErrorMessage(err))
	}
	return Reply{Card: &c, Err: err}
}

// wording is how the actor's platform words things; zero for a platform
// not registered.
func (e *Engine) wording(platform string) Wording {
	if p, ok := e.platform(platform); ok {
		return p.Wording()
	}
	return Wording{}
}

// cardReply answers with one card.
func cardReply(c Card) Reply { return Reply{Card: &c} }

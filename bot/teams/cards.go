package teams

import (
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
)

// Adaptive Card constants. Version 1.4 is what Teams renders on every client; nothing used
// here is newer (labels, isRequired and associatedInputs are 1.3).
const (
	cardContentType = "application/vnd.microsoft.card.adaptive"
	cardSchema      = "http://adaptivecards.io/schemas/adaptive-card.json"
	cardVersion     = "1.4"

	// dataKey is the key of every Action.Submit's data that jitbot reads: an opaque action id
	// from package bot, or formMarker. Teams merges data and inputs into the activity's value.
	dataKey    = "jitbot"
	formMarker = "request"

	// inputReason is the id of the deny form's reason.
	inputReason = "reason"

	// maxSummary bounds the activity summary Teams shows in notifications.
	maxSummary = 300
	// maxTopActions is how many buttons Teams shows in a card's action bar.
	maxTopActions = 6
)

// adaptiveCard is an Adaptive Card, typed so that what is sent is exactly what the golden
// files show (field order is fixed; empty fields are left out).
type adaptiveCard struct {
	Type         string         `json:"type"`
	Schema       string         `json:"$schema,omitempty"`
	Version      string         `json:"version,omitempty"`
	FallbackText string         `json:"fallbackText,omitempty"`
	MSTeams      *msteamsOpts   `json:"msteams,omitempty"`
	Body         []element      `json:"body"`
	Actions      []actionButton `json:"actions,omitempty"`
}

type msteamsOpts struct {
	Width string `json:"width,omitempty"`
}

// element is any body element jitbot uses: RichTextBlock, Container, Input.Text,
// Input.ChoiceSet. Text always goes in TextRuns, which Adaptive Cards never read as Markdown:
// a reason such as "[approve here](https://evil)" shows as typed.
type element struct {
	Type      string    `json:"type"`
	ID        string    `json:"id,omitempty"`
	Spacing   string    `json:"spacing,omitempty"`
	Separator bool      `json:"separator,omitempty"`
	Inlines   []textRun `json:"inlines,omitempty"`
	// Container: style is also Input.ChoiceSet's ("compact").
	Style string    `json:"style,omitempty"`
	Bleed bool      `json:"bleed,omitempty"`
	Items []element `json:"items,omitempty"`
	// Inputs.
	Label        string   `json:"label,omitempty"`
	Placeholder  string   `json:"placeholder,omitempty"`
	Value        string   `json:"value,omitempty"`
	IsMultiline  bool     `json:"isMultiline,omitempty"`
	MaxLength    int      `json:"maxLength,omitempty"`
	IsRequired   bool     `json:"isRequired,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	Choices      []choice `json:"choices,omitempty"`
}

type textRun struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	FontType string `json:"fontType,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Color    string `json:"color,omitempty"`
}

type choice struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type actionButton struct {
	Type             string            `json:"type"`
	Title            string            `json:"title"`
	Style            string            `json:"style,omitempty"`
	AssociatedInputs string            `json:"associatedInputs,omitempty"`
	Data             map[string]string `json:"data,omitempty"`
	Card             *adaptiveCard     `json:"card,omitempty"`
}

func newCard(summary string, body []element, actions []actionButton) adaptiveCard {
	return adaptiveCard{
		Type: "AdaptiveCard", Schema: cardSchema, Version: cardVersion,
		FallbackText: markdownText(bot.Truncate(summary, maxSummary)), MSTeams: &msteamsOpts{Width: "Full"},
		Body: body, Actions: actions,
	}
}

// markdownMarkup escapes what Teams would read as markup in Markdown or HTML: a link
// ([text](url), <https://...>, <a href>), a mention (<at>) or an entity. Entities rather than
// backslashes, which not every Teams client honours: one that does not decode them shows the
// entity, and still no link.
var markdownMarkup = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "[", "&#91;", "]", "&#93;")

// markdownText makes plain text safe where Teams reads Markdown: a card's fallback text and a
// message's summary and text. Card bodies need no escaping: every word in them is a TextRun,
// which Teams shows as typed.
func markdownText(s string) string { return markdownMarkup.Replace(s) }

// run is plain text in a card: TextRuns are never read as Markdown, so people's words (a
// reason, a collection name) show exactly as typed and link or ping nobody.
func run(text string) textRun { return textRun{Type: "TextRun", Text: text} }

func richText(runs ...textRun) element { return element{Type: "RichTextBlock", Inlines: runs} }

// toneStyle shows a card's tone as the colour of its header.
func toneStyle(t bot.Tone) string {
	switch t {
	case bot.ToneGood:
		return "good"
	case bot.ToneWarning:
		return "warning"
	case bot.ToneAlert:
		return "attention"
	case bot.ToneMuted:
		return "default"
	}
	return "emphasis"
}

func buttonStyle(s bot.ButtonStyle) string {
	switch s {
	case bot.StylePrimary:
		return "positive"
	case bot.StyleDanger:
		return "destructive"
	}
	return ""
}

// renderCard turns a card into an Adaptive Card: a coloured header with the title and
// subtitle, the fields (fixed-width ones on their own line, for copying), the text, the
// status, and the buttons.
func renderCard(c bot.Card) adaptiveCard {
	title := run(c.Title)
	title.Weight, title.Size = "Bolder", "Medium"
	header := element{Type: "Container", Style: toneStyle(c.Tone), Bleed: true, Items: []element{richText(title)}}
	if c.Subtitle != "" {
		header.Items = append(header.Items, richText(run(c.Subtitle)))
	}
	body := []element{header}
	for _, f := range c.Fields {
		body = append(body, renderField(f)...)
	}
	if c.Text != "" {
		body = append(body, paragraphs(c.Text)...)
	}
	if c.Status != "" {
		status := run(c.Status)
		status.IsSubtle = true
		el := richText(status)
		el.Separator, el.Spacing = true, "Medium"
		body = append(body, el)
	}
	return newCard(c.Summary(), body, renderButtons(c.Actions))
}

func renderField(f bot.Field) []element {
	label := run(f.Label + ": ")
	label.Weight = "Bolder"
	if !f.Mono {
		el := richText(label, run(f.Value))
		el.Spacing = "Small"
		return []element{el}
	}
	// Usernames, passwords and connection strings get a line of their own in a fixed-width
	// font, so that a triple click copies exactly the value.
	label.Text = f.Label
	value := run(f.Value)
	value.FontType = "Monospace"
	first, second := richText(label), richText(value)
	first.Spacing, second.Spacing = "Small", "None"
	return []element{first, second}
}

// paragraphs renders plain text with its line breaks: a blank line starts a paragraph.
func paragraphs(text string) []element {
	var out []element
	for i, para := range strings.Split(text, "\n\n") {
		for j, line := range strings.Split(para, "\n") {
			el := richText(run(line))
			switch {
			case j > 0:
				el.Spacing = "None"
			case i == 0:
				el.Spacing = "Medium"
			}
			out = append(out, el)
		}
	}
	return out
}

// renderButtons turns buttons into Action.Submit actions carrying their opaque id. Deny opens
// a form asking why (requiring an answer when the button says the flow does); a button with a
// confirmation opens a card asking it first.
func renderButtons(buttons []bot.Button) []actionButton {
	var out []actionButton
	for i, b := range buttons {
		if i == maxTopActions {
			break
		}
		submit := actionButton{
			Type: "Action.Submit", Title: b.Label, Style: buttonStyle(b.Style),
			AssociatedInputs: "none", Data: map[string]string{dataKey: b.ActionID},
		}
		a, _ := bot.ParseAction(b.ActionID)
		switch {
		case a.Kind == bot.ActionDeny || a.Kind == bot.ActionDenyExtension:
			label := "Reason (optional): the requester sees it"
			if b.ReasonRequired {
				label = "Reason: the requester sees it"
			}
			reason := element{
				Type: "Input.Text", ID: inputReason, Label: label, Placeholder: "e.g. use the read replica instead",
				IsMultiline: true, MaxLength: bot.MaxReasonLength, IsRequired: b.ReasonRequired,
				ErrorMessage: "Say why you deny it.",
			}
			submit.Title, submit.Style, submit.AssociatedInputs = "Deny request", "destructive", ""
			if a.Kind == bot.ActionDenyExtension {
				submit.Title = "Deny extension"
			}
			out = append(out, actionButton{Type: "Action.ShowCard", Title: b.Label,
				Card: &adaptiveCard{Type: "AdaptiveCard", Body: []element{reason}, Actions: []actionButton{submit}}})
		case a.Kind == bot.ActionReview:
			// A break-glass review (flows/breakglass.go): its note, required.
			note := element{
				Type: "Input.Text", ID: inputReason, Label: "Note: what you checked, and what you found (kept in the audit)",
				Placeholder: "e.g. checked the session: the failover of INC-9", IsMultiline: true, MaxLength: bot.MaxReasonLength,
				IsRequired: true, ErrorMessage: "Write a note.",
			}
			submit.Title, submit.AssociatedInputs = "Reviewed", ""
			out = append(out, actionButton{Type: "Action.ShowCard", Title: b.Label,
				Card: &adaptiveCard{Type: "AdaptiveCard", Body: []element{note}, Actions: []actionButton{submit}}})
		case b.Confirm != "":
			confirm := richText(run(b.Confirm))
			submit.Title = "Confirm"
			if a.Kind == bot.ActionRevoke {
				submit.Title = "Yes, revoke"
			}
			out = append(out, actionButton{Type: "Action.ShowCard", Title: b.Label,
				Card: &adaptiveCard{Type: "AdaptiveCard", Body: []element{confirm}, Actions: []actionButton{submit}}})
		default:
			out = append(out, submit)
		}
	}
	return out
}

// cardActivity is a message carrying one or more cards. The summary is what notifications
// show, escaped like a card's fallback text; it never carries a secret (bot.Card.Summary
// leaves fields out).
func cardActivity(summary string, cards ...adaptiveCard) schema.Activity {
	act := schema.Activity{Type: schema.Message, Summary: markdownText(bot.Truncate(summary, maxSummary))}
	for _, c := range cards {
		act.Attachments = append(act.Attachments, schema.Attachment{ContentType: cardContentType, Content: c})
	}
	if len(cards) > 1 {
		act.AttachmentLayout = "list"
	}
	return act
}

package main

import (
	"fmt"
	"regexp"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

// The transcript shows a message as its reader sees it, not as it is
// encoded: Block Kit and Adaptive Cards become lines of plain text, Slack's
// mrkdwn is undone and its emoji codes drawn, buttons are in brackets.

// slackEmoji are the emoji codes jitbot's Slack messages use.
var slackEmoji = strings.NewReplacer(
	":key:", "🔑", ":white_check_mark:", "✅", ":hourglass_flowing_sand:", "⏳",
	":no_entry:", "⛔", ":white_circle:", "⚪", ":warning:", "⚠️",
)

var (
	// slackLink is <url|text> or <url>.
	slackLink = regexp.MustCompile(`<([^|>]+)(?:\|([^>]+))?>`)
	// slackMarks are the mrkdwn emphasis marks around a word or phrase.
	slackMarks = regexp.MustCompile("(^|[\\s(])[*_~`]+([^*_~`\n]+?)[*_~`]+([\\s).,:;!?]|$)")
)

// plainMrkdwn is mrkdwn as a reader sees it: marks gone, links shown by
// their text, entities decoded.
func plainMrkdwn(s string) string {
	s = strings.ReplaceAll(s, "```", "")
	s = slackLink.ReplaceAllStringFunc(s, func(m string) string {
		p := slackLink.FindStringSubmatch(m)
		if p[2] != "" {
			return p[2]
		}
		return p[1]
	})
	for range 2 { // adjacent marks share a boundary character
		s = slackMarks.ReplaceAllString(s, "$1$2$3")
	}
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
	return slackEmoji.Replace(s)
}

// slackLines is what a message, a Home tab or a form shows: its blocks
// (the message's text is only their fallback, for notifications).
func slackLines(text string, blocks slackgo.Blocks) []string {
	if len(blocks.BlockSet) == 0 {
		return splitLines(plainMrkdwn(text))
	}
	var out []string
	add := func(t *slackgo.TextBlockObject) {
		if t != nil {
			out = append(out, splitLines(plainMrkdwn(t.Text))...)
		}
	}
	for _, b := range blocks.BlockSet {
		switch b := b.(type) {
		case *slackgo.HeaderBlock:
			add(b.Text)
		case *slackgo.SectionBlock:
			add(b.Text)
			for _, f := range b.Fields {
				// A field is a bold label over its value.
				label, value, ok := strings.Cut(f.Text, "\n")
				if !ok {
					add(f)
					continue
				}
				out = append(out, plainMrkdwn(label)+": "+strings.Join(splitLines(plainMrkdwn(value)), " "))
			}
			if b.Accessory != nil && b.Accessory.ButtonElement != nil {
				out = append(out, "["+b.Accessory.ButtonElement.Text.Text+"]")
			}
		case *slackgo.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slackgo.TextBlockObject); ok {
					add(t)
				}
			}
		case *slackgo.ActionBlock:
			var buttons []string
			if b.Elements != nil {
				for _, e := range b.Elements.ElementSet {
					if btn, ok := e.(*slackgo.ButtonBlockElement); ok {
						buttons = append(buttons, "["+slackEmoji.Replace(btn.Text.Text)+"]")
					}
				}
			}
			if len(buttons) > 0 {
				out = append(out, strings.Join(buttons, " "))
			}
		case *slackgo.InputBlock:
			if b.Label != nil {
				out = append(out, b.Label.Text+": [__________]")
			}
		}
	}
	return out
}

// teamsLines is what an Adaptive Card shows: each text block on a line of
// its own, its inputs as boxes, its buttons in brackets.
func teamsLines(card map[string]any) []string {
	var out []string
	var body func(items []any)
	body = func(items []any) {
		for _, it := range items {
			el, _ := it.(map[string]any)
			switch el["type"] {
			case "TextBlock":
				if s, _ := el["text"].(string); s != "" {
					out = append(out, splitLines(s)...)
				}
			case "RichTextBlock":
				var line strings.Builder
				inlines, _ := el["inlines"].([]any)
				for _, in := range inlines {
					if r, ok := in.(map[string]any); ok {
						s, _ := r["text"].(string)
						line.WriteString(s)
					}
				}
				out = append(out, splitLines(line.String())...)
			case "FactSet":
				facts, _ := el["facts"].([]any)
				for _, f := range facts {
					if fm, ok := f.(map[string]any); ok {
						out = append(out, fmt.Sprintf("%v: %v", fm["title"], fm["value"]))
					}
				}
			case "Container":
				items, _ := el["items"].([]any)
				body(items)
			case "Input.Text", "Input.ChoiceSet":
				label, _ := el["label"].(string)
				out = append(out, label+": [__________]")
			}
		}
	}
	items, _ := card["body"].([]any)
	body(items)
	var buttons []string
	for _, a := range topActions(card) {
		buttons = append(buttons, "["+a+"]")
	}
	if len(buttons) > 0 {
		out = append(out, strings.Join(buttons, " "))
	}
	return out
}

// topActions are the titles of a card's own buttons, not those of the
// cards its buttons open (teamstest.CardActions lists both).
func topActions(card map[string]any) []string {
	var titles []string
	actions, _ := card["actions"].([]any)
	for _, a := range actions {
		if m, ok := a.(map[string]any); ok {
			t, _ := m["title"].(string)
			titles = append(titles, t)
		}
	}
	return titles
}

// activityLines is what a Teams message shows: its cards, else its text.
func activityLines(a teamstest.Activity) []string {
	cards := a.Cards()
	if len(cards) == 0 {
		return splitLines(a.Activity.Text)
	}
	var out []string
	for _, c := range cards {
		out = append(out, teamsLines(c)...)
	}
	return out
}

// splitLines splits s into its non-blank lines.
func splitLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) != "" {
			out = append(out, strings.TrimRight(line, " "))
		}
	}
	return out
}

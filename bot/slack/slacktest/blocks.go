package slacktest

import (
	"strings"

	"github.com/slack-go/slack"
)

// buttonsIn lists buttons in block order: actions-block elements and section
// accessories, the two places Block Kit puts them.
func buttonsIn(blocks slack.Blocks) []*slack.ButtonBlockElement {
	var out []*slack.ButtonBlockElement
	for _, b := range blocks.BlockSet {
		switch b := b.(type) {
		case *slack.ActionBlock:
			if b.Elements == nil {
				continue
			}
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn)
				}
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.ButtonElement != nil {
				out = append(out, b.Accessory.ButtonElement)
			}
		}
	}
	return out
}

// textIn collects the human-readable text of blocks, one piece per line.
func textIn(blocks slack.Blocks) string {
	var parts []string
	add := func(t *slack.TextBlockObject) {
		if t != nil && t.Text != "" {
			parts = append(parts, t.Text)
		}
	}
	for _, b := range blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			add(b.Text)
		case *slack.SectionBlock:
			add(b.Text)
			for _, f := range b.Fields {
				add(f)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					add(t)
				}
			}
		case *slack.MarkdownBlock:
			if b.Text != "" {
				parts = append(parts, b.Text)
			}
		case *slack.InputBlock:
			add(b.Label)
		}
	}
	for _, btn := range buttonsIn(blocks) {
		add(btn.Text)
	}
	return strings.Join(parts, "\n")
}

func joinText(head, body string) string {
	switch {
	case head == "":
		return body
	case body == "":
		return head
	}
	return head + "\n" + body
}

package slack

import (
	"cmp"
	"strconv"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
)

// Block Kit limits (docs.slack.dev/reference/block-kit).
const (
	maxHeaderText   = 150
	maxSectionText  = 3000
	maxFieldText    = 2000
	maxFields       = 10
	maxButtonText   = 75
	maxActions      = 25
	maxContextText  = 3000
	maxConfirmTitle = 100
	maxConfirmText  = 300
	maxFallbackText = 3000
)

// toneIcon shows a card's tone the way Slack messages can: an emoji before
// the title; a key for information.
func toneIcon(t bot.Tone) string {
	icons := map[bot.Tone]string{
		bot.ToneGood:    ":white_check_mark: ",
		bot.ToneWarning: ":hourglass_flowing_sand: ",
		bot.ToneAlert:   ":no_entry: ",
		bot.ToneMuted:   ":white_circle: ",
	}
	return cmp.Or(icons[t], ":key: ")
}

// escape makes plain text safe inside mrkdwn: Slack reads &, < and > as
// markup (links, mentions such as <!channel>), so people's text, a reason
// say, cannot ping a channel or fake a link.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

// mrkdwnEscaper is built once: a Replacer builds its tables on first use,
// which per call cost more than the escaping (every card renders dozens of
// texts).
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func plain(s string, n int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, bot.Truncate(s, n), true, false)
}

func mrkdwn(s string, n int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, bot.Truncate(s, n), false, false)
}

// fallbackText is a message's notification text: what Slack shows in
// notifications and to clients that cannot render blocks. Slack reads it as
// mrkdwn, so it is escaped like every other text: a collection named
// <!channel> pings nobody. It never carries a secret (bot.Card.Summary
// leaves fields out).
func fallbackText(c bot.Card) string { return bot.Truncate(escape(c.Summary()), maxFallbackText) }

// renderMessage is a card as a Slack message: its notification text and
// its blocks, every text in them escaped here.
func renderMessage(c bot.Card) (text string, blocks []slackgo.Block) {
	return fallbackText(c), renderCard(c, "")
}

// renderCard turns a card into Block Kit: a header, the subtitle, the fields
// (fixed-width ones as code, or as rich text when a code span could not hold
// them unaltered), the text, a
// context line with the status, and the buttons. prefix keeps block ids
// unique when several cards share a view.
func renderCard(c bot.Card, prefix string) []slackgo.Block {
	var blocks []slackgo.Block
	blocks = append(blocks, slackgo.NewHeaderBlock(plain(toneIcon(c.Tone)+c.Title, maxHeaderText), slackgo.HeaderBlockOptionBlockID(prefix+"title")))
	if c.Subtitle != "" {
		blocks = append(blocks, slackgo.NewSectionBlock(mrkdwn(escape(c.Subtitle), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID(prefix+"subtitle")))
	}
	blocks = append(blocks, fieldBlocks(c.Fields, prefix)...)
	if c.Text != "" {
		blocks = append(blocks, slackgo.NewSectionBlock(mrkdwn(escape(c.Text), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID(prefix+"text")))
	}
	if c.Status != "" {
		blocks = append(blocks, slackgo.NewContextBlock(prefix+"status", mrkdwn(escape(c.Status), maxContextText)))
	}
	if len(c.Actions) > 0 {
		blocks = append(blocks, slackgo.NewActionBlock(prefix+"actions", buttons(c.Actions)...))
	}
	return blocks
}

func fieldBlocks(fields []bot.Field, prefix string) []slackgo.Block {
	var blocks []slackgo.Block
	var texts []*slackgo.TextBlockObject
	var mono []slackgo.RichTextElement
	flush := func() {
		if len(texts) > 0 {
			blocks = append(blocks, slackgo.NewSectionBlock(nil, texts, nil, slackgo.SectionBlockOptionBlockID(prefix+"fields-"+strconv.Itoa(len(blocks)))))
			texts = nil
		}
	}
	for _, f := range fields {
		if f.Mono && f.Value != "" && !codeSafe(f.Value) {
			mono = append(mono, slackgo.NewRichTextSection(
				slackgo.NewRichTextSectionTextElement(f.Label+": ", &slackgo.RichTextSectionTextStyle{Bold: true}),
				slackgo.NewRichTextSectionTextElement(f.Value, &slackgo.RichTextSectionTextStyle{Code: true}),
			))
			continue
		}
		value := escape(f.Value)
		if f.Mono && f.Value != "" {
			value = "`" + value + "`"
		}
		texts = append(texts, mrkdwn("*"+escape(f.Label)+"*\n"+value, maxFieldText))
		if len(texts) == maxFields {
			flush()
		}
	}
	flush()
	if len(mono) > 0 {
		blocks = append(blocks, slackgo.NewRichTextBlock(prefix+"mono", mono...))
	}
	return blocks
}

// codeSafe reports whether a value can sit in a mrkdwn code span
// unaltered: a backtick would end the span, a newline break it. Anything
// else is rendered as rich text, which no markup can alter.
func codeSafe(s string) bool { return !strings.ContainsAny(s, "`\n\r") }

func buttons(bs []bot.Button) []slackgo.BlockElement {
	var out []slackgo.BlockElement
	for i, b := range bs {
		if i == maxActions {
			break
		}
		btn := slackgo.NewButtonBlockElement(b.ActionID, b.ActionID, plain(b.Label, maxButtonText))
		switch b.Style {
		case bot.StylePrimary:
			btn = btn.WithStyle(slackgo.StylePrimary)
		case bot.StyleDanger:
			btn = btn.WithStyle(slackgo.StyleDanger)
		}
		if b.Confirm != "" {
			btn = btn.WithConfirm(slackgo.NewConfirmationBlockObject(
				plain(bot.Truncate(b.Label, maxConfirmTitle)+"?", maxConfirmTitle),
				plain(b.Confirm, maxConfirmText), plain("Yes", 30), plain("No", 30)))
		}
		out = append(out, btn)
	}
	return out
}

// renderCompact renders a card in three blocks (summary, status, buttons),
// for lists of requests in one message or the App Home.
func renderCompact(c bot.Card, prefix string) []slackgo.Block {
	text := "*" + escape(c.Title) + "*"
	if c.Subtitle != "" {
		text += "\n" + escape(c.Subtitle)
	}
	if c.Text != "" {
		text += "\n" + escape(c.Text)
	}
	blocks := []slackgo.Block{slackgo.NewSectionBlock(mrkdwn(text, maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID(prefix+"summary"))}
	if c.Status != "" {
		blocks = append(blocks, slackgo.NewContextBlock(prefix+"status", mrkdwn(escape(c.Status), maxContextText)))
	}
	if len(c.Actions) > 0 {
		blocks = append(blocks, slackgo.NewActionBlock(prefix+"actions", buttons(c.Actions)...))
	}
	return blocks
}

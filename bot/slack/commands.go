package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
)

// message is a slash command's immediate answer, shown only to its author.
type message struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       []slackgo.Block `json:"blocks,omitempty"`
}

func ephemeral(c bot.Card) *message {
	text, blocks := renderMessage(c)
	return &message{ResponseType: slackgo.ResponseTypeEphemeral, Text: text, Blocks: blocks}
}

// command handles a slash command and returns its acknowledgement, within
// Slack's 3 seconds: help and parse errors are answered at once; /access
// alone opens the request form (the one Slack call made before the ack);
// everything else is recorded in the inbox before the ack says "Working on
// it…", and the inbox's workers run it, reporting through the response_url.
// Slack never retries a command it got a 200 for: the record is what makes
// the request survive a crash right after the ack.
func (b *Bot) command(ctx context.Context, cmd slackgo.SlashCommand) any {
	parsed, err := bot.Parse(unescape(cmd.Text))
	if err != nil {
		return ephemeral(bot.UsageCard(b.Wording(), err))
	}
	switch parsed.Verb {
	case bot.VerbHelp:
		return ephemeral(bot.UsageCard(b.Wording(), nil))
	case bot.VerbForm:
		// The trigger id is unique per invocation: a replay must not open
		// a second form. Nothing is recorded (a form asks nothing yet), so
		// the in-memory cache recognises it.
		if !b.seen.Add("command:"+cmd.TriggerID, struct{}{}) {
			b.log.InfoContext(ctx, "ignored a replayed slash command", "user_id", cmd.UserID, "trigger_id", cmd.TriggerID)
			return nil
		}
		return b.openRequestForm(ctx, cmd)
	}
	first, err := b.receive(ctx, commandKey(cmd.TriggerID), item{
		Kind: itemCommand, UserID: cmd.UserID, ChannelID: cmd.ChannelID, ResponseURL: cmd.ResponseURL,
		Ref: cmd.TriggerID, Command: &parsed,
	})
	switch {
	case err != nil:
		return ephemeral(notTaken(err))
	case !first:
		return nil
	}
	return &message{ResponseType: slackgo.ResponseTypeEphemeral, Text: "Working on it…"}
}

// actorOf looks up who acted; the actor names them by user id even when
// the lookup fails, for the refusal. call says what a 429 costs.
func (b *Bot) actorOf(ctx context.Context, call caller, who actor, ref string) (bot.Actor, error) {
	a := bot.Actor{Platform: Platform, UserID: who.userID, Ref: ref}
	p, err := b.people.byUserID(ctx, call, who.userID)
	if err != nil {
		return a, err
	}
	a.Email, a.Location = p.Email, p.Loc
	return a, nil
}

// maxListed bounds the requests shown in one message (Slack allows 50
// blocks; each request takes three).
const maxListed = 12

// listBlocks lays out a list of requests in one message.
func listBlocks(l bot.List) []slackgo.Block {
	blocks := renderCard(l.Head(), "")
	for i, it := range l.Items {
		if i == maxListed {
			blocks = append(blocks, slackgo.NewContextBlock("more", mrkdwn(fmt.Sprintf("…and %d more.", len(l.Items)-maxListed), maxContextText)))
			break
		}
		blocks = append(blocks, renderCompact(it.Card, string(it.RequestID)+"-")...)
	}
	return blocks
}

// slackMarkup matches Slack's link syntax in typed text: <target|label>,
// <target>, mentions (<@U123|name>) and channel links (<#C123|name>).
var slackMarkup = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// unescape turns slash-command text back into what the person typed: Slack
// encodes &, < and > and wraps what it auto-links (emails, URLs) in <...>.
func unescape(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		parts := slackMarkup.FindStringSubmatch(m)
		target, label := parts[1], parts[2]
		if label != "" {
			switch {
			case strings.HasPrefix(target, "@"):
				return "@" + label
			case strings.HasPrefix(target, "#"):
				return "#" + label
			}
			return label
		}
		return strings.TrimPrefix(target, "mailto:")
	})
	return entityUnescaper.Replace(s)
}

// entityUnescaper is built once (see mrkdwnEscaper).
var entityUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

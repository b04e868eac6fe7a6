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
// everything else says "Working on it…" and runs detached, reporting through
// the response_url.
func (b *Bot) command(ctx context.Context, cmd slackgo.SlashCommand) any {
	// The trigger id is unique per invocation: a second delivery with the
	// same one is a replay and must not act twice.
	if !b.seen.Add("command:"+cmd.TriggerID, struct{}{}) {
		b.log.InfoContext(ctx, "ignored a replayed slash command", "user_id", cmd.UserID, "trigger_id", cmd.TriggerID)
		return nil
	}
	parsed, err := bot.Parse(unescape(cmd.Text))
	if err != nil {
		return ephemeral(bot.UsageCard(b.Wording(), err))
	}
	switch parsed.Verb {
	case bot.VerbHelp:
		return ephemeral(bot.UsageCard(b.Wording(), nil))
	case bot.VerbForm:
		return b.openRequestForm(ctx, cmd)
	}
	who := actor{userID: cmd.UserID, channelID: cmd.ChannelID, responseURL: cmd.ResponseURL}
	b.work.Go(ctx, "command "+string(parsed.Verb), func(ctx context.Context) { b.runCommand(ctx, who, parsed, cmd.TriggerID) })
	return &message{ResponseType: slackgo.ResponseTypeEphemeral, Text: "Working on it…"}
}

// runCommand does a command's work after the acknowledgement and reports the
// engine's answer in place of "Working on it…".
func (b *Bot) runCommand(ctx context.Context, who actor, cmd bot.Command, triggerID string) {
	a, ok := b.identify(ctx, who, triggerID, true)
	if !ok {
		return
	}
	b.deliver(ctx, who, b.engine.Run(ctx, a, cmd, "slack:trigger:"+triggerID), true)
}

// identify finds who acted, as the engine knows people. Someone who cannot
// use jitbot (a guest, no email on their profile) is told why, and ok is
// false. ref names the delivery.
func (b *Bot) identify(ctx context.Context, who actor, ref string, replace bool) (a bot.Actor, ok bool) {
	a, err := b.actorOf(ctx, who, ref)
	if err != nil {
		b.deliver(ctx, who, b.engine.Refused(ctx, a, err), replace)
		return a, false
	}
	return a, true
}

// actorOf looks up who acted; the actor names them by user id even when
// the lookup fails, for the refusal.
func (b *Bot) actorOf(ctx context.Context, who actor, ref string) (bot.Actor, error) {
	a := bot.Actor{Platform: Platform, UserID: who.userID, Ref: ref}
	p, err := b.people.byUserID(ctx, who.userID)
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
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

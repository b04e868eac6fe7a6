package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// message is a slash command's immediate answer, shown only to its author.
type message struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       []slackgo.Block `json:"blocks,omitempty"`
}

func ephemeral(c bot.Card) *message {
	return &message{ResponseType: slackgo.ResponseTypeEphemeral, Text: fallbackText(c), Blocks: renderCard(c, "")}
}

func (b *Bot) usageCard(problem error) bot.Card {
	c := bot.Card{
		Title: "How to use " + b.cfg.Command,
		Text:  bot.Usage() + "\n\nType the subcommands after " + b.cfg.Command + ", e.g. " + b.cfg.Command + " list.",
		Tone:  bot.ToneInfo,
	}
	if problem != nil {
		c.Title = "That command did not work"
		c.Subtitle = flows.ErrorMessage(problem)
		c.Tone = bot.ToneAlert
	}
	return c
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
		return ephemeral(b.usageCard(err))
	}
	switch parsed.Verb {
	case bot.VerbHelp:
		return ephemeral(b.usageCard(nil))
	case bot.VerbForm:
		return b.openRequestForm(ctx, cmd)
	}
	who := actor{userID: cmd.UserID, channelID: cmd.ChannelID, responseURL: cmd.ResponseURL}
	b.work.Go(ctx, "command "+string(parsed.Verb), func(ctx context.Context) { b.runCommand(ctx, who, parsed, cmd.TriggerID) })
	return &message{ResponseType: slackgo.ResponseTypeEphemeral, Text: "Working on it…"}
}

// runCommand does a command's work after the acknowledgement and reports the
// outcome in place of "Working on it…".
func (b *Bot) runCommand(ctx context.Context, who actor, cmd bot.Command, triggerID string) {
	p, err := b.people.byUserID(ctx, who.userID)
	if err != nil {
		b.refused(ctx, who, err, true)
		return
	}
	v := bot.Viewer{Email: p.Email, Location: p.Loc}
	var r *flows.Request
	switch cmd.Verb {
	case bot.VerbRequest:
		r, err = b.svc.Submit(ctx, flows.SubmitInput{
			Requester: p.Email, Resource: cmd.Resource, Roles: cmd.Roles, Duration: cmd.Duration, Reason: cmd.Reason,
			Origin: Platform, IdempotencyKey: "slack:trigger:" + triggerID,
		})
		if err == nil {
			b.tell(ctx, who, bot.SubmittedCard(r, v), true)
		}
	case bot.VerbList:
		var rs []*flows.Request
		if rs, err = b.svc.Mine(ctx, p.Email); err == nil {
			b.tellList(ctx, who, "Your requests", "You have no requests under way. Ask with "+b.cfg.Command+".", rs, v)
		}
	case bot.VerbPending:
		var rs []*flows.Request
		if rs, err = b.svc.Pending(ctx, p.Email); err == nil {
			b.tellList(ctx, who, "Waiting for your approval", "Nothing waits for your approval.", rs, v)
		}
	case bot.VerbCancel:
		if r, err = b.svc.Cancel(ctx, cmd.RequestID, p.Email); err == nil {
			b.tell(ctx, who, bot.Outcome(r, v, "Cancelled."), true)
		}
	case bot.VerbRevoke:
		if r, err = b.svc.Revoke(ctx, cmd.RequestID, p.Email, cmd.Reason); err == nil {
			b.tell(ctx, who, bot.RevokeOutcome(r, v), true)
		}
	case bot.VerbExtend:
		if r, err = b.svc.Extend(ctx, cmd.RequestID, p.Email, cmd.Duration); err == nil {
			b.tell(ctx, who, bot.ExtendOutcome(r, v, cmd.Duration), true)
		}
	case bot.VerbRotate:
		if r, err = b.svc.Rotate(ctx, cmd.RequestID, p.Email); err == nil {
			b.tell(ctx, who, bot.RotateOutcome(r, v, Platform, "in your direct messages"), true)
		}
	default:
		err = flows.Errorf(flows.EINVALID, "%s is not something jitbot can do from here", cmd.Verb)
	}
	if err != nil {
		b.refused(ctx, who, err, true)
	}
}

// refused tells a person why what they asked was not done. Internal errors
// are logged here and shown only as a generic failure.
func (b *Bot) refused(ctx context.Context, who actor, err error, replace bool) {
	if flows.ErrorCode(err) == flows.EINTERNAL || flows.ErrorCode(err) == flows.EUNAVAILABLE {
		b.log.WarnContext(ctx, "request failed", "user_id", who.userID, "err", err)
	} else {
		b.log.InfoContext(ctx, "request refused", "user_id", who.userID, "code", string(flows.ErrorCode(err)), "reason", flows.ErrorMessage(err))
	}
	b.tell(ctx, who, bot.ErrorCard(err), replace)
}

// maxListed bounds the requests shown in one message (Slack allows 50
// blocks; each request takes three).
const maxListed = 12

// tellList answers with several requests at once, each with its buttons.
func (b *Bot) tellList(ctx context.Context, who actor, title, empty string, rs []*flows.Request, v bot.Viewer) {
	b.tellBlocks(ctx, who, title, listBlocks(title, empty, rs, v), true)
}

// listBlocks lays out a list of requests in one message.
func listBlocks(title, empty string, rs []*flows.Request, v bot.Viewer) []slackgo.Block {
	head := bot.Card{Title: title, Tone: bot.ToneInfo}
	if len(rs) == 0 {
		head.Text = empty
	}
	blocks := renderCard(head, "")
	for i, r := range rs {
		if i == maxListed {
			blocks = append(blocks, slackgo.NewContextBlock("more", mrkdwn(fmt.Sprintf("…and %d more.", len(rs)-maxListed), maxContextText)))
			break
		}
		blocks = append(blocks, renderCompact(bot.SummaryCard(r, v), r.ID+"-")...)
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

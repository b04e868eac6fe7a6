package teams

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode"

	"github.com/infracloudio/msbotbuilder-go/core/activity"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// maxListed bounds the requests shown in one answer to list or pending (one card each).
const maxListed = 10

// process handles one authenticated activity after its acknowledgement. Messages (typed
// commands and Action.Submit clicks), conversation updates and invokes go through the
// library's activity.HandlerFuncs; installationUpdate, which the library refuses, is handled
// here. The library's ProcessActivity is not used: it posts the handler's reply through a
// call without a context and throws the new activity's id away, so replies go through the
// Connector instead.
func (b *Bot) process(ctx context.Context, act schema.Activity) {
	log := b.log.With("activity_id", act.ID, "conversation_id", act.Conversation.ID, "user_id", act.From.ID)
	if act.From.ID == "" || act.From.ID == act.Recipient.ID {
		return // nobody, or the bot's own echo
	}
	if !sameTenant(act.Conversation.TenantID, b.cfg.TenantID) {
		// Another tenant's admin controls what email its users show: never trust it. An
		// activity naming no tenant is not from Teams' users either.
		log.WarnContext(ctx, "ignored an activity from another tenant", "tenant_id", act.Conversation.TenantID)
		return
	}
	if act.Type == schema.InstallationUpdate {
		b.onInstallation(ctx, act)
		return
	}
	h := activity.HandlerFuncs{
		OnMessageFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
			b.onMessage(ctx, turn.Activity)
			return schema.Activity{}, nil
		},
		OnConversationUpdateFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
			b.onConversationUpdate(ctx, turn.Activity)
			return schema.Activity{}, nil
		},
		OnInvokeFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
			// jitbot's cards use Action.Submit, which arrives as a message; Action.Execute would
			// need a synchronous invoke response the library cannot give.
			log.InfoContext(ctx, "ignored an invoke activity", "name", turn.Activity.Name)
			return schema.Activity{}, nil
		},
	}
	if _, err := activity.PrepareActivityContext(h, &activity.TurnContext{Activity: act}); err != nil {
		log.DebugContext(ctx, "ignored an activity", "activity_type", string(act.Type), "err", err)
	}
}

// onInstallation remembers the 1:1 chat of a person who installed the app, so that approval
// cards can reach them before they ever type anything.
func (b *Bot) onInstallation(ctx context.Context, act schema.Activity) {
	// "remove" and "remove-upgrade" uninstall; "add" and "add-upgrade" install.
	if strings.HasPrefix(act.Action, string(schema.InstallActionRemove)) || act.Conversation.ConversationType != personalConversation {
		return
	}
	b.rememberSender(ctx, act)
}

// onConversationUpdate remembers the 1:1 chat when the bot (or the person) joins it.
func (b *Bot) onConversationUpdate(ctx context.Context, act schema.Activity) {
	if len(act.MembersAdded) == 0 || act.Conversation.ConversationType != personalConversation {
		return
	}
	b.rememberSender(ctx, act)
}

func (b *Bot) rememberSender(ctx context.Context, act schema.Activity) {
	p, err := b.people.identify(ctx, act)
	if err != nil {
		b.log.WarnContext(ctx, "could not identify a new member", "user_id", act.From.ID, "err", err)
		return
	}
	_ = b.people.remember(ctx, p, act) // a conflict is logged there
}

// onMessage handles a typed command or a card's Action.Submit, in a 1:1 chat only: what
// jitbot says about access is private.
func (b *Bot) onMessage(ctx context.Context, act schema.Activity) {
	if act.Conversation.ConversationType != personalConversation {
		if act.Value == nil {
			b.replyCard(ctx, act, bot.Card{
				Title: "Let's talk in private",
				Text:  "jitbot handles access requests in its 1:1 chat only. Open a chat with jitbot and type access help.",
				Tone:  bot.ToneInfo,
			}, renderOptions{})
		}
		return
	}
	p, err := b.people.identify(ctx, act)
	if err != nil {
		b.refused(ctx, act, err)
		return
	}
	if err := b.people.remember(ctx, p, act); err != nil {
		b.refused(ctx, act, err)
		return
	}
	if act.Value != nil {
		b.onSubmit(ctx, act, p)
		return
	}
	b.onText(ctx, act, p)
}

// mention matches Teams' mention markup (<at>jitbot</at>) in message text; markup matches the
// HTML formatting elements some clients wrap text in (<p>, <div>, <span class="...">), and only
// those, so that a reason such as "a<b and c>d" is left alone.
var (
	mention = regexp.MustCompile(`(?is)<at[^>]*>.*?</at>`)
	markup  = regexp.MustCompile(`(?i)</?(?:p|div|span|br|b|i|em|strong|u|s|code|pre|blockquote|ol|ul|li|a|font|h[1-6])(?:\s+[a-z-]+="[^"<>]*")*\s*/?>`)
)

// commandText is what the person typed after any mention of the bot and the word access.
func commandText(text string) string {
	text = mention.ReplaceAllString(text, " ")
	text = markup.ReplaceAllString(text, " ")
	text = html.UnescapeString(text)
	text = strings.TrimFunc(text, unicode.IsSpace)
	first, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		first, rest = text[:i], text[i:]
	}
	if strings.EqualFold(first, "access") || strings.EqualFold(first, "/access") {
		return strings.TrimFunc(rest, unicode.IsSpace)
	}
	return text
}

func (b *Bot) onText(ctx context.Context, act schema.Activity, p person) {
	if strings.TrimSpace(act.Text) == "" {
		// A picture, a file or a sticker: nothing to act on, so say what jitbot understands.
		b.replyCard(ctx, act, usageCard(nil), renderOptions{})
		return
	}
	text := commandText(act.Text)
	if strings.EqualFold(text, string(bot.VerbRequest)) {
		text = "" // "access request" alone: the form
	}
	cmd, err := bot.Parse(text)
	if err != nil {
		b.replyCard(ctx, act, usageCard(err), renderOptions{})
		return
	}
	v := p.viewer()
	var r *flows.Request
	switch cmd.Verb {
	case bot.VerbHelp:
		b.replyCard(ctx, act, usageCard(nil), renderOptions{})
	case bot.VerbForm:
		err = b.sendForm(ctx, act, p)
	case bot.VerbRequest:
		if r, err = b.svc.Submit(ctx, flows.SubmitInput{
			Requester: p.Email, Resource: cmd.Resource, Roles: cmd.Roles, Duration: cmd.Duration, Reason: cmd.Reason,
			Origin: Platform, IdempotencyKey: idempotencyKey(act),
		}); err == nil {
			b.replyCard(ctx, act, bot.SubmittedCard(r, v), renderOptions{})
		}
	case bot.VerbList:
		var rs []*flows.Request
		if rs, err = b.svc.Mine(ctx, p.Email); err == nil {
			b.replyList(ctx, act, "Your requests", "You have no requests under way. Type access to ask for access.", rs, v)
		}
	case bot.VerbPending:
		var rs []*flows.Request
		if rs, err = b.svc.Pending(ctx, p.Email); err == nil {
			b.replyList(ctx, act, "Waiting for your approval", "Nothing waits for your approval.", rs, v)
		}
	case bot.VerbCancel:
		if r, err = b.svc.Cancel(ctx, cmd.RequestID, p.Email); err == nil {
			b.replyCard(ctx, act, bot.Outcome(r, v, "Cancelled."), renderOptions{})
		}
	case bot.VerbRevoke:
		if r, err = b.svc.Revoke(ctx, cmd.RequestID, p.Email, cmd.Reason); err == nil {
			b.replyCard(ctx, act, bot.RevokeOutcome(r, v), renderOptions{})
		}
	case bot.VerbExtend:
		if r, err = b.svc.Extend(ctx, cmd.RequestID, p.Email, cmd.Duration); err == nil {
			b.replyCard(ctx, act, bot.ExtendOutcome(r, v, cmd.Duration), renderOptions{})
		}
	case bot.VerbRotate:
		if r, err = b.svc.Rotate(ctx, cmd.RequestID, p.Email); err == nil {
			b.replyCard(ctx, act, bot.RotateOutcome(r, v, Platform, "here"), renderOptions{})
		}
	default:
		err = flows.Errorf(flows.EINVALID, "%s is not something jitbot can do from Teams", cmd.Verb)
	}
	if err != nil {
		b.refused(ctx, act, err)
	}
}

// idempotencyKey names a delivery for flows.Submit: Teams activity ids are unique within a
// conversation only (1:1 chats number them by time), so the conversation is part of the key.
func idempotencyKey(act schema.Activity) string {
	return "teams:" + act.Conversation.ID + ":" + act.ID
}

// sendForm answers "access" alone with the request card, offering what the person may ask for.
func (b *Bot) sendForm(ctx context.Context, act schema.Activity, p person) error {
	choices, err := b.svc.Options(ctx, p.Email)
	if err != nil {
		return err
	}
	if len(choices) == 0 {
		b.replyCard(ctx, act, bot.Card{
			Title: "Nothing to ask for yet",
			Text:  "No access flow lets you ask for access yet. Ask an admin to add you to one.",
			Tone:  bot.ToneInfo,
		}, renderOptions{})
		return nil
	}
	b.reply(ctx, act, cardActivity("Request access", requestForm(choices)))
	return nil
}

// onSubmit handles an Action.Submit click: the request form, or a button with an opaque action
// id. Every action goes through flows.Service, which authorizes it on the current state.
func (b *Bot) onSubmit(ctx context.Context, act schema.Activity, p person) {
	marker, _ := act.Value[dataKey].(string)
	if marker == formMarker {
		b.submitForm(ctx, act, p)
		return
	}
	a, err := bot.ParseAction(marker)
	if err != nil {
		b.log.InfoContext(ctx, "ignored a click on an unknown action", "user_id", p.ID, "activity_id", act.ID)
		b.refused(ctx, act, flows.Errorf(flows.EINVALID, "that button does nothing here"))
		return
	}
	v := p.viewer()
	var r *flows.Request
	switch a.Kind {
	case bot.ActionApprove, bot.ActionApproveExtension, bot.ActionDeny, bot.ActionDenyExtension:
		approve := a.Kind == bot.ActionApprove || a.Kind == bot.ActionApproveExtension
		reason, _ := act.Value[inputReason].(string)
		if len(reason) > bot.MaxReasonLength {
			err = flows.Errorf(flows.EINVALID, "the reason is %d characters long; keep it under %d", len(reason), bot.MaxReasonLength)
			break
		}
		// The cards update through the notices; only a refusal needs words.
		_, err = b.svc.Decide(ctx, flows.DecideInput{
			RequestID: a.RequestID, Actor: p.Email, Approve: approve, Reason: strings.TrimSpace(reason), Extension: a.Extension,
		})
	case bot.ActionExtend:
		if r, err = b.svc.Extend(ctx, a.RequestID, p.Email, a.Duration); err == nil && (r.Extension != nil || r.Origin != Platform) {
			b.replyCard(ctx, act, bot.ExtendOutcome(r, v, a.Duration), renderOptions{})
		}
	case bot.ActionRevoke:
		if r, err = b.svc.Revoke(ctx, a.RequestID, p.Email, ""); err == nil && (p.Email != r.Requester || r.Origin != Platform || r.State == flows.StateCancelled) {
			b.replyCard(ctx, act, bot.RevokeOutcome(r, v), renderOptions{})
		}
	case bot.ActionCancel:
		if r, err = b.svc.Cancel(ctx, a.RequestID, p.Email); err == nil {
			b.replyCard(ctx, act, bot.Outcome(r, v, "Cancelled."), renderOptions{})
		}
	case bot.ActionRotate:
		if r, err = b.svc.Rotate(ctx, a.RequestID, p.Email); err == nil {
			b.replyCard(ctx, act, bot.RotateOutcome(r, v, Platform, "here"), renderOptions{})
		}
	default:
		err = flows.Errorf(flows.EINVALID, "that button does nothing here")
	}
	if err != nil {
		b.refused(ctx, act, err)
	}
}

// submitForm submits a filled-in request card. The activity id is the idempotency key, so a
// redelivered click makes one request; the form is then replaced by the request's summary, so
// it cannot be sent twice.
func (b *Bot) submitForm(ctx context.Context, act schema.Activity, p person) {
	in, err := parseRequestForm(act.Value)
	var r *flows.Request
	if err == nil {
		r, err = b.svc.Submit(ctx, flows.SubmitInput{
			Requester: p.Email, Resource: in.Resource, Roles: in.Roles, Duration: in.Duration, Reason: in.Reason,
			Origin: Platform, IdempotencyKey: idempotencyKey(act),
		})
	}
	if err != nil {
		b.refused(ctx, act, err)
		return
	}
	c := bot.SubmittedCard(r, p.viewer())
	if act.ReplyToID != "" {
		upd := cardActivity(c.Summary(), renderCard(c, renderOptions{}))
		err := b.conn.UpdateActivity(ctx, act.ServiceURL, act.Conversation.ID, act.ReplyToID, upd)
		if err == nil {
			return
		}
		b.log.InfoContext(ctx, "could not replace the request form; answering instead", "request_id", r.ID, "err", err)
	}
	b.replyCard(ctx, act, c, renderOptions{})
}

// errorText is what a person is told about an error: its safe message, or for anything
// internal a generic failure.
func errorText(err error) string { return flows.ErrorMessage(err) }

// refused tells a person why what they asked was not done. Internal errors are logged here and
// shown as a generic failure with the activity id, to find the log.
func (b *Bot) refused(ctx context.Context, act schema.Activity, err error) {
	c := bot.ErrorCard(err)
	switch code := flows.ErrorCode(err); code {
	case flows.EINTERNAL, flows.EUNAVAILABLE:
		b.log.WarnContext(ctx, "request failed", "user_id", act.From.ID, "activity_id", act.ID, "err", err)
		if code == flows.EINTERNAL {
			c.Status = "Reference: " + act.ID
		}
	default:
		b.log.InfoContext(ctx, "request refused", "user_id", act.From.ID, "code", string(code), "reason", flows.ErrorMessage(err))
	}
	b.replyCard(ctx, act, c, renderOptions{})
}

// reply posts out to the conversation act came from, addressed to its sender.
func (b *Bot) reply(ctx context.Context, act schema.Activity, out schema.Activity) {
	out = activity.ApplyConversationReference(out, activity.GetCoversationReference(act), false)
	if _, err := b.conn.SendToConversation(ctx, act.ServiceURL, act.Conversation.ID, out); err != nil {
		b.log.WarnContext(ctx, "could not answer", "conversation_id", act.Conversation.ID, "user_id", act.From.ID, "err", err)
	}
}

func (b *Bot) replyCard(ctx context.Context, act schema.Activity, c bot.Card, opt renderOptions) {
	if c.HasSecret() && act.Conversation.ConversationType != personalConversation {
		// Never reached by design; a secret must not be one bug away from a channel.
		b.log.ErrorContext(ctx, "refused to post a secret outside a 1:1 chat", "conversation_id", act.Conversation.ID)
		return
	}
	b.reply(ctx, act, cardActivity(c.Summary(), renderCard(c, opt)))
}

// replyList answers with several requests, one card each with its buttons.
func (b *Bot) replyList(ctx context.Context, act schema.Activity, title, empty string, rs []*flows.Request, v bot.Viewer) {
	if len(rs) == 0 {
		b.replyCard(ctx, act, bot.Card{Title: title, Text: empty, Tone: bot.ToneInfo}, renderOptions{})
		return
	}
	cards := make([]adaptiveCard, 0, min(len(rs), maxListed))
	for i, r := range rs {
		if i == maxListed {
			break
		}
		cards = append(cards, renderCard(bot.SummaryCard(r, v), renderOptions{denyReasonRequired: r.DenyReasonRequired}))
	}
	out := cardActivity(title, cards...)
	out.Text = title
	if len(rs) > maxListed {
		out.Text = fmt.Sprintf("%s (the %d most recent of %d)", title, maxListed, len(rs))
	}
	b.reply(ctx, act, out)
}

package teams

import (
	"context"
	"encoding/json"
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

// privately is what jitbot answers in a group chat or a channel.
func privately() bot.Card {
	return bot.Card{
		Title: "Let's talk in private",
		Text:  "jitbot handles access requests in its 1:1 chat only. Open a chat with jitbot and type access help.",
		Tone:  bot.ToneInfo,
	}
}

// accepted says whether an authenticated activity is for jitbot at all: from somebody (not the
// bot's own echo), in our tenant. Cheap, so it runs before the ack: what fails it is
// acknowledged and dropped, never recorded.
func (b *Bot) accepted(ctx context.Context, act schema.Activity) bool {
	if act.From.ID == "" || act.From.ID == act.Recipient.ID {
		return false // nobody, or the bot's own echo
	}
	if !sameTenant(act.Conversation.TenantID, b.cfg.TenantID) {
		// Another tenant's admin controls what email its users show: never trust it. An
		// activity naming no tenant is not from Teams' users either.
		b.log.WarnContext(ctx, "ignored an activity from another tenant", "activity_id", act.ID,
			"conversation_id", act.Conversation.ID, "user_id", act.From.ID, "tenant_id", act.Conversation.TenantID)
		return false
	}
	return true
}

// answerNow says whether a message is answered without asking anything of jitbot, and with
// what (nil: nothing to say): a typo in the 1:1 chat (the usage and what was wrong, at once),
// a message in a group chat or a channel (jitbot talks in private only). It only parses. Help
// and empty messages go through the inbox: like any message in the 1:1 chat they also store
// the conversation reference that lets jitbot write to the person later.
func (b *Bot) answerNow(act schema.Activity) (*bot.Card, bool) {
	if act.Type != schema.Message {
		return nil, false
	}
	if act.Conversation.ConversationType != personalConversation {
		if act.Value != nil {
			return nil, true // a card's button outside the 1:1 chat: nothing jitbot sent
		}
		c := privately()
		return &c, true
	}
	if act.Value != nil || strings.TrimSpace(act.Text) == "" {
		return nil, false
	}
	if _, err := typedCommand(act); err != nil {
		c := bot.UsageCard(b.Wording(), err)
		return &c, true
	}
	return nil, false
}

// process handles one authenticated, accepted activity after its acknowledgement, from the
// inbox. Messages (typed commands and Action.Submit clicks), conversation updates and invokes
// go through the library's activity.HandlerFuncs; installationUpdate, which the library
// refuses, is handled here. The library's ProcessActivity is not used: it posts the handler's
// reply through a call without a context and throws the new activity's id away, so replies go
// through the Connector instead. The error is a failure worth another attempt (bot.Retryable):
// everything else has been answered.
func (b *Bot) process(ctx context.Context, act schema.Activity) error {
	log := b.log.With("activity_id", act.ID, "conversation_id", act.Conversation.ID, "user_id", act.From.ID)
	if !b.accepted(ctx, act) {
		return nil
	}
	if act.Type == schema.InstallationUpdate {
		b.onInstallation(ctx, act)
		return nil
	}
	var err error
	h := activity.HandlerFuncs{
		OnMessageFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
			err = b.onMessage(ctx, turn.Activity)
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
	if _, perr := activity.PrepareActivityContext(h, &activity.TurnContext{Activity: act}); perr != nil {
		log.DebugContext(ctx, "ignored an activity", "activity_type", string(act.Type), "err", perr)
	}
	return err
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
// jitbot says about access is private. A failure worth retrying (the person could not be looked
// up, the service unavailable) is returned unanswered.
func (b *Bot) onMessage(ctx context.Context, act schema.Activity) error {
	if act.Conversation.ConversationType != personalConversation {
		if act.Value == nil {
			b.replyCard(ctx, act, privately())
		}
		return nil
	}
	who := bot.Actor{Platform: Platform, UserID: act.From.ID, Ref: act.ID}
	p, err := b.people.identify(ctx, act)
	if err == nil {
		err = b.people.remember(ctx, p, act)
	}
	if err != nil {
		return b.answer(ctx, act, b.engine.Refused(ctx, who, err))
	}
	who.Email, who.Location = p.Email, p.Loc
	ctx = context.WithValue(ctx, senderKey{}, p.Email)
	if act.Value != nil {
		return b.onSubmit(ctx, act, who)
	}
	return b.onText(ctx, act, who)
}

// answer delivers a reply, unless its failure is worth another attempt: then it is returned
// for the inbox to retry.
func (b *Bot) answer(ctx context.Context, act schema.Activity, reply bot.Reply) error {
	if bot.Retryable(reply.Err) {
		return reply.Err
	}
	b.deliver(ctx, act, reply)
	return nil
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

// typedCommand parses what the person typed; "access request" alone asks for the form.
func typedCommand(act schema.Activity) (bot.Command, error) {
	text := commandText(act.Text)
	if strings.EqualFold(text, string(bot.VerbRequest)) {
		text = "" // "access request" alone: the form
	}
	return bot.Parse(text)
}

// onText runs a typed command. Anything but text (a picture, a file, a sticker) is answered
// with what jitbot understands. Typos were answered before the ack (answerNow); a command
// that no longer parses is answered the same way.
func (b *Bot) onText(ctx context.Context, act schema.Activity, who bot.Actor) error {
	if strings.TrimSpace(act.Text) == "" {
		b.replyCard(ctx, act, bot.UsageCard(b.Wording(), nil))
		return nil
	}
	cmd, err := typedCommand(act)
	if err != nil {
		b.replyCard(ctx, act, bot.UsageCard(b.Wording(), err))
		return nil
	}
	return b.answer(ctx, act, b.engine.Run(ctx, who, cmd, idempotencyKey(act)))
}

// idempotencyKey names a delivery for flows.Submit: Teams activity ids are unique within a
// conversation only (1:1 chats number them by time), so the conversation is part of the key.
func idempotencyKey(act schema.Activity) string {
	return "teams:" + act.Conversation.ID + ":" + act.ID
}

// onSubmit handles an Action.Submit click: the request form, or a button with an opaque action
// id, which the engine runs (flows authorizes it on the current state).
func (b *Bot) onSubmit(ctx context.Context, act schema.Activity, who bot.Actor) error {
	marker, _ := act.Value[dataKey].(string)
	switch marker {
	case formMarker:
		return b.submitForm(ctx, act, who)
	case nextMarker:
		return b.nextForm(ctx, act, who)
	}
	a, err := bot.ParseAction(marker)
	if err != nil {
		b.log.InfoContext(ctx, "ignored a click on an unknown action", "user_id", act.From.ID, "activity_id", act.ID)
		b.deliver(ctx, act, b.engine.Refused(ctx, who, flows.Errorf(flows.EINVALID, "that button does nothing here")))
		return nil
	}
	reason, _ := act.Value[inputReason].(string)
	return b.answer(ctx, act, b.engine.Click(ctx, who, a, bot.ClickInput{Reason: reason}))
}

// nextForm answers the request form's first card: the second, with the roles and durations
// of the resource chosen, from the person's choices as they are now (never from the card). A
// resource not among them (gone, or forged) is refused.
func (b *Bot) nextForm(ctx context.Context, act schema.Activity, who bot.Actor) error {
	form, reply, ok := b.formFor(ctx, who, selectionOf(formValues(act.Value)))
	if !ok {
		return b.answer(ctx, act, reply)
	}
	b.replaceForm(ctx, act, requestDetails(form, nil, nil))
	return nil
}

// formFor lays the request form out for what the person chose, from their choices as they are
// now. ok is false when there is no such choice: reply says why.
func (b *Bot) formFor(ctx context.Context, who bot.Actor, sel bot.Selection) (bot.Form, bot.Reply, bool) {
	reply := b.engine.Run(ctx, who, bot.Command{Verb: bot.VerbForm}, "")
	if len(reply.Form) == 0 {
		return bot.Form{}, reply, false
	}
	form := bot.NewForm(reply.Form, sel)
	if form.Chosen == nil || bot.ChoiceValue(*form.Chosen) != sel.Choice {
		return form, b.engine.Refused(ctx, who, flows.Errorf(flows.EINVALID, "that is not something you may ask for here: open the request form again and choose from its list")), false
	}
	return form, bot.Reply{}, true
}

// replaceForm puts card in place of the form act was submitted from (so that an old step
// cannot be sent again), or sends it when that fails.
func (b *Bot) replaceForm(ctx context.Context, act schema.Activity, card adaptiveCard) {
	if act.ReplyToID != "" {
		err := b.conn.UpdateActivity(ctx, act.ServiceURL, act.Conversation.ID, act.ReplyToID, cardActivity("Request access", card))
		if err == nil {
			return
		}
		b.log.InfoContext(ctx, "could not replace the request form; answering instead", "activity_id", act.ID, "err", err)
	}
	b.reply(ctx, act, cardActivity("Request access", card))
}

// submitForm submits a filled-in request card. The activity id is the idempotency key, so a
// redelivered click makes one request; the form is then replaced by the engine's answer (the
// request's summary), so it cannot be sent twice. What the kind's own rules refuse (an address
// that is none) is shown under its input, in the form sent back.
func (b *Bot) submitForm(ctx context.Context, act schema.Activity, who bot.Actor) error {
	values := formValues(act.Value)
	cmd, errs := parseRequestForm(values)
	if errs != nil {
		form, reply, ok := b.formFor(ctx, who, bot.Selection{Choice: values[dataChoice]})
		if !ok {
			return b.answer(ctx, act, reply)
		}
		b.replaceForm(ctx, act, requestDetails(form, values, errs))
		return nil
	}
	reply := b.engine.Run(ctx, who, cmd, idempotencyKey(act))
	if bot.Retryable(reply.Err) {
		return reply.Err
	}
	if reply.Card != nil && reply.Err == nil && act.ReplyToID != "" {
		err := b.conn.UpdateActivity(ctx, act.ServiceURL, act.Conversation.ID, act.ReplyToID, cardActivity(reply.Card.Summary(), renderCard(*reply.Card)))
		if err == nil {
			return nil
		}
		b.log.InfoContext(ctx, "could not replace the request form; answering instead", "activity_id", act.ID, "err", err)
	}
	b.deliver(ctx, act, reply)
	return nil
}

// deliver answers the person who sent act with the engine's reply, in the conversation act
// came from: a card, a list of requests (one card each), or the request form.
func (b *Bot) deliver(ctx context.Context, act schema.Activity, reply bot.Reply) {
	switch {
	case reply.Card != nil:
		b.replyCard(ctx, act, *reply.Card)
	case reply.List != nil:
		b.replyList(ctx, act, *reply.List)
	case len(reply.Form) > 0 && reply.Prefill != nil:
		// Request again: the second card, filled in as the request was.
		form := bot.NewForm(reply.Form, reply.Prefill.Selection)
		if form.Chosen == nil {
			b.reply(ctx, act, cardActivity("Request access", requestForm(reply.Form)))
			return
		}
		b.reply(ctx, act, cardActivity("Request access", requestDetails(form, reply.Prefill.Values, nil)))
	case len(reply.Form) > 0:
		b.reply(ctx, act, cardActivity("Request access", requestForm(reply.Form)))
	}
}

// senderKey carries the email of the person whose 1:1 chat an activity
// came from, once identified.
type senderKey struct{}

// reply posts out to the conversation act came from, addressed to its sender.
// While an inbox item is processed the answer joins the outbox with the
// item's finish (SendReply sends it); otherwise it is sent now. In the 1:1
// chat of an identified person, the answer shares the outbox's
// conversation of their notices and cards, which go to the same chat: one
// message at a time into it, each recorded before the next, so that a
// crash repeats at most the one in flight.
func (b *Bot) reply(ctx context.Context, act schema.Activity, out schema.Activity) {
	out = activity.ApplyConversationReference(out, activity.GetCoversationReference(act), false)
	a := answer{ServiceURL: act.ServiceURL, ConversationID: act.Conversation.ID, Activity: out}
	key := "teams:conv:" + act.Conversation.ID
	if email, ok := ctx.Value(senderKey{}).(string); ok && act.Conversation.ConversationType == personalConversation {
		key = bot.DirectConversation(Platform, email)
	}
	if raw, err := json.Marshal(a); err == nil && bot.Answer(ctx, Platform, key, act.From.ID, raw) {
		return
	}
	if _, err := b.conn.SendToConversation(ctx, act.ServiceURL, act.Conversation.ID, out); err != nil {
		b.log.WarnContext(ctx, "could not answer", "conversation_id", act.Conversation.ID, "user_id", act.From.ID, "err", err)
	}
}

// answer is a Teams answer as it waits in the outbox: the activity, ready
// to send, and where. Never a secret.
type answer struct {
	ServiceURL     string          `json:"service_url"`
	ConversationID string          `json:"conversation_id"`
	Activity       schema.Activity `json:"activity"`
}

var _ bot.Replier = (*Bot)(nil)

// SendReply implements bot.Replier.
func (b *Bot) SendReply(ctx context.Context, dl flows.Delivery) error {
	var a answer
	if err := json.Unmarshal(dl.Payload, &a); err != nil {
		return bot.Permanent(fmt.Errorf("teams: decode an answer: %w", err))
	}
	_, err := b.conn.SendToConversation(ctx, a.ServiceURL, a.ConversationID, a.Activity)
	return err
}

func (b *Bot) replyCard(ctx context.Context, act schema.Activity, c bot.Card) {
	if c.HasSecret() && act.Conversation.ConversationType != personalConversation {
		// Never reached by design; a secret must not be one bug away from a channel.
		b.log.ErrorContext(ctx, "refused to post a secret outside a 1:1 chat", "conversation_id", act.Conversation.ID)
		return
	}
	b.reply(ctx, act, cardActivity(c.Summary(), renderCard(c)))
}

// replyList answers with several requests, one card each with its buttons; an empty list is
// its head card.
func (b *Bot) replyList(ctx context.Context, act schema.Activity, l bot.List) {
	if len(l.Items) == 0 {
		b.replyCard(ctx, act, l.Head())
		return
	}
	cards := make([]adaptiveCard, 0, min(len(l.Items), maxListed))
	for _, it := range l.Items[:min(len(l.Items), maxListed)] {
		cards = append(cards, renderCard(it.Card))
	}
	text := l.Title
	if len(l.Items) > maxListed {
		text = fmt.Sprintf("%s (the %d most recent of %d)", l.Title, maxListed, len(l.Items))
	}
	out := cardActivity(l.Title, cards...)
	out.Text = markdownText(text)
	b.reply(ctx, act, out)
}

package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// What an inbox item of Slack's asks for.
const (
	itemCommand = "command" // a slash command, parsed
	itemSubmit  = "submit"  // the request form, submitted
	itemClick   = "click"   // a button
	itemDeny    = "deny"    // the deny form, submitted
	itemForm    = "form"    // the request form, opened: to fill in
)

// item is the payload of Slack's inbox records: who acted (their user id;
// the email is looked up when the item is processed, so a lookup failure
// is retried), what they asked, and where to answer. The response_url is
// valid 30 minutes, past any retry. Never a secret.
type item struct {
	Kind        string       `json:"kind"`
	UserID      string       `json:"user_id"`
	ChannelID   string       `json:"channel_id,omitempty"`
	ResponseURL string       `json:"response_url,omitempty"`
	FromHome    bool         `json:"from_home,omitempty"`
	Ref         string       `json:"ref"` // trigger or view id: shown with an internal error
	Command     *bot.Command `json:"command,omitempty"`
	Action      string       `json:"action,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	// The request form views.open showed (itemForm).
	ViewID string `json:"view_id,omitempty"`
	Hash   string `json:"hash,omitempty"`
	// What the person chose in the form so far, when a choice of theirs
	// asks for it to be laid out again (itemForm).
	Selection *bot.Selection `json:"selection,omitempty"`
	// Again is the request whose Request again button opened the form
	// (itemForm): the form is filled in as it was.
	Again string `json:"again,omitempty"`
}

// action says whether it acts on a request under way (a button, the deny
// form): taken ahead of new requests when the inbox is behind
// (bot.Inbox.ReceiveAction).
func (it item) action() bool { return it.Kind == itemClick || it.Kind == itemDeny }

func (it item) actor() actor {
	return actor{userID: it.UserID, channelID: it.ChannelID, responseURL: it.ResponseURL, fromHome: it.FromHome}
}

// Idempotency keys of Slack's deliveries: the same delivery, replayed or
// retried, has the same key. A command's key is also flows.Submit's, as it
// was before the inbox, so that a request made then is recognised.
func commandKey(triggerID string) string { return "slack:trigger:" + triggerID }
func viewKey(viewID string) string       { return "slack:view:" + viewID }
func formKey(viewID string) string       { return "slack:form:" + viewID }

// clickKey names a click by a hash of what Slack sent about it: a replay
// sends the same, a second click has its own trigger id and action_ts.
func clickKey(who actor, triggerID string, act *slackgo.BlockAction) string {
	sum := sha256.Sum256([]byte(who.userID + "\x00" + who.channelID + "\x00" + triggerID + "\x00" + act.ActionID + "\x00" + act.BlockID + "\x00" + act.ActionTs))
	return "slack:click:" + hex.EncodeToString(sum[:16])
}

// receive records a delivery in the inbox before it is acknowledged. ok is
// false when it was received before (a replay or a retry, to be
// acknowledged and ignored) or could not be recorded (err).
func (b *Bot) receive(ctx context.Context, key string, it item) (ok bool, err error) {
	raw, err := json.Marshal(it)
	if err != nil {
		return false, fmt.Errorf("slack: encode an inbox item: %w", err)
	}
	receive := b.inbox.Receive
	if it.action() {
		receive = b.inbox.ReceiveAction
	}
	first, err := receive(ctx, Platform, key, raw)
	if err != nil {
		b.log.ErrorContext(ctx, "could not record a delivery", "key", key, "user_id", it.UserID, "err", err)
		return false, err
	}
	if !first {
		b.log.InfoContext(ctx, "ignored a delivery received before", "key", key, "user_id", it.UserID, "kind", it.Kind)
	}
	return first, nil
}

// notTaken answers a delivery the inbox could not record (err): nothing
// was done, and the person should try again (bot.NotTaken).
func notTaken(err error) bot.Card { return bot.NotTaken(err) }

// notTakenText is notTaken as one line, for a form's error.
func notTakenText(err error) string {
	c := notTaken(err)
	return c.Title + ": " + c.Text
}

var _ bot.InboxHandler = (*Bot)(nil)

// HandleInbox implements bot.InboxHandler: it does what a recorded
// delivery asks, as the person who sent it, authorized by the service on
// the state as it is now, and answers them.
func (b *Bot) HandleInbox(ctx context.Context, in flows.InboxItem) error {
	var it item
	if err := json.Unmarshal(in.Payload, &it); err != nil {
		return bot.Permanent(fmt.Errorf("slack: decode inbox item %q: %w", in.Key, err))
	}
	who := it.actor()
	a, err := b.actorOf(ctx, b.call, who, it.Ref)
	if bot.Retryable(err) {
		return err
	}
	if it.Kind == itemForm {
		return b.fillRequestForm(ctx, a, err, it)
	}
	replace := it.Kind == itemCommand
	var reply bot.Reply
	switch {
	case err != nil:
		reply = b.engine.Refused(ctx, a, err)
	case it.Kind == itemCommand || it.Kind == itemSubmit:
		if it.Command == nil {
			return bot.Permanent(fmt.Errorf("slack: inbox item %q has no command", in.Key))
		}
		reply = b.engine.Run(ctx, a, *it.Command, in.Key)
	case it.Kind == itemClick || it.Kind == itemDeny:
		act, perr := bot.ParseAction(it.Action)
		if perr != nil {
			return bot.Permanent(fmt.Errorf("slack: inbox item %q: %w", in.Key, perr))
		}
		reply = b.engine.Click(ctx, a, act, bot.ClickInput{Reason: it.Reason})
	default:
		return bot.Permanent(fmt.Errorf("slack: inbox item %q of unknown kind %q", in.Key, it.Kind))
	}
	if bot.Retryable(reply.Err) {
		return reply.Err
	}
	b.deliver(ctx, who, reply, replace)
	if who.fromHome {
		b.collect(ctx, answer{Kind: answerHome, UserID: who.userID})
	}
	return nil
}

// GiveUpInbox implements bot.InboxHandler: the person is told it failed,
// with the reference that finds the log.
func (b *Bot) GiveUpInbox(ctx context.Context, in flows.InboxItem, err error) {
	var it item
	if json.Unmarshal(in.Payload, &it) != nil || it.UserID == "" {
		return
	}
	a := bot.Actor{Platform: Platform, UserID: it.UserID, Ref: it.Ref}
	b.deliver(ctx, it.actor(), b.engine.Refused(ctx, a, err), it.Kind == itemCommand)
}

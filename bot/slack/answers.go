package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Slack's answers to a person, as they wait in the outbox (bot.Answer):
// rendered when the inbox item is processed, sent when the dispatcher hands
// them back (SendReply). Never a secret.
type answer struct {
	Kind        string `json:"kind"` // answerMessage, answerHome, answerForm
	UserID      string `json:"user_id"`
	ChannelID   string `json:"channel_id,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
	Replace     bool   `json:"replace,omitempty"`
	// At is when the answer was made, on the bot's clock (the
	// response_url's age).
	At     time.Time       `json:"at"`
	Text   string          `json:"text,omitempty"`
	Blocks json.RawMessage `json:"blocks,omitempty"`
	// The request form to fill in: the modal views.open showed, and what
	// it becomes.
	ViewID string          `json:"view_id,omitempty"`
	Hash   string          `json:"hash,omitempty"`
	View   json.RawMessage `json:"view,omitempty"`
}

const (
	answerMessage = "message" // the outcome, to the person, where they acted
	answerHome    = "home"    // their App Home, brought up to date
	answerForm    = "form"    // the request form, filled in
)

// responseURLLife is how long jitbot uses a response_url: Slack accepts it
// for 30 minutes. An answer older than that (an outage held it) goes to the
// person's direct messages instead.
const responseURLLife = 29 * time.Minute

// collect adds a to the answers of the inbox item ctx processes. It
// reports false outside one: the caller sends a itself.
func (b *Bot) collect(ctx context.Context, a answer) bool {
	a.At = b.clock.Now()
	raw, err := json.Marshal(a)
	if err != nil {
		b.log.ErrorContext(ctx, "could not encode an answer", "user_id", a.UserID, "err", err)
		return false
	}
	// One conversation per person: their answers go out in order.
	return bot.Answer(ctx, Platform, "slack:reply:"+a.UserID, a.UserID, raw)
}

var _ bot.Replier = (*Bot)(nil)

// SendReply implements bot.Replier.
func (b *Bot) SendReply(ctx context.Context, dl flows.Delivery) error {
	var a answer
	if err := json.Unmarshal(dl.Payload, &a); err != nil {
		return bot.Permanent(fmt.Errorf("slack: decode an answer: %w", err))
	}
	if a.ResponseURL != "" && b.clock.Now().Sub(a.At) > responseURLLife {
		a.ResponseURL, a.ChannelID = "", ""
	}
	// The dispatcher retries: a 429 returns at once, as from Send.
	err := b.send(ctx, b.callNow, a)
	var gone slackgo.StatusCodeError
	if a.ResponseURL != "" && errors.As(err, &gone) && gone.Code == http.StatusNotFound {
		// Expired or used up (Slack allows five posts in thirty minutes):
		// retrying cannot help, and would hold the person's later answers
		// back. Their direct messages take it instead.
		a.ResponseURL, a.ChannelID = "", ""
		return b.send(ctx, b.callNow, a)
	}
	return err
}

// ReplyWhere implements bot.ReplyFinder: an answer with neither a live
// response_url nor a channel to be ephemeral in is a message in the
// person's DM, which FindSent can find again.
func (b *Bot) ReplyWhere(dl flows.Delivery) (string, bool) {
	var a answer
	if json.Unmarshal(dl.Payload, &a) != nil || a.Kind != answerMessage {
		return "", false
	}
	if a.ResponseURL != "" && b.clock.Now().Sub(a.At) > responseURLLife {
		a.ResponseURL, a.ChannelID = "", ""
	}
	if a.ResponseURL != "" || a.ChannelID != "" && !isDM(a.ChannelID) {
		return "", false
	}
	return a.UserID, true
}

var _ bot.ReplyFinder = (*Bot)(nil)

// send sends an answer now; call says what a 429 costs (callNow for the
// dispatcher, call for detached work).
func (b *Bot) send(ctx context.Context, call caller, a answer) error {
	switch a.Kind {
	case answerHome:
		return b.publishHome(ctx, call, a.UserID)
	case answerForm:
		var view slackgo.ModalViewRequest
		if err := json.Unmarshal(a.View, &view); err != nil {
			return bot.Permanent(fmt.Errorf("slack: decode the request form: %w", err))
		}
		return call(ctx, "views.update", func(ctx context.Context) error {
			_, err := b.api.UpdateViewContext(ctx, view, "", a.Hash, a.ViewID)
			return err
		})
	case answerMessage:
		var blocks slackgo.Blocks
		if len(a.Blocks) > 0 {
			if err := json.Unmarshal(a.Blocks, &blocks); err != nil {
				return bot.Permanent(fmt.Errorf("slack: decode an answer's blocks: %w", err))
			}
		}
		return b.answerNow(ctx, call, actor{userID: a.UserID, channelID: a.ChannelID, responseURL: a.ResponseURL}, a.Text, blocks.BlockSet, a.Replace)
	}
	return bot.Permanent(fmt.Errorf("slack: an answer of unknown kind %q", a.Kind))
}

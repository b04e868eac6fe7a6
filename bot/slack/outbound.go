package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// A caller runs one Web API call, fn, named method in its errors and logs.
// The two differ in what they do with a 429: call waits a short
// Retry-After, callNow never waits.
type caller func(ctx context.Context, method string, fn func(ctx context.Context) error) error

// How long detached work waits for Slack's rate limits: a Retry-After of
// at most maxRateLimitWait is waited out, at most maxRateLimitRetries times
// (so a call sleeps at most 9 s in all). A longer one ends the call: an
// inbox item is retried on the inbox's backoff, a home tab waits for the
// next time it is opened, and no worker is held for a minute.
const (
	maxRateLimitRetries = 3
	maxRateLimitWait    = 3 * time.Second
)

// call runs one Web API call for detached work (inbox workers looking
// people up, the home tab when it is opened, answers sent outside an inbox
// item, the user group sync), retrying it after a short Retry-After when
// Slack says it is rate limited. Its errors are classified as callNow's
// are (apiError).
func (b *Bot) call(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		var rl *slackgo.RateLimitedError
		if err == nil || !errors.As(err, &rl) || attempt >= maxRateLimitRetries || rl.RetryAfter > maxRateLimitWait {
			return apiError(method, err)
		}
		wait := max(rl.RetryAfter, minRetryAfter)
		b.log.WarnContext(ctx, "rate limited by slack; retrying", "method", method, "retry_after", wait, "attempt", attempt+1)
		if err := b.sleep(ctx, wait); err != nil {
			return fmt.Errorf("slack: %s: rate limited and out of time: %w", method, err)
		}
	}
}

// callNow runs one Web API call for the outbox's dispatcher (the
// bot.Platform methods, and SendReply for the answers it sends), once. A 429 returns at once as a bot.RateLimited:
// the dispatcher holds the conversation back for its Retry-After, where a
// worker sleeping on it would hold a whole worker (for a minute, or for all
// of a chat outage). Refusals that never heal are bot.PermanentError
// (apiError); the dispatcher backs off and retries everything else.
func (b *Bot) callNow(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	return apiError(method, fn(ctx))
}

// pacer keeps chat.postMessage to one channel at least gap apart, Slack's
// "one message per second per channel". Posts to a channel are serialised;
// the gap is measured from the end of one post to the start of the next, so
// Slack sees them at least gap apart whatever the network does.
type pacer struct {
	clock flows.Clock
	gap   time.Duration
	sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	channels map[string]*channelSlot
}

type channelSlot struct {
	turn  chan struct{} // a one-slot semaphore: whoever holds it may post
	last  time.Time     // when the previous post finished
	users int           // goroutines holding or waiting for the slot
}

func newPacer(clock flows.Clock, gap time.Duration, sleep func(context.Context, time.Duration) error) *pacer {
	return &pacer{clock: clock, gap: gap, sleep: sleep, channels: map[string]*channelSlot{}}
}

// do runs post when the channel's turn comes.
func (p *pacer) do(ctx context.Context, channel string, post func(ctx context.Context) error) error {
	p.mu.Lock()
	slot := p.channels[channel]
	if slot == nil {
		if len(p.channels) >= pacerPrune {
			p.pruneLocked()
		}
		slot = &channelSlot{turn: make(chan struct{}, 1)}
		p.channels[channel] = slot
	}
	slot.users++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		slot.users--
		// Forget idle channels whose gap has passed, so the map stays small.
		if slot.users == 0 && p.clock.Now().Sub(slot.last) >= p.gap {
			delete(p.channels, channel)
		}
		p.mu.Unlock()
	}()

	select {
	case slot.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("slack: waiting to post to %s: %w", channel, ctx.Err())
	}
	defer func() { <-slot.turn }()
	if !slot.last.IsZero() {
		if wait := p.gap - p.clock.Now().Sub(slot.last); wait > 0 {
			if err := p.sleep(ctx, wait); err != nil {
				return fmt.Errorf("slack: waiting to post to %s: %w", channel, err)
			}
		}
	}
	err := post(ctx)
	slot.last = p.clock.Now()
	return err
}

// pacerPrune is the number of remembered channels past which idle ones are
// forgotten: a bot writes to many DM channels, most of them rarely.
const pacerPrune = 1024

// pruneLocked forgets channels nobody is posting to whose gap has passed.
// A slot's last is written only by the holder of its turn, who counts among
// its users, so reading it when users is zero is safe.
func (p *pacer) pruneLocked() {
	now := p.clock.Now()
	for ch, slot := range p.channels {
		if slot.users == 0 && now.Sub(slot.last) >= p.gap {
			delete(p.channels, ch)
		}
	}
}

// post sends a card to a channel (or a DM channel), paced, and returns the
// channel id and ts Slack answered with. call says what a 429 costs.
func (b *Bot) post(ctx context.Context, call caller, channel string, c bot.Card) (string, string, error) {
	text, blocks := renderMessage(c)
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...)}
	if id := bot.DeliveryOf(ctx); id != 0 {
		opts = append(opts, slackgo.MsgOptionMetadata(deliveryMetadata(id)))
	}
	var ch, ts string
	err := b.pacer.do(ctx, channel, func(ctx context.Context) error {
		return call(ctx, "chat.postMessage", func(ctx context.Context) error {
			var err error
			ch, ts, err = b.api.PostMessageContext(ctx, channel, opts...)
			return err
		})
	})
	return ch, ts, err
}

// update replaces a message sent earlier with a card, for the dispatcher.
func (b *Bot) update(ctx context.Context, channel, ts string, c bot.Card) error {
	text, blocks := renderMessage(c)
	return b.callNow(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, channel, ts,
			slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...))
		return err
	})
}

// dm sends a card to a person's direct messages with the bot.
// chat.postMessage to a user id posts in the bot's DM with them and answers
// with that DM's channel id (for later chat.update), so no conversations.open
// is needed: one call fewer on the way to the credentials (DESIGN §8). The
// pacing key is the user id, which every DM post uses.
func (b *Bot) dm(ctx context.Context, call caller, userID string, c bot.Card) (string, string, error) {
	return b.post(ctx, call, userID, c)
}

// actor is the person behind a command or a click, and where to answer them.
type actor struct {
	userID      string
	channelID   string // where they acted, when in a conversation
	responseURL string // answers privately in that conversation
	fromHome    bool   // acted from the App Home tab
}

// deliver answers a person with the engine's reply, privately (tell).
// Replies offering the request form come only from filling the modal,
// which shows them itself.
func (b *Bot) deliver(ctx context.Context, who actor, reply bot.Reply, replace bool) {
	switch {
	case reply.Card != nil:
		b.tell(ctx, who, *reply.Card, replace)
	case reply.List != nil:
		b.tellBlocks(ctx, who, fallbackText(reply.List.Head()), listBlocks(*reply.List), replace)
	}
}

// tell answers a person privately (answerNow says where).
func (b *Bot) tell(ctx context.Context, who actor, c bot.Card, replace bool) {
	if c.HasSecret() {
		// Secrets go only to a person's own DM, never through a response_url
		// or a channel, whatever the caller meant.
		if _, _, err := b.dm(ctx, b.call, who.userID, c); err != nil {
			b.log.WarnContext(ctx, "could not send a direct message", "user_id", who.userID, "err", err)
		}
		return
	}
	text, blocks := renderMessage(c)
	b.tellBlocks(ctx, who, text, blocks, replace)
}

// tellBlocks is tell for a message already rendered (lists of requests).
// While an inbox item is processed the answer joins the outbox with the
// item's finish; otherwise it is sent now.
func (b *Bot) tellBlocks(ctx context.Context, who actor, text string, blocks []slackgo.Block, replace bool) {
	raw, err := json.Marshal(slackgo.Blocks{BlockSet: blocks})
	if err == nil && b.collect(ctx, answer{Kind: answerMessage, UserID: who.userID, ChannelID: who.channelID,
		ResponseURL: who.responseURL, Replace: replace, Text: text, Blocks: raw}) {
		return
	}
	if err := b.answerNow(ctx, b.call, who, text, blocks, replace); err != nil {
		b.log.WarnContext(ctx, "could not answer a person", "user_id", who.userID, "err", err)
	}
}

// answerNow answers a person privately: through the response_url when there is
// one (replacing the "Working on it…" of a slash command when replace is
// set), else as an ephemeral message in the channel where they acted, else
// in their direct messages.
// call says what a 429 costs.
func (b *Bot) answerNow(ctx context.Context, call caller, who actor, text string, blocks []slackgo.Block, replace bool) error {
	switch {
	case who.responseURL != "":
		msg := &slackgo.WebhookMessage{
			ResponseType: slackgo.ResponseTypeEphemeral, Text: text,
			Blocks: &slackgo.Blocks{BlockSet: blocks}, ReplaceOriginal: replace,
		}
		return call(ctx, "response_url", func(ctx context.Context) error {
			return slackgo.PostWebhookCustomHTTPContext(ctx, who.responseURL, b.http, msg)
		})
	case who.channelID != "" && !isDM(who.channelID):
		return call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
			_, err := b.api.PostEphemeralContext(ctx, who.channelID, who.userID,
				slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...))
			return err
		})
	}
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...)}
	if id := bot.DeliveryOf(ctx); id != 0 {
		opts = append(opts, slackgo.MsgOptionMetadata(deliveryMetadata(id)))
	}
	return b.pacer.do(ctx, who.userID, func(ctx context.Context) error {
		return call(ctx, "chat.postMessage", func(ctx context.Context) error {
			_, _, err := b.api.PostMessageContext(ctx, who.userID, opts...)
			return err
		})
	})
}

func isDM(channelID string) bool { return len(channelID) > 0 && channelID[0] == 'D' }

package slack

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// deliveryEvent is the event type of the metadata that names, on each
// message the outbox posts, the delivery it is (bot.DeliveryOf). The
// metadata holds nothing else: apps that read the conversation learn a
// number.
const deliveryEvent = "jitbot_delivery"

func deliveryMetadata(id uint64) slackgo.SlackMetadata {
	return slackgo.SlackMetadata{EventType: deliveryEvent, EventPayload: map[string]any{"delivery": strconv.FormatUint(id, 10)}}
}

// How much history FindSent reads: a send cut short is looked for
// minutes after it, in a conversation the bot writes to about once a
// second at most.
const (
	historyPage  = 200
	historyPages = 5
)

// FindSent implements bot.SentFinder: the message this bot posted in where
// (a user id: its DM with them; a channel's id or #name) at or after since
// whose metadata names delivery id. It reads conversations.history (scopes
// im:history, and channels:history or groups:history for the approvals
// channel; a #name is looked up with users.conversations, scopes
// channels:read and groups:read); an app installed without them cannot
// look, and the message is sent again, as before.
func (b *Bot) FindSent(ctx context.Context, where string, id uint64, since time.Time) (flows.MessageRef, bool, error) {
	ws, err := b.people.workspace(ctx, b.callNow)
	if err != nil {
		return flows.MessageRef{}, false, err
	}
	ch := where
	switch {
	case isChannelName(where):
		// Posted by name: history needs the channel's id.
		id, found, err := b.channels.id(ctx, b.callNow, where)
		if err != nil || !found {
			return flows.MessageRef{}, false, err
		}
		ch = id
	case strings.HasPrefix(where, "U") || strings.HasPrefix(where, "W"):
		// Posted by user id into the DM: history needs the DM's own id.
		err := b.callNow(ctx, "conversations.open", func(ctx context.Context) error {
			c, _, _, err := b.api.OpenConversationContext(ctx, &slackgo.OpenConversationParameters{Users: []string{where}, ReturnIM: true})
			if err == nil {
				ch = c.ID
			}
			return err
		})
		if err != nil {
			return flows.MessageRef{}, false, err
		}
	}
	want := strconv.FormatUint(id, 10)
	params := slackgo.GetConversationHistoryParameters{ChannelID: ch, Oldest: slackTS(since), Inclusive: true, Limit: historyPage, IncludeAllMetadata: true}
	for range historyPages {
		var res *slackgo.GetConversationHistoryResponse
		err := b.callNow(ctx, "conversations.history", func(ctx context.Context) error {
			var err error
			res, err = b.api.GetConversationHistoryContext(ctx, &params)
			return err
		})
		if err != nil {
			return flows.MessageRef{}, false, err
		}
		for _, m := range res.Messages {
			ours := m.User == ws.botUserID && ws.botUserID != "" || m.BotID == ws.botID && ws.botID != ""
			if ours && m.Metadata.EventType == deliveryEvent && fmt.Sprint(m.Metadata.EventPayload["delivery"]) == want {
				return flows.MessageRef{Conversation: ch, ID: m.Timestamp}, true, nil
			}
		}
		if !res.HasMore || res.ResponseMetaData.NextCursor == "" {
			break
		}
		params.Cursor = res.ResponseMetaData.NextCursor
	}
	return flows.MessageRef{}, false, nil
}

// slackTS is t as a Slack message timestamp.
func slackTS(t time.Time) string {
	us := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
}

var _ bot.SentFinder = (*Bot)(nil)

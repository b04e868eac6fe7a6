package slack

import (
	"context"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// How long a channel's id is trusted for its name (a channel can be
// renamed), and how long a name found in no list is not looked for again
// (each look pages through the bot's channels).
const (
	channelTTL       = time.Hour
	channelAbsentTTL = 5 * time.Minute
	channelsMax      = 10000
	channelsPage     = 200
)

// channelDirectory turns a channel's #name into its id: chat.postMessage
// takes either, conversations.history only an id. It lists the channels
// the bot is a member of (users.conversations, scopes channels:read and
// groups:read): the bot posts only where it is a member (chat:write), and
// that list is short where conversations.list would page through the whole
// workspace.
type channelDirectory struct {
	api    *slackgo.Client
	ids    *bot.Cache[string]   // name, lower case without '#' -> id
	absent *bot.Cache[struct{}] // names the last list lacked
}

func newChannelDirectory(api *slackgo.Client, clock flows.Clock) *channelDirectory {
	return &channelDirectory{
		api:    api,
		ids:    bot.NewCache[string](clock, channelTTL, channelsMax),
		absent: bot.NewCache[struct{}](clock, channelAbsentTTL, channelsMax),
	}
}

// id is the id of the channel named name ("#db-access" or "db-access");
// found is false when the bot is a member of no channel of that name.
func (d *channelDirectory) id(ctx context.Context, call caller, name string) (id string, found bool, err error) {
	name = strings.ToLower(strings.TrimPrefix(name, "#"))
	if id, ok := d.ids.Get(name); ok {
		return id, true, nil
	}
	if _, ok := d.absent.Get(name); ok {
		return "", false, nil
	}
	channels, err := botChannels(ctx, d.api, call)
	if err != nil {
		return "", false, err
	}
	for _, c := range channels {
		n := strings.ToLower(c.Name)
		d.ids.Put(n, c.ID)
		if n == name {
			id, found = c.ID, true
		}
	}
	if !found {
		d.absent.Put(name, struct{}{})
	}
	return id, found, nil
}

// botChannels lists the public and private channels the bot is a member
// of, every page of users.conversations.
func botChannels(ctx context.Context, api *slackgo.Client, call caller) ([]slackgo.Channel, error) {
	var out []slackgo.Channel
	params := slackgo.GetConversationsForUserParameters{Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: channelsPage}
	for {
		var page []slackgo.Channel
		var next string
		err := call(ctx, "users.conversations", func(ctx context.Context) error {
			var err error
			page, next, err = api.GetConversationsForUserContext(ctx, &params)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		params.Cursor = next
	}
}

// isChannelName says whether where names a channel by name ("#db-access",
// or "db-access" as chat.postMessage also takes it) rather than by id:
// Slack's ids are upper-case letters and digits, its names never are.
func isChannelName(where string) bool {
	if strings.HasPrefix(where, "#") {
		return true
	}
	return strings.ContainsFunc(where, func(r rune) bool { return !('A' <= r && r <= 'Z' || '0' <= r && r <= '9') })
}

package slacktest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// users.conversations' page sizes: Slack's default and its most.
const (
	channelsDefaultLimit = 100
	channelsMaxLimit     = 999
)

// usersConversations lists the conversations the bot is a member of, as
// Slack's users.conversations does for the calling bot: the channels
// registered with AddChannel (public) and AddPrivateChannel, of the types
// asked for (public_channel when none are), by name, limit at a time with
// a cursor for the next page. The fake keeps no one else's memberships: a
// user other than the bot is invalid_arguments. It lists no DMs.
func (s *Server) usersConversations(req *apiRequest) reply {
	if u := req.params.Get("user"); u != "" && u != s.cfg.botUserID {
		return errReply("invalid_arguments", "slacktest lists the bot's own conversations only")
	}
	want := map[string]bool{"public_channel": true}
	if t := req.params.Get("types"); t != "" {
		want = map[string]bool{}
		for _, typ := range strings.Split(t, ",") {
			typ = strings.TrimSpace(typ)
			if !slices.Contains([]string{"public_channel", "private_channel", "mpim", "im"}, typ) {
				return errReply("invalid_types")
			}
			want[typ] = true
		}
	}
	limit := channelsDefaultLimit
	if v := req.params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errReply("invalid_limit")
		}
		limit = min(n, channelsMaxLimit)
	}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s.channels)) {
		typ := "public_channel"
		if s.private[s.channels[name]] {
			typ = "private_channel"
		}
		if want[typ] {
			names = append(names, name)
		}
	}
	start, end, next, code := page(req, len(names), limit)
	if code != "" {
		return errReply(code)
	}
	out := make([]map[string]any, 0, end-start)
	for _, name := range names[start:end] {
		id := s.channels[name]
		out = append(out, map[string]any{
			"id": id, "name": name, "name_normalized": name,
			"is_channel": true, "is_private": s.private[id], "is_archived": false,
			"is_member": true, "context_team_id": s.cfg.teamID,
		})
	}
	return okReply(map[string]any{"channels": out, "response_metadata": map[string]any{"next_cursor": next}})
}

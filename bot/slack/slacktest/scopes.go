package slacktest

import (
	"net/url"
	"slices"
	"strings"
)

// AllScopes are the bot scopes the methods the fake serves need, the
// scopes a bot token has unless WithScopes says otherwise.
func AllScopes() []string {
	return []string{
		"commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read",
		"im:history", "channels:history", "groups:history", "channels:read", "groups:read",
	}
}

// WithScopes sets the scopes the bot token was granted (AllScopes by
// default). As Slack does, every Web API answer to the bot token names
// them in its X-OAuth-Scopes header, and a method called without the
// scope it needs is refused with missing_scope, naming the scope needed.
func WithScopes(scopes ...string) Option {
	return func(c *config) { c.scopes = slices.Clone(scopes) }
}

// neededScope is the scope method needs for what params ask, as Slack's
// method pages list them; "" when the method needs none (auth.test, the
// views.* methods, which a trigger or a view id authorizes). A method that
// reads channels of several types needs the scope of each: the first one
// missing is named.
func (s *Server) neededScope(method string, params url.Values) string {
	var need []string
	switch method {
	case "chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete":
		need = []string{"chat:write"}
	case "conversations.open":
		need = []string{"im:write"}
	case "users.info":
		need = []string{"users:read"}
	case "users.lookupByEmail":
		need = []string{"users:read.email"}
	case "usergroups.list", "usergroups.users.list":
		need = []string{"usergroups:read"}
	case "conversations.history":
		switch ch := params.Get("channel"); {
		case strings.HasPrefix(ch, "D"):
			need = []string{"im:history"}
		case s.private[ch]:
			need = []string{"groups:history"}
		default:
			need = []string{"channels:history"}
		}
	case "users.conversations":
		types := params.Get("types")
		if types == "" {
			types = "public_channel"
		}
		for _, t := range strings.Split(types, ",") {
			switch strings.TrimSpace(t) {
			case "public_channel":
				need = append(need, "channels:read")
			case "private_channel":
				need = append(need, "groups:read")
			case "im":
				need = append(need, "im:read")
			case "mpim":
				need = append(need, "mpim:read")
			}
		}
	}
	for _, n := range need {
		if !slices.Contains(s.cfg.scopes, n) {
			return n
		}
	}
	return ""
}

// missingScope is Slack's refusal of a call without the scope it needs.
func (s *Server) missingScope(needed string) reply {
	r := errReply("missing_scope")
	r.body["needed"] = needed
	r.body["provided"] = strings.Join(s.cfg.scopes, ",")
	return r
}

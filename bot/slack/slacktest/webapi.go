package slacktest

import (
	"maps"
	"slices"
	"strings"
)

func (s *Server) authTest(*apiRequest) reply {
	return okReply(map[string]any{
		"url":     "https://" + s.cfg.teamName + ".slack.com/",
		"team":    s.cfg.teamName,
		"user":    "jitbot",
		"team_id": s.cfg.teamID,
		"user_id": s.cfg.botUserID,
		"bot_id":  s.cfg.botID,
	})
}

// conversationsOpen opens the bot's DM with one user (D + user id, stable) or
// a group DM with several (G + their ids).
func (s *Server) conversationsOpen(req *apiRequest) reply {
	if ch := req.params.Get("channel"); ch != "" {
		return okReply(map[string]any{
			"no_op": true, "already_open": true,
			"channel": map[string]any{"id": ch, "is_open": true, "is_im": strings.HasPrefix(ch, "D")},
		})
	}
	raw := req.params.Get("users")
	if raw == "" {
		return errReply("users_list_not_supplied")
	}
	ids := strings.Split(raw, ",")
	if len(ids) > 8 {
		return errReply("too_many_users")
	}
	for i, id := range ids {
		ids[i] = strings.TrimSpace(id)
		u, ok := s.users[ids[i]]
		if !ok {
			return errReply("user_not_found")
		}
		if u.Deleted {
			return errReply("user_disabled")
		}
	}
	if len(ids) > 1 {
		sorted := slices.Sorted(slices.Values(ids))
		return okReply(map[string]any{
			"channel": map[string]any{"id": "G" + strings.Join(sorted, ""), "is_mpim": true, "is_open": true},
		})
	}
	uid := ids[0]
	already := s.openDMs[uid]
	s.openDMs[uid] = true
	return okReply(map[string]any{
		"no_op":        already,
		"already_open": already,
		"channel": map[string]any{
			"id": DMChannel(uid), "is_im": true, "is_open": true, "user": uid,
			"created": req.now.Unix(),
		},
	})
}

func (s *Server) usersInfo(req *apiRequest) reply {
	if many := req.params.Get("users"); many != "" {
		var out []any
		for id := range strings.SplitSeq(many, ",") {
			u, ok := s.users[strings.TrimSpace(id)]
			if !ok {
				return errReply("user_not_found")
			}
			out = append(out, slackUser(u))
		}
		return okReply(map[string]any{"users": out})
	}
	u, ok := s.users[req.params.Get("user")]
	if !ok {
		return errReply("user_not_found")
	}
	return okReply(map[string]any{"user": slackUser(u)})
}

func (s *Server) usersLookupByEmail(req *apiRequest) reply {
	u, ok := s.userByEmailLocked(req.params.Get("email"))
	if !ok {
		return errReply("users_not_found")
	}
	return okReply(map[string]any{"user": slackUser(u)})
}

func (s *Server) usergroupsUsersList(req *apiRequest) reply {
	g, ok := s.groups[req.params.Get("usergroup")]
	if !ok {
		return errReply("no_such_subteam")
	}
	return okReply(map[string]any{"users": nonNil(g.members)})
}

func (s *Server) usergroupsList(req *apiRequest) reply {
	withUsers := req.params.Get("include_users") == "true"
	ids := slices.Sorted(maps.Keys(s.groups))
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		g := s.groups[id]
		item := map[string]any{
			"id": g.id, "team_id": s.cfg.teamID, "is_usergroup": true,
			"name": g.handle, "handle": g.handle, "user_count": len(g.members),
		}
		if withUsers {
			item["users"] = nonNil(g.members)
		}
		out = append(out, item)
	}
	return okReply(map[string]any{"usergroups": out})
}

// nonNil keeps an empty list encoding as [] rather than null, as Slack does.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

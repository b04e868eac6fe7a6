package slacktest

import (
	"slices"
	"strings"

	"github.com/slack-go/slack"
)

// User is a workspace member known to the fake.
type User struct {
	ID          string
	TeamID      string // defaults to the server's team
	Name        string // the handle, e.g. "alice"
	RealName    string
	DisplayName string
	Email       string
	TZ          string // IANA name, e.g. "Europe/Paris"
	TZLabel     string
	TZOffset    int // seconds east of UTC, as Slack's tz_offset
	IsBot       bool
	IsAdmin     bool
	Deleted     bool
	// Guests and people from other organisations, as users.info marks
	// them: a multi-channel guest is restricted, a single-channel guest
	// ultra restricted too. Someone from another organisation in a Slack
	// Connect channel has their own TeamID; IsStranger marks one the
	// workspace shares no channel with.
	IsRestricted      bool
	IsUltraRestricted bool
	IsStranger        bool
}

type userGroup struct {
	id      string
	handle  string
	members []string
}

// AddUser adds or replaces a user and returns it as stored: an empty ID gets
// a fresh one, an empty TeamID the server's team.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.nextIDLocked("U")
	}
	if u.TeamID == "" {
		u.TeamID = s.cfg.teamID
	}
	s.users[u.ID] = u
	s.notifyLocked()
	return u
}

// AddUserGroup adds or replaces a user group (a "subteam", id S...).
func (s *Server) AddUserGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = userGroup{id: id, handle: handle, members: slices.Clone(members)}
	s.notifyLocked()
}

// AddChannel registers a public channel the bot is a member of, so
// chat.postMessage can address it by name ("#db-access" or "db-access"), as
// Slack allows, and users.conversations lists it. Channels addressed by id
// need no registration.
func (s *Server) AddChannel(id, name string) { s.addChannel(id, name, false) }

// AddPrivateChannel is AddChannel for a private channel.
func (s *Server) AddPrivateChannel(id, name string) { s.addChannel(id, name, true) }

func (s *Server) addChannel(id, name string, private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[strings.TrimPrefix(name, "#")] = id
	s.private[id] = private
	s.notifyLocked()
}

// DMChannel is the id of the bot's DM channel with a user, stable for the
// life of the server, as conversations.open answers it.
func DMChannel(userID string) string { return "D" + userID }

func (s *Server) userByEmailLocked(email string) (User, bool) {
	for _, u := range s.users {
		if u.Email != "" && strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	return User{}, false
}

// slackUser renders a user the way users.info does, profile included.
func slackUser(u User) slack.User {
	display := u.DisplayName
	return slack.User{
		ID:       u.ID,
		TeamID:   u.TeamID,
		Name:     u.Name,
		Deleted:  u.Deleted,
		RealName: u.RealName,
		TZ:       u.TZ,
		TZLabel:  u.TZLabel,
		TZOffset: u.TZOffset,
		IsBot:    u.IsBot,
		IsAdmin:  u.IsAdmin,
		// A single-channel guest is restricted too, as Slack reports it.
		IsRestricted:      u.IsRestricted || u.IsUltraRestricted,
		IsUltraRestricted: u.IsUltraRestricted,
		IsStranger:        u.IsStranger,
		Profile: slack.UserProfile{
			RealName:              u.RealName,
			RealNameNormalized:    u.RealName,
			DisplayName:           display,
			DisplayNameNormalized: display,
			Email:                 u.Email,
			Team:                  u.TeamID,
		},
	}
}

// resolveChannelLocked turns what the bot passed as "channel" into the id
// Slack would answer with: names become their registered id and a user id
// becomes the bot's DM with that user, as chat.postMessage does.
func (s *Server) resolveChannelLocked(ch string) (string, string) {
	switch {
	case ch == "":
		return "", "channel_not_found"
	case strings.HasPrefix(ch, "#"):
		id, ok := s.channels[ch[1:]]
		if !ok {
			return "", "channel_not_found"
		}
		return id, ""
	}
	if id, ok := s.channels[ch]; ok {
		return id, ""
	}
	if u, ok := s.users[ch]; ok {
		if u.Deleted {
			return "", "user_disabled"
		}
		s.openDMs[u.ID] = true
		return DMChannel(u.ID), ""
	}
	return ch, ""
}

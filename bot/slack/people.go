package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// person is a Slack user as jitbot needs them: who they are (email, the
// identity flows knows), where to write to them and their time zone.
type person struct {
	ID    string
	Email string // lower case; empty when Slack shows none
	Loc   *time.Location
	// Outsider is a guest or someone from another organisation (see
	// workspace.member). They neither request nor approve, and their email
	// is dropped so that nothing is routed to them.
	Outsider bool
}

// outsiderMessage is what a guest or an external user is told.
const outsiderMessage = "jitbot serves members of this workspace; guests and people from other organisations cannot request or approve access"

// workspace is the Slack workspace the bot is installed in, as auth.test
// answers for the bot token.
type workspace struct {
	teamID       string
	enterpriseID string // set on an Enterprise Grid
	// botUserID and botID are the bot's own, which its messages carry.
	botUserID, botID string
}

// member reports whether u is a full member of the workspace: not a guest
// (multi-channel guests are restricted, single-channel ones ultra
// restricted), not a stranger, and of this workspace's team or, on an
// Enterprise Grid, of its organisation.
//
// The workspace is the bot token's, from auth.test. A payload's team id
// would not do: in a channel shared over Slack Connect it may name the
// external user's own workspace, which their user record names too, so
// comparing the two would admit them. is_stranger alone would not do
// either: Slack sets it only for people of other workspaces who share no
// channel with the app, not for those in a shared channel.
func (w workspace) member(u *slackgo.User) bool {
	if u.IsRestricted || u.IsUltraRestricted || u.IsStranger {
		return false
	}
	if u.TeamID != "" && u.TeamID == w.teamID {
		return true
	}
	return w.enterpriseID != "" && u.Enterprise.EnterpriseID == w.enterpriseID
}

// How long what Slack said about people is trusted. Emails and time zones
// change rarely; a person not found may join soon, so that is kept briefly.
const (
	peopleTTL         = time.Hour
	notFoundTTL       = 5 * time.Minute
	peopleMax         = 50000
	codeUsersNotFound = "users_not_found"
	codeUserNotFound  = "user_not_found"
)

// directory maps Slack user ids to people and emails to Slack users, with
// bounded, time-limited caches in front of users.info and
// users.lookupByEmail.
type directory struct {
	api    *slackgo.Client
	ids    *bot.Cache[person]   // user id -> person
	emails *bot.Cache[person]   // email -> member of this workspace
	absent *bot.Cache[struct{}] // emails of no member of this workspace (they may use Teams)

	mu   sync.Mutex
	home workspace // zero until auth.test has answered
}

func newDirectory(api *slackgo.Client, clock flows.Clock) *directory {
	return &directory{
		api:    api,
		ids:    bot.NewCache[person](clock, peopleTTL, peopleMax),
		emails: bot.NewCache[person](clock, peopleTTL, peopleMax),
		absent: bot.NewCache[struct{}](clock, notFoundTTL, peopleMax),
	}
}

func fromUser(u *slackgo.User) person {
	p := person{ID: u.ID, Email: strings.ToLower(strings.TrimSpace(u.Profile.Email)), Loc: time.UTC}
	if u.TZ != "" {
		if loc, err := time.LoadLocation(u.TZ); err == nil {
			p.Loc = loc
		} else {
			p.Loc = time.FixedZone(u.TZLabel, u.TZOffset)
		}
	} else if u.TZOffset != 0 {
		p.Loc = time.FixedZone("", u.TZOffset)
	}
	return p
}

// workspace returns the workspace the bot is installed in, asking
// auth.test the first time (Ping may already have). Without it nobody can be
// told apart from an external user, so lookups fail until Slack answers.
// call is the lookup's own caller.
func (d *directory) workspace(ctx context.Context, call caller) (workspace, error) {
	d.mu.Lock()
	w := d.home
	d.mu.Unlock()
	if w.teamID != "" {
		return w, nil
	}
	var res *slackgo.AuthTestResponse
	err := call(ctx, "auth.test", func(ctx context.Context) error {
		var err error
		res, err = d.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return workspace{}, err
	}
	if res.TeamID == "" {
		return workspace{}, errors.New("slack: auth.test named no workspace")
	}
	return d.setWorkspace(res), nil
}

func (d *directory) setWorkspace(res *slackgo.AuthTestResponse) workspace {
	d.mu.Lock()
	defer d.mu.Unlock()
	if res.TeamID != "" {
		d.home = workspace{teamID: res.TeamID, enterpriseID: res.EnterpriseID, botUserID: res.UserID, botID: res.BotID}
	}
	return d.home
}

func (d *directory) remember(p person) {
	d.ids.Put(p.ID, p)
	if p.Email != "" {
		d.emails.Put(p.Email, p)
	}
}

// byUserID returns the person with a Slack user id, with their email. A
// person without a readable email cannot use jitbot: the error says why.
// call says what a 429 costs.
func (d *directory) byUserID(ctx context.Context, call caller, userID string) (person, error) {
	p, ok := d.ids.Get(userID)
	if !ok {
		home, err := d.workspace(ctx, call)
		if err != nil {
			return person{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not look you up in Slack right now; try again in a minute")
		}
		var u *slackgo.User
		err = call(ctx, "users.info", func(ctx context.Context) error {
			var err error
			u, err = d.api.GetUserInfoContext(ctx, userID)
			return err
		})
		if err != nil {
			if slackCode(err) == codeUserNotFound {
				return person{}, flows.Errorf(flows.ENOTFOUND, "Slack does not know user %s", userID)
			}
			return person{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not look you up in Slack right now; try again in a minute")
		}
		p = fromUser(u)
		if u.IsBot || u.Deleted {
			p.Email = ""
		}
		if !home.member(u) {
			p.Email, p.Outsider = "", true
		}
		d.remember(p)
	}
	if p.Outsider {
		return person{}, flows.Errorf(flows.EFORBIDDEN, outsiderMessage)
	}
	if p.Email == "" {
		return person{}, flows.Errorf(flows.EFORBIDDEN, "jitbot cannot see an email address on your Slack profile, and people are known by their email; ask an admin to check the app's users:read.email scope")
	}
	return p, nil
}

// cached returns what is already known about a user, without calling
// Slack (for decisions made before an acknowledgement).
func (d *directory) cached(userID string) (person, bool) { return d.ids.Get(userID) }

// byEmail finds the Slack user with an email; found is false when the
// person is not a member of this workspace (they may use Teams): guests and
// external users are never reached through an email. call says what a 429
// costs.
func (d *directory) byEmail(ctx context.Context, call caller, email string) (p person, found bool, err error) {
	email = strings.ToLower(email)
	if p, ok := d.emails.Get(email); ok {
		return p, true, nil
	}
	if _, ok := d.absent.Get(email); ok {
		return person{}, false, nil
	}
	home, err := d.workspace(ctx, call)
	if err != nil {
		return person{}, false, err
	}
	var u *slackgo.User
	err = call(ctx, "users.lookupByEmail", func(ctx context.Context) error {
		var err error
		u, err = d.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if err != nil {
		if code := slackCode(err); code == codeUsersNotFound || code == codeUserNotFound {
			d.absent.Put(email, struct{}{})
			return person{}, false, nil
		}
		return person{}, false, err
	}
	if u.Deleted || u.IsBot || !home.member(u) {
		d.absent.Put(email, struct{}{})
		return person{}, false, nil
	}
	p = fromUser(u)
	if p.Email == "" {
		p.Email = email // lookupByEmail matched it even if the profile hides it
	}
	d.remember(p)
	return p, true, nil
}

// slackCode is the error code of a Web API error ("users_not_found").
func slackCode(err error) string {
	var e slackgo.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

// UserGroupMembers returns the emails of the members of the Slack user group
// with the given handle (the name people mention with @). The wiring syncs
// them into policy groups that include slack:<handle>. Members whose email
// jitbot cannot read are left out: people are known by their email.
func (b *Bot) UserGroupMembers(ctx context.Context, handle string) ([]string, error) {
	var groups []slackgo.UserGroup
	err := b.call(ctx, "usergroups.list", func(ctx context.Context) error {
		var err error
		groups, err = b.api.GetUserGroupsContext(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: list user groups: %w", err)
	}
	id := ""
	for _, g := range groups {
		if g.Handle == handle {
			id = g.ID
		}
	}
	if id == "" {
		return nil, fmt.Errorf("slack: there is no user group @%s (enabled, in this workspace)", handle)
	}
	var userIDs []string
	err = b.call(ctx, "usergroups.users.list", func(ctx context.Context) error {
		var err error
		userIDs, err = b.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: members of user group @%s: %w", handle, err)
	}
	emails := make([]string, 0, len(userIDs))
	for _, uid := range userIDs {
		p, err := b.people.byUserID(ctx, b.call, uid)
		if err != nil {
			if flows.ErrorCode(err) == flows.EUNAVAILABLE {
				return nil, fmt.Errorf("slack: members of user group @%s: %w", handle, err)
			}
			continue
		}
		emails = append(emails, p.Email)
	}
	return emails, nil
}

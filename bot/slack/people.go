package slack

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/flows"
)

// person is a Slack user as jitbot needs them: who they are (email, the
// identity flows knows), where to write to them and their time zone.
type person struct {
	ID    string
	Email string // lower case; empty when Slack shows none
	Loc   *time.Location
}

type cached struct {
	p     person
	found bool
	at    time.Time
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

// directory maps Slack user ids to people and emails to Slack users, with a
// bounded, time-limited cache in front of users.info and users.lookupByEmail.
type directory struct {
	api   *slackgo.Client
	clock flows.Clock
	call  func(ctx context.Context, method string, fn func(ctx context.Context) error) error

	mu     sync.Mutex
	ids    map[string]cached
	emails map[string]cached
	dms    map[string]string // user id -> DM channel id; stable for a user
}

func newDirectory(api *slackgo.Client, clock flows.Clock, call func(context.Context, string, func(context.Context) error) error) *directory {
	return &directory{api: api, clock: clock, call: call, ids: map[string]cached{}, emails: map[string]cached{}, dms: map[string]string{}}
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

func (d *directory) fresh(c cached, ok bool, now time.Time) bool {
	if !ok {
		return false
	}
	ttl := peopleTTL
	if !c.found {
		ttl = notFoundTTL
	}
	return now.Sub(c.at) < ttl
}

func (d *directory) remember(p person, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ids)+len(d.emails) > peopleMax {
		// Crude but bounded: start over rather than track recency.
		d.ids, d.emails = map[string]cached{}, map[string]cached{}
	}
	c := cached{p: p, found: true, at: now}
	d.ids[p.ID] = c
	if p.Email != "" {
		d.emails[p.Email] = c
	}
}

// byUserID returns the person with a Slack user id, with their email. A
// person without a readable email cannot use jitbot: the error says why.
func (d *directory) byUserID(ctx context.Context, userID string) (person, error) {
	now := d.clock.Now()
	d.mu.Lock()
	c, ok := d.ids[userID]
	d.mu.Unlock()
	if !d.fresh(c, ok, now) {
		var u *slackgo.User
		err := d.call(ctx, "users.info", func(ctx context.Context) error {
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
		c = cached{p: fromUser(u), found: true, at: now}
		if u.IsBot || u.Deleted {
			c.p.Email = ""
		}
		d.remember(c.p, now)
	}
	if c.p.Email == "" {
		return person{}, flows.Errorf(flows.EFORBIDDEN, "jitbot cannot see an email address on your Slack profile, and people are known by their email; ask an admin to check the app's users:read.email scope")
	}
	return c.p, nil
}

// cachedEmail returns a user's email if it is already known, without
// calling Slack (for decisions made before an acknowledgement).
func (d *directory) cachedEmail(userID string) (string, bool) {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.ids[userID]
	if !d.fresh(c, ok, now) || c.p.Email == "" {
		return "", false
	}
	return c.p.Email, true
}

// byEmail finds the Slack user with an email; found is false when the
// person is not in this workspace (they may use Teams).
func (d *directory) byEmail(ctx context.Context, email string) (p person, found bool, err error) {
	email = strings.ToLower(email)
	now := d.clock.Now()
	d.mu.Lock()
	c, ok := d.emails[email]
	d.mu.Unlock()
	if d.fresh(c, ok, now) {
		return c.p, c.found, nil
	}
	var u *slackgo.User
	err = d.call(ctx, "users.lookupByEmail", func(ctx context.Context) error {
		var err error
		u, err = d.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if err != nil {
		if code := slackCode(err); code == codeUsersNotFound || code == codeUserNotFound {
			d.mu.Lock()
			d.emails[email] = cached{found: false, at: now}
			d.mu.Unlock()
			return person{}, false, nil
		}
		return person{}, false, err
	}
	if u.Deleted || u.IsBot {
		d.mu.Lock()
		d.emails[email] = cached{found: false, at: now}
		d.mu.Unlock()
		return person{}, false, nil
	}
	p = fromUser(u)
	if p.Email == "" {
		p.Email = email // lookupByEmail matched it even if the profile hides it
	}
	d.remember(p, now)
	return p, true, nil
}

// dmChannel opens (once) the bot's direct-message channel with a user.
func (d *directory) dmChannel(ctx context.Context, userID string) (string, error) {
	d.mu.Lock()
	ch, ok := d.dms[userID]
	d.mu.Unlock()
	if ok {
		return ch, nil
	}
	err := d.call(ctx, "conversations.open", func(ctx context.Context) error {
		c, _, _, err := d.api.OpenConversationContext(ctx, &slackgo.OpenConversationParameters{Users: []string{userID}})
		if err == nil {
			ch = c.ID
		}
		return err
	})
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	if len(d.dms) > peopleMax {
		d.dms = map[string]string{}
	}
	d.dms[userID] = ch
	d.mu.Unlock()
	return ch, nil
}

// slackCode is the error code of a Web API error ("users_not_found").
func slackCode(err error) string {
	var e slackgo.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

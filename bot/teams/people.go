package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/core/activity"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// personalConversation is the conversationType of a 1:1 chat with the bot, the only place
// jitbot discusses access and the only kind of conversation it keeps references to.
const personalConversation = "personal"

// How long what Teams said about people is trusted. Emails change rarely; a lookup is one
// connector call, not worth repeating per click.
const (
	peopleTTL  = time.Hour
	peopleMax  = 50000
	maxTZName  = 64
	contactMax = 50000
)

// person is a Teams user as jitbot needs them: the email flows knows them by, and the time
// zone their client reported, if any.
type person struct {
	ID    string // Teams user id (29:...)
	Email string
	Loc   *time.Location // nil: unknown, shown in UTC
}

// viewer is the person looking at a card.
func (p person) viewer() bot.Viewer { return bot.Viewer{Email: p.Email, Location: p.Loc} }

// contact is what is stored per email so that jitbot can write to a person first, after a
// restart too: the conversation reference of their 1:1 chat with the bot (its JSON is
// activity.GetCoversationReference's, so a plain reference reads back too) and the time zone
// their client last reported.
type contact struct {
	schema.ConversationReference
	TimeZone string `json:"localTimezone,omitempty"`
}

// location is the contact's time zone, or nil (UTC).
func (c contact) location() *time.Location { return loadLocation(c.TimeZone) }

// loadLocation resolves an IANA zone name sent by a Teams client; anything unknown or odd
// means UTC. time.LoadLocation refuses paths, so the name cannot reach outside the zone data.
func loadLocation(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > maxTZName {
		return nil // "Local" would be the server's zone, not the person's
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}

// directory turns Teams user ids into people (through the connector's get-member call,
// cached) and keeps people's conversation references in the store.
type directory struct {
	conn  *Connector
	store Store
	log   *slog.Logger
	byID  *bot.Cache[string]         // tenant/user id -> email
	saved *bot.Cache[[]byte]         // email -> contact JSON last written, to skip identical writes
	zones *bot.Cache[*time.Location] // email -> time zone last reported, in front of the stored contact
}

func newDirectory(conn *Connector, st Store, clock flows.Clock, log *slog.Logger) *directory {
	return &directory{
		conn: conn, store: st, log: log,
		byID:  bot.NewCache[string](clock, peopleTTL, peopleMax),
		saved: bot.NewCache[[]byte](clock, 24*time.Hour, contactMax),
		zones: bot.NewCache[*time.Location](clock, 24*time.Hour, contactMax),
	}
}

// identify returns the person who sent act, by email. Activities carry no email: the
// connector's get-member call has it (email, else userPrincipalName).
func (d *directory) identify(ctx context.Context, act schema.Activity) (person, error) {
	p := person{ID: act.From.ID, Loc: loadLocation(act.LocalTimezone)}
	key := act.Conversation.TenantID + "/" + act.From.ID
	if email, ok := d.byID.Get(key); ok {
		p.Email = email
		return d.withLocation(ctx, p), nil
	}
	m, err := d.conn.GetMember(ctx, act.ServiceURL, act.Conversation.ID, act.From.ID)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			return person{}, flows.WrapError(flows.EFORBIDDEN, err, "Teams did not tell jitbot who you are; try again from your 1:1 chat with jitbot")
		}
		return person{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not look you up in Teams right now; try again in a minute")
	}
	raw := m.Email
	if strings.TrimSpace(raw) == "" {
		raw = m.UserPrincipalName
	}
	email, err := flows.NormalizeEmail(raw)
	if err != nil {
		return person{}, flows.WrapError(flows.EFORBIDDEN, err, "jitbot knows people by email, and Teams shows no usable email address for you; ask an admin to check your account")
	}
	d.byID.Put(key, email)
	p.Email = email
	return d.withLocation(ctx, p), nil
}

// withLocation falls back to the zone last seen for the person when the activity names none
// (Teams sends localTimezone with messages, not with every activity).
func (d *directory) withLocation(ctx context.Context, p person) person {
	if p.Loc == nil {
		p.Loc = d.location(ctx, p.Email)
	}
	return p
}

// remember stores the conversation reference of act's 1:1 chat under the person's email, so
// that approval cards and notices can reach them later. Only personal conversations are kept:
// a group chat or channel is never where credentials or approvals go.
func (d *directory) remember(ctx context.Context, p person, act schema.Activity) {
	if act.Conversation.ConversationType != personalConversation || p.Email == "" {
		return
	}
	ref := activity.GetCoversationReference(act)
	// A proactive message starts a new thread; it must not reply to whatever activity this was.
	ref.ActivityID = ""
	c := contact{ConversationReference: ref}
	if p.Loc != nil {
		c.TimeZone = p.Loc.String()
		d.zones.Put(p.Email, p.Loc)
	} else if prev, ok, _ := d.contact(ctx, p.Email); ok {
		c.TimeZone = prev.TimeZone
	}
	data, err := json.Marshal(c)
	if err != nil {
		d.log.WarnContext(ctx, "could not encode a conversation reference", "email", p.Email, "err", err)
		return
	}
	if prev, ok := d.saved.Get(p.Email); ok && bytes.Equal(prev, data) {
		return
	}
	if err := d.store.PutContact(ctx, Platform, p.Email, data); err != nil {
		d.log.WarnContext(ctx, "could not store a conversation reference", "email", p.Email, "err", err)
		return
	}
	d.saved.Put(p.Email, data)
}

// contact returns the stored 1:1 conversation of a person; found is false for people never
// seen in Teams (they are simply not reachable here).
func (d *directory) contact(ctx context.Context, email string) (c contact, found bool, err error) {
	data, err := d.store.Contact(ctx, Platform, email)
	if err != nil {
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			return contact{}, false, nil
		}
		return contact{}, false, fmt.Errorf("teams: read the contact of %s: %w", email, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return contact{}, false, fmt.Errorf("teams: decode the contact of %s: %w", email, err)
	}
	if c.ServiceURL == "" || c.Conversation.ID == "" {
		return contact{}, false, fmt.Errorf("teams: the contact of %s has no service url or conversation", email)
	}
	return c, true, nil
}

// location is where a person's times are shown: the zone their client reported, else UTC.
func (d *directory) location(ctx context.Context, email string) *time.Location {
	if loc, ok := d.zones.Get(email); ok {
		return loc
	}
	if c, ok, _ := d.contact(ctx, email); ok {
		return c.location()
	}
	return nil
}

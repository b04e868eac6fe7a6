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
	"sync"
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

// person is a Teams user as jitbot needs them: the email flows knows them by, the Entra
// account behind it, and the time zone their client reported, if any.
type person struct {
	ID    string // Teams user id (29:...)
	Email string
	// AadObjectID is the person's Entra object id, immutable unlike their mail and UPN: an email
	// is bound to the first account seen with it (contact.AadObjectID).
	AadObjectID string
	Loc         *time.Location // nil: unknown, shown in UTC
}

// identity is what a get-member lookup established about a Teams user id.
type identity struct {
	email, aadObjectID string
}

// contact is what is stored per email so that jitbot can write to a person first, after a
// restart too: the conversation reference of their 1:1 chat with the bot (its JSON is
// activity.GetCoversationReference's, so a plain reference reads back too), the time zone
// their client last reported, and the Entra account the email is bound to.
//
// Mail and UPN are attributes a tenant admin can set on any account; the object id is not. The
// first account seen with an email keeps it: another account showing the same email is refused
// and never overwrites the contact, so it can neither act as that person nor receive their
// credentials and approval cards. Contacts stored before the binding existed bind on the next
// activity.
type contact struct {
	schema.ConversationReference
	TimeZone    string `json:"localTimezone,omitempty"`
	AadObjectID string `json:"boundAadObjectId,omitempty"`
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
	conn   *Connector
	store  Store
	tenant string
	log    *slog.Logger
	byID   *bot.Cache[identity]       // tenant/user id -> who get-member said it is
	bound  *bot.Cache[string]         // email -> Entra object id it is bound to ("" unbound), in front of the store
	saved  *bot.Cache[[]byte]         // email -> contact JSON last written, to skip identical writes
	zones  *bot.Cache[*time.Location] // email -> time zone last reported, in front of the stored contact
	// known is the contact last read from or written to the store, per email: what reaches a
	// person while the store cannot be read (etcd out of reach), when the admins must hear of
	// it (bot.TellNow). The leader looks the admins up every hour to keep theirs (bot.Reachable).
	known  *bot.Cache[contact]
	emails bot.RequestLocks // serialises binding and forgetting an email (check, then write)

	// mu and forgets guard the caches filled from the store or the connector outside the email
	// lock (byID, bound, known) against a forget that happens between the read and the fill: a fill
	// started before a forget is dropped, so it cannot bring back what the forget removed.
	mu      sync.Mutex
	forgets uint64
}

func newDirectory(conn *Connector, st Store, tenant string, clock flows.Clock, log *slog.Logger) *directory {
	return &directory{
		conn: conn, store: st, tenant: tenant, log: log,
		byID:  bot.NewCache[identity](clock, peopleTTL, peopleMax),
		bound: bot.NewCache[string](clock, 24*time.Hour, contactMax),
		saved: bot.NewCache[[]byte](clock, 24*time.Hour, contactMax),
		zones: bot.NewCache[*time.Location](clock, 24*time.Hour, contactMax),
		known: bot.NewCache[contact](clock, 24*time.Hour, contactMax),
	}
}

// sameTenant compares Entra tenant ids (GUIDs, whose case does not matter); an empty id never
// matches.
func sameTenant(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// errIdentityConflict is what a person whose email is bound to another Entra account is told.
func errIdentityConflict(email string) error {
	return flows.Errorf(flows.EFORBIDDEN, "Teams shows your email as %s, but jitbot knows that address as another Microsoft Entra account, so it did nothing. Ask an admin to check your account", email)
}

// identify returns the person who sent act, by email. Activities carry no email: the
// connector's get-member call has it (email, else userPrincipalName), with the person's Entra
// object id and tenant. The email must not be bound to another Entra account.
func (d *directory) identify(ctx context.Context, act schema.Activity) (person, error) {
	p := person{ID: act.From.ID, Loc: loadLocation(act.LocalTimezone)}
	key := act.Conversation.TenantID + "/" + act.From.ID
	id, ok := d.byID.Get(key)
	if !ok {
		gen := d.generation()
		var err error
		if id, err = d.lookup(ctx, act); err != nil {
			return person{}, err
		}
		d.fill(gen, func() { d.byID.Put(key, id) })
	}
	p.Email, p.AadObjectID = id.email, id.aadObjectID
	if err := d.checkBinding(ctx, p, act); err != nil {
		return person{}, err
	}
	return d.withLocation(ctx, p), nil
}

// lookup asks the connector who act's sender is.
func (d *directory) lookup(ctx context.Context, act schema.Activity) (identity, error) {
	m, err := d.conn.GetMember(ctx, act.ServiceURL, act.Conversation.ID, act.From.ID)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			return identity{}, flows.WrapError(flows.EFORBIDDEN, err, "Teams did not tell jitbot who you are; try again from your 1:1 chat with jitbot")
		}
		return identity{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not look you up in Teams right now; try again in a minute")
	}
	if m.TenantID != "" && !sameTenant(m.TenantID, d.tenant) {
		d.log.WarnContext(ctx, "teams: a member lookup answered for another tenant; refused",
			"event", "identity_other_tenant", "user_id", act.From.ID, "tenant_id", m.TenantID)
		return identity{}, flows.Errorf(flows.EFORBIDDEN, "jitbot serves one organisation, and Teams says your account belongs to another")
	}
	aad := m.AadObjectID
	if aad == "" {
		aad = act.From.AadObjectID
	} else if act.From.AadObjectID != "" && !strings.EqualFold(act.From.AadObjectID, aad) {
		d.log.WarnContext(ctx, "teams: the activity and the member lookup name different Entra accounts; refused",
			"event", "identity_conflict", "user_id", act.From.ID, "aad_object_id", aad, "activity_aad_object_id", act.From.AadObjectID)
		return identity{}, flows.Errorf(flows.EFORBIDDEN, "Teams gave jitbot two different accounts for you; try again from your 1:1 chat with jitbot")
	}
	if strings.TrimSpace(aad) == "" {
		return identity{}, flows.Errorf(flows.EFORBIDDEN, "Teams shows no Microsoft Entra account for you, and jitbot only works with Entra accounts; ask an admin to check your account")
	}
	raw := m.Email
	if strings.TrimSpace(raw) == "" {
		raw = m.UserPrincipalName
	}
	email, err := flows.NormalizeEmail(raw)
	if err != nil {
		return identity{}, flows.WrapError(flows.EFORBIDDEN, err, "jitbot knows people by email, and Teams shows no usable email address for you; ask an admin to check your account")
	}
	return identity{email: email, aadObjectID: strings.ToLower(aad)}, nil
}

// boundTo returns the Entra object id an email is bound to, "" when it is not bound yet.
func (d *directory) boundTo(ctx context.Context, email string) (string, error) {
	if aad, ok := d.bound.Get(email); ok {
		return aad, nil
	}
	gen := d.generation()
	data, err := d.store.Contact(ctx, Platform, email)
	if err != nil && flows.ErrorCode(err) != flows.ENOTFOUND {
		return "", fmt.Errorf("teams: read the contact of %s: %w", email, err)
	}
	var c contact
	if len(data) > 0 {
		if err := json.Unmarshal(data, &c); err != nil {
			// Nobody but this package writes contacts: a damaged one binds nothing, and the
			// next activity of its owner replaces it.
			d.log.WarnContext(ctx, "teams: a stored contact does not decode; treated as unbound", "email", email, "err", err)
			c = contact{}
		}
	}
	d.fill(gen, func() { d.bound.Put(email, c.AadObjectID) })
	return c.AadObjectID, nil
}

// generation is the number of forgets so far, taken before a read that fills a cache.
func (d *directory) generation() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.forgets
}

// fill runs put unless a forget happened since gen: what was read may be what it removed.
func (d *directory) fill(gen uint64, put func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.forgets == gen {
		put()
	}
}

// forget deletes the contact stored for email, appending evs to the audit log in the same
// transaction, and drops what memory holds about the email, so that the next account to show
// it binds it afresh. It returns the Entra object id the email was bound to, for the log.
// Lookups of the accounts that showed the email are dropped too: an account whose mail moved
// elsewhere in Entra must not be taken for the person by a cached lookup.
func (d *directory) forget(ctx context.Context, email string, evs ...flows.Event) (wasBound string, err error) {
	unlock := d.emails.Lock(flows.RequestID(email))
	defer unlock()
	if c, found, _ := d.stored(ctx, email); found {
		wasBound = c.AadObjectID
	}
	err = d.store.DeleteContact(ctx, Platform, email, evs...)
	// Whatever the store said: at worst what memory held is read again.
	d.mu.Lock()
	d.forgets++
	d.bound.Delete(email)
	d.saved.Delete(email)
	d.zones.Delete(email)
	d.known.Delete(email)
	d.byID.DeleteFunc(func(_ string, id identity) bool { return id.email == email })
	d.mu.Unlock()
	return wasBound, err
}

// checkBinding refuses a person whose email is bound to another Entra account: someone whose
// mail or UPN was set to another person's address, who must not act as them. It is logged as a
// warning with event=identity_conflict, worth an alert.
func (d *directory) checkBinding(ctx context.Context, p person, act schema.Activity) error {
	bound, err := d.boundTo(ctx, p.Email)
	if err != nil {
		return flows.WrapError(flows.EUNAVAILABLE, err, "could not check who you are right now; try again in a minute")
	}
	if bound != "" && bound != p.AadObjectID {
		d.log.WarnContext(ctx, "teams: an Entra account shows an email bound to another account; refused",
			"event", "identity_conflict", "email", p.Email, "aad_object_id", p.AadObjectID,
			"bound_aad_object_id", bound, "user_id", act.From.ID, "tenant_id", act.Conversation.TenantID)
		return errIdentityConflict(p.Email)
	}
	return nil
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
// that approval cards and notices can reach them later, and binds the email to the person's
// Entra account if it is not bound yet. Only personal conversations are kept: a group chat or
// channel is never where credentials or approvals go. An email bound to another account is
// neither overwritten nor used: the error says so.
func (d *directory) remember(ctx context.Context, p person, act schema.Activity) error {
	if act.Conversation.ConversationType != personalConversation || p.Email == "" {
		return nil
	}
	// Checking the binding and writing it are one step: two accounts showing the same email at
	// once must not both bind it.
	unlock := d.emails.Lock(flows.RequestID(p.Email))
	defer unlock()
	if err := d.checkBinding(ctx, p, act); err != nil {
		return err
	}
	ref := activity.GetCoversationReference(act)
	// A proactive message starts a new thread; it must not reply to whatever activity this was.
	ref.ActivityID = ""
	c := contact{ConversationReference: ref, AadObjectID: p.AadObjectID}
	if p.Loc != nil {
		c.TimeZone = p.Loc.String()
		d.zones.Put(p.Email, p.Loc)
	} else if prev, ok, _ := d.contact(ctx, p.Email); ok {
		c.TimeZone = prev.TimeZone
	}
	data, err := json.Marshal(c)
	if err != nil {
		d.log.WarnContext(ctx, "could not encode a conversation reference", "email", p.Email, "err", err)
		return nil
	}
	if prev, ok := d.saved.Get(p.Email); ok && bytes.Equal(prev, data) {
		return nil
	}
	if err := d.store.PutContact(ctx, Platform, p.Email, data); err != nil {
		d.log.WarnContext(ctx, "could not store a conversation reference", "email", p.Email, "err", err)
		return nil
	}
	d.saved.Put(p.Email, data)
	d.bound.Put(p.Email, p.AadObjectID)
	d.known.Put(p.Email, c)
	return nil
}

// stored reads the contact stored for email as it is; found is false when there is none. When
// the store cannot be read, the contact this process last read or wrote for email answers, if
// it has one: a forget (here or, for at most a day, on another replica) is the only change that
// could make it wrong, and that only while the store is out.
func (d *directory) stored(ctx context.Context, email string) (c contact, found bool, err error) {
	gen := d.generation()
	data, err := d.store.Contact(ctx, Platform, email)
	if err != nil {
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			d.fill(gen, func() { d.known.Delete(email) })
			return contact{}, false, nil
		}
		if known, ok := d.known.Get(email); ok {
			d.log.DebugContext(ctx, "teams: the store cannot be read; the contact last read answers", "email", email, "err", err)
			return known, true, nil
		}
		return contact{}, false, fmt.Errorf("teams: read the contact of %s: %w", email, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return contact{}, false, fmt.Errorf("teams: decode the contact of %s: %w", email, err)
	}
	d.fill(gen, func() { d.known.Put(email, c) })
	return c, true, nil
}

// contact returns the stored 1:1 conversation of a person; found is false for people never
// seen in Teams (they are simply not reachable here).
func (d *directory) contact(ctx context.Context, email string) (c contact, found bool, err error) {
	c, found, err = d.stored(ctx, email)
	if err != nil || !found {
		return contact{}, false, err
	}
	if c.ServiceURL == "" || c.Conversation.ID == "" {
		// Broken for good: retrying cannot mend it (the person writing to the
		// bot again stores a new one).
		return contact{}, false, bot.Permanent(fmt.Errorf("teams: the contact of %s has no service url or conversation", email))
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

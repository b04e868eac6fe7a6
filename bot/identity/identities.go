package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// How long the pieces of a sign-in live.
const (
	// LinkTTL is how long a one-time link may be used.
	LinkTTL = 10 * time.Minute
	// sessionTTL bounds a web session: it only lasts until the confirming
	// POST.
	sessionTTL = 15 * time.Minute
	// pendingTTL is how long a binding waits for an admin.
	pendingTTL = 7 * 24 * time.Hour
	// ReverifyGrace is how long after a re-verification falls due the
	// binding still stands; then it is removed and the grants revoked.
	ReverifyGrace = 24 * time.Hour
)

// Outbox is where the links go out: through the outbox, as every message.
type Outbox interface {
	Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error)
}

// Events records what the admins must hear of (an event about no request
// tells the admins).
type Events interface {
	AppendEvents(ctx context.Context, evs ...flows.Event) error
}

// Revoker ends a person's live grants when their binding is removed
// (flows.Service.RevokePerson).
type Revoker interface {
	RevokePerson(ctx context.Context, person, why string) ([]flows.RequestID, error)
}

// Decider records an approval (flows.Service.Decide).
type Decider interface {
	Decide(ctx context.Context, in flows.DecideInput) (*flows.Request, error)
}

// Deps are what Identities works with.
type Deps struct {
	Records Records
	Outbox  Outbox
	// Schedule hands new deliveries to the dispatcher (optional: it reads
	// the outbox anyway).
	Schedule func([]flows.Delivery)
	Events   Events
	Revoker  Revoker
	// Decider approves for an approver who signed in again (step-up;
	// flows.Service.Decide). Nil: flows cannot require step-up.
	Decider Decider
	// Submitter makes a break-glass use for a person who signed in again
	// (flows.Service.Submit). Nil: break-glass flows cannot require step-up.
	Submitter Submitter
	// Guests is the domain's third-party access (flows.Service): nil,
	// guest links cannot be made.
	Guests Guests
	// MailTLS, when set, is the TLS configuration for the mail relay
	// (tests: a relay with its own authority).
	MailTLS *tls.Config
	// IsAdmin tells the policy's admins (who approve bindings).
	IsAdmin func(email string) bool
	Clock   flows.Clock
	// Wall checks the ID tokens' own times (the system clock by default).
	Wall       flows.Clock
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Identities binds chat accounts to the provider's people. Build it with
// New; it is safe for concurrent use, and several replicas may serve it
// over one store.
type Identities struct {
	cfg  *OIDCConfig
	smtp *SMTPConfig // nil: guest links go to the sponsor
	deps Deps
	key  []byte // keys links, CSRF tokens and cookies' checks
	base string // jitbot's public address: scheme://host
	op   *provider
	log  *slog.Logger
}

// New checks the configuration and the dependencies.
func New(cfg *Config, deps Deps) (*Identities, error) {
	if cfg == nil || cfg.OIDC == nil {
		return nil, errors.New("identity: no oidc configuration")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("identity: %w", flows.ValidationError(errs))
	}
	if deps.Records == nil || deps.Outbox == nil || deps.Events == nil || deps.Revoker == nil || deps.IsAdmin == nil {
		return nil, errors.New("identity: needs records, the outbox, the audit log, a revoker and the admins")
	}
	if deps.Clock == nil {
		deps.Clock = flows.SystemClock{}
	}
	if deps.Wall == nil {
		deps.Wall = flows.SystemClock{}
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	u, _ := url.Parse(cfg.OIDC.RedirectURL)
	// Every replica derives the same key from the client secret, so a link
	// made by one opens on another; the store never holds it.
	mac := hmac.New(sha256.New, []byte(cfg.OIDC.ClientSecret))
	mac.Write([]byte("jitbot identity keys v1"))
	return &Identities{
		cfg: cfg.OIDC, smtp: cfg.SMTP, deps: deps, key: mac.Sum(nil), base: u.Scheme + "://" + u.Host,
		op:  &provider{cfg: cfg.OIDC, client: deps.HTTPClient, now: deps.Wall.Now},
		log: deps.Log.With("component", "identity"),
	}, nil
}

func (x *Identities) now() time.Time { return x.deps.Clock.Now() }

// sign is an HMAC of the parts, URL-safe.
func (x *Identities) sign(parts ...string) string {
	m := hmac.New(sha256.New, x.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (x *Identities) check(mac string, parts ...string) bool {
	return hmac.Equal([]byte(mac), []byte(x.sign(parts...)))
}

// random is 32 random bytes, URL-safe.
func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// linkURL is the one-time link: its id and a MAC of it. The outbox and the
// store hold only the id; the MAC is made when the message is rendered.
func (x *Identities) linkURL(id string) string {
	return x.base + "/id/l/" + id + "." + x.sign("link", id)
}

// linkID reads a link token, "" when it is not one of ours.
func (x *Identities) linkID(token string) string {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || id == "" || !x.check(mac, "link", id) {
		return ""
	}
	return id
}

// whatSignIn is the outbox's delivery of a sign-in link.
const whatSignIn = "signin"

// WhatSignIn is the delivery the dispatcher renders with Render.
const WhatSignIn = whatSignIn

type linkPayload struct {
	Link string `json:"link"`
}

// sendLink makes a one-time link for the chat account and sends it to the
// person by DM, through the outbox.
func (x *Identities) sendLink(ctx context.Context, platform, user, email string, p purpose) (string, error) {
	if email == "" {
		return "", flows.Errorf(flows.EFORBIDDEN, "jitbot cannot see the email of your chat profile, so it cannot link your account: ask an admin")
	}
	id := random()
	now := x.now()
	l := link{Platform: platform, UserID: user, Email: strings.ToLower(email), Purpose: p, Issued: now}
	if err := x.put(ctx, kindLink, id, l, now.Add(LinkTTL)); err != nil {
		return "", err
	}
	body, _ := json.Marshal(linkPayload{Link: id})
	ds, err := x.deps.Outbox.Enqueue(ctx, 0, flows.Delivery{
		Conversation: platform + ":dm:" + l.Email, Platform: platform, Priority: flows.PriorityActor,
		What: whatSignIn, Recipient: l.Email, Payload: body, CreatedAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("identity: send the sign-in link: %w", err)
	}
	if x.deps.Schedule != nil {
		x.deps.Schedule(ds)
	}
	x.log.InfoContext(ctx, "sign-in link sent", "platform", platform, "user_id", user, "purpose", p.Kind)
	return id, nil
}

// Render renders a sign-in link's delivery (bot.DispatcherDeps.Renderers):
// the link is made now, from the id the outbox holds. A link used or
// expired since is not sent.
func (x *Identities) Render(ctx context.Context, dl flows.Delivery) (bot.Card, error) {
	var p linkPayload
	if err := json.Unmarshal(dl.Payload, &p); err != nil || p.Link == "" {
		return bot.Card{}, fmt.Errorf("%w: unreadable sign-in payload", bot.ErrNothingToSend)
	}
	var l link
	if err := x.get(ctx, kindLink, p.Link, &l); err != nil {
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			return bot.Card{}, fmt.Errorf("%w: the link was used or expired", bot.ErrNothingToSend)
		}
		return bot.Card{}, err
	}
	c := bot.Card{
		Title: "Sign in to link your chat account",
		Text: "jitbot acts for you only once you have signed in with your company account. Open this link, check that it names your chat account, sign in and confirm:\n" +
			x.linkURL(p.Link) + "\nThe link works once, for 10 minutes. If you did not ask for it, ignore it.",
		Status: "Valid until " + bot.Viewer{Email: dl.Recipient}.FormatTime(l.Issued.Add(LinkTTL)),
		Tone:   bot.ToneWarning,
	}
	switch l.Purpose.Kind {
	case purposeReverify:
		c.Title = "Sign in again to keep your access"
		c.Text = "Every " + fmt.Sprint(x.cfg.reverifyDays()) + " days jitbot asks you to prove again who you are. Open this link, sign in with your company account and confirm:\n" +
			x.linkURL(p.Link) + "\nIf you do not within a day, jitbot stops acting for you and ends your live access."
	case purposeStepUp:
		if l.Purpose.BreakGlass != nil {
			c.Title, c.Text = breakGlassLinkText(l.Purpose, x.linkURL(p.Link))
			break
		}
		c.Title = "Approve with a fresh sign-in"
		c.Text = "Request " + l.Purpose.Request + " needs its approval made with multi-factor authentication. Open this link and sign in again (with your second factor) to approve it:\n" +
			x.linkURL(p.Link) + "\nThe approval counts only if you sign in within 5 minutes of your click."
	}
	return c, nil
}

// binding returns the trusted binding of a chat account.
func (x *Identities) binding(ctx context.Context, platform, user string) (Binding, bool, error) {
	var b Binding
	err := x.get(ctx, kindBinding, accountKey(platform, user), &b)
	switch {
	case err == nil:
		return b, true, nil
	case flows.ErrorCode(err) == flows.ENOTFOUND:
		return Binding{}, false, nil
	}
	return Binding{}, false, fmt.Errorf("identity: read the binding of %s: %w", accountKey(platform, user), err)
}

// errSignIn is what an unbound person is told.
var errSignIn = "jitbot acts for you only once you have signed in with your company account. " +
	"A sign-in link is in your direct messages (it works once, for 10 minutes): open it, check it names your chat account, sign in and confirm. Then try again."

// Trust implements bot.Gate: it returns who as the person the provider
// proved (their email as bound), or refuses with what to do.
func (x *Identities) Trust(ctx context.Context, who bot.Actor) (bot.Actor, error) {
	if who.UserID == "" || who.Platform == "" {
		return who, flows.Errorf(flows.EFORBIDDEN, "jitbot cannot tell which chat account this is, so it does not act")
	}
	b, ok, err := x.binding(ctx, who.Platform, who.UserID)
	if err != nil {
		return who, err
	}
	if ok {
		who.Email = b.Email
		return who, nil
	}
	refusal := errSignIn
	var p Binding
	if err := x.get(ctx, kindPending, accountKey(who.Platform, who.UserID), &p); err == nil {
		// A new link all the same: whoever signed in with the wrong
		// account can sign in with the right one, which links at once.
		refusal = fmt.Sprintf("you signed in as %s, which is not the email of your chat profile (%s): an admin must approve the link, and the admins were told. "+
			"If you used the wrong account, a new sign-in link is in your direct messages.", p.ProviderEmail, p.Email)
	}
	// One link at a time: a person who types three commands gets one DM.
	acct := accountKey(who.Platform, who.UserID)
	if _, err := x.deps.Records.SignIn(ctx, kindSent, acct, x.now()); err == nil {
		return who, flows.Errorf(flows.EFORBIDDEN, "%s", refusal)
	}
	id, err := x.sendLink(ctx, who.Platform, who.UserID, who.Email, purpose{Kind: purposeBind})
	if err != nil {
		return who, err
	}
	if err := x.deps.Records.PutSignIn(ctx, kindSent, acct, []byte(id), x.now().Add(LinkTTL)); err != nil {
		return who, err
	}
	return who, flows.Errorf(flows.EFORBIDDEN, "%s", refusal)
}

// finding tells the admins (an event about no request) and the audit log.
func (x *Identities) finding(ctx context.Context, msg string) {
	ev := flows.Event{Type: flows.EventIdentityFinding, Actor: flows.SystemActor, At: x.now(), Message: bot.Truncate(msg, 500)}
	if err := x.deps.Events.AppendEvents(ctx, ev); err != nil {
		x.log.ErrorContext(ctx, "could not record an identity finding", "err", err, "finding", msg)
	}
}

// unbind removes a binding and revokes the person's live grants, telling
// the admins.
func (x *Identities) unbind(ctx context.Context, b Binding, why string) error {
	if err := x.deps.Records.DeleteSignIn(ctx, kindBinding, b.Account()); err != nil {
		return fmt.Errorf("identity: remove the binding of %s: %w", b.Account(), err)
	}
	ids, err := x.deps.Revoker.RevokePerson(ctx, b.Email, "identity no longer proven: "+why)
	msg := fmt.Sprintf("%s account %s (%s) is no longer linked to %s at the identity provider: %s.", platformName(b.Platform), b.UserID, b.Email, b.ProviderEmail, why)
	if len(ids) > 0 {
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = string(id)
		}
		msg += " Live access revoked: " + strings.Join(s, ", ") + "."
	}
	if err != nil {
		msg += " Revoking their access failed: " + flows.ErrorMessage(err) + "; check their grants."
	}
	x.finding(ctx, msg)
	x.log.WarnContext(ctx, "binding removed", "platform", b.Platform, "user_id", b.UserID, "why", why, "revoked", len(ids))
	return err
}

// platformName is how a platform is named on a page.
func platformName(p string) string {
	switch p {
	case "slack":
		return "Slack"
	case "teams":
		return "Teams"
	}
	return p
}

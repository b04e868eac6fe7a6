package teams

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	_ "time/tzdata" // localTimezone names must resolve even on images without zoneinfo

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/core"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Platform is the value of flows.Request.Origin, flows.MessageRef.Platform and the contact
// platform for Teams.
const Platform = "teams"

// Defaults of Config.
const (
	DefaultWorkTimeout = 30 * time.Second
)

// Store keeps people's conversation references across restarts, so that the bot can write
// to them first. store.DB implements it.
type Store interface {
	PutContact(ctx context.Context, platform, key string, data []byte) error
	Contact(ctx context.Context, platform, key string) ([]byte, error)
	// DeleteContact removes a contact and appends evs to the audit log in the same
	// transaction; ENOTFOUND (and nothing recorded) when there is none.
	DeleteContact(ctx context.Context, platform, key string, evs ...flows.Event) error
}

// Engine is what the adapter asks of the chat engine (*bot.Engine): to run what people type
// and click, and to explain what failed before it got there. Everything jitbot says comes
// from it; this package delivers it the Teams way.
type Engine interface {
	Run(ctx context.Context, who bot.Actor, cmd bot.Command, key string) bot.Reply
	Click(ctx context.Context, who bot.Actor, a bot.Action, in bot.ClickInput) bot.Reply
	Refused(ctx context.Context, who bot.Actor, err error) bot.Reply
}

var _ Engine = (*bot.Engine)(nil)

// Bot is the Teams platform of the chat engine: the messaging endpoint's handler, which hands
// what people do to the engine and delivers its answers, and the engine's bot.Platform for
// Teams. Create it with New and register it with the engine; it is safe for concurrent use.
type Bot struct {
	cfg       Config
	engine    Engine
	store     Store
	log       *slog.Logger
	clock     flows.Clock
	validator *TokenValidator
	conn      *Connector
	adapter   *core.BotFrameworkAdapter
	people    *directory
	// inbox records activities before the ack: its keys recognise redeliveries.
	inbox *bot.Inbox
	// work runs the answers that need no record (typos, help) after the ack.
	work *bot.Worker
}

var _ bot.Platform = (*Bot)(nil)

// New checks the configuration and builds the adapter on the engine that answers what people
// do; st keeps people's conversation references. The engine tells people things through the
// Bot once it is registered with it (bot.Engine.Register).
//
// The configuration's checks are Validate's, run on the secrets themselves (the *_file keys are
// the loader's, which reads them into the secrets) after trimming what the loader trims:
// `jitbot check` runs the same Validate, so a teams section it accepts is one New accepts. The
// endpoints (openid_metadata_url, token_url) are refused again by the validator and the
// connector, for callers that build a Config by hand; the loader's endpoint check, which `check`
// runs, is the stricter. New refuses besides only what the wiring sets (the engine, the store,
// the inbox, a negative WorkTimeout).
func New(cfg Config, engine Engine, st Store, log *slog.Logger) (*Bot, error) {
	if engine == nil || st == nil {
		return nil, errors.New("teams: a chat engine and a contact store are required")
	}
	cfg.AppID, cfg.TenantID = strings.TrimSpace(cfg.AppID), strings.TrimSpace(cfg.TenantID)
	if err := configError(cfg.secretsRead().Validate()); err != nil {
		return nil, err
	}
	if cfg.WorkTimeout < 0 {
		return nil, errors.New("teams: work_timeout cannot be negative")
	}
	if cfg.Inbox == nil {
		return nil, errors.New("teams: an inbox is required")
	}
	cfg.WorkTimeout = cmp.Or(cfg.WorkTimeout, DefaultWorkTimeout)
	cfg.Clock = cmp.Or[flows.Clock](cfg.Clock, flows.SystemClock{})
	log = cmp.Or(log, cfg.Log, slog.New(slog.DiscardHandler)).With("component", "teams")

	validator, conn, err := newClients(cfg, log)
	if err != nil {
		return nil, err
	}
	b := &Bot{
		cfg: cfg, engine: engine, store: st, log: log, clock: cfg.Clock, validator: validator, conn: conn,
		// Built by hand: core.NewBotAdapter would install the library's own validator and client,
		// whose defects doc.go lists.
		adapter: &core.BotFrameworkAdapter{
			AdapterSetting: core.AdapterSetting{
				AppID: cfg.AppID, AppPassword: cfg.AppPassword,
				CredentialProvider: auth.SimpleCredentialProvider{AppID: cfg.AppID, Password: cfg.AppPassword},
			},
			TokenValidator: validator,
			Client:         conn,
		},
		inbox: cfg.Inbox,
		work:  bot.NewWorker(cfg.WorkTimeout, log),
	}
	b.people = newDirectory(conn, st, cfg.TenantID, cfg.Clock, log)
	cfg.Inbox.Handle(Platform, b)
	return b, nil
}

// ForgetContact forgets the Teams contact of the person with this email, in the store and in
// memory: the conversation reference of their 1:1 chat and the Entra account the email is
// bound to. evs (who had it forgotten) go to the audit log in the same transaction. The next
// account to write to the bot with the email binds it afresh: that is how an email moves to
// another Entra account (a re-hired person, a renamed mailbox), once the old account no longer
// shows it. Until the person writes to the bot again, nothing reaches them in Teams. It is
// ENOTFOUND when nothing was stored, and EINVALID for something that is not an email.
func (b *Bot) ForgetContact(ctx context.Context, email string, evs ...flows.Event) error {
	email, err := flows.NormalizeEmail(email)
	if err != nil {
		return err
	}
	wasBound, err := b.people.forget(ctx, email, evs...)
	if err != nil {
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			return err
		}
		return fmt.Errorf("teams: forget the contact of %s: %w", email, err)
	}
	b.log.WarnContext(ctx, "teams: forgot a contact; the next Entra account to show this email binds it",
		"event", "contact_forgotten", "email", email, "bound_aad_object_id", wasBound)
	return nil
}

// newClients are the validator of the Bot Framework's tokens and the
// connector that sends as the bot, for cfg.
func newClients(cfg Config, log *slog.Logger) (*TokenValidator, *Connector, error) {
	tokenTenant := cfg.TenantID
	if cfg.AppType == AppTypeMultiTenant {
		tokenTenant = MultiTenant
	}
	validator, err := NewTokenValidator(ValidatorConfig{
		AppID: cfg.AppID, MetadataURL: cfg.OpenIDMetadataURL, Issuers: cfg.Issuers,
		HTTPClient: cfg.HTTPClient, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	conn, err := NewConnector(ConnectorConfig{
		AppID: cfg.AppID, AppPassword: cfg.AppPassword, TenantID: tokenTenant, TokenURL: cfg.TokenURL,
		HTTPClient: cfg.HTTPClient, Logger: log, ServiceHosts: cfg.ServiceHosts,
	})
	if err != nil {
		validator.Close()
		return nil, nil, err
	}
	return validator, conn, nil
}

// Check reaches Microsoft as jitbot would, for `jitbot check -online`: the
// app's id and password get a bot token from its token endpoint, and the
// Bot Framework's signing keys, which every inbound activity is checked
// against, can be fetched. It says what it reached.
func Check(ctx context.Context, cfg Config) (string, error) {
	cfg.AppID, cfg.TenantID = strings.TrimSpace(cfg.AppID), strings.TrimSpace(cfg.TenantID)
	if err := configError(cfg.secretsRead().Validate()); err != nil {
		return "", err
	}
	validator, conn, err := newClients(cfg, cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)))
	if err != nil {
		return "", err
	}
	defer validator.Close()
	defer conn.Close()
	if _, err := conn.token(ctx); err != nil {
		return "", fmt.Errorf("the app id and password get no bot token from %s: %w", conn.TokenURL(), err)
	}
	if err := validator.Refresh(ctx); err != nil {
		return "", fmt.Errorf("the Bot Framework's signing keys cannot be fetched: %w", err)
	}
	return fmt.Sprintf("app %s: a bot token from %s; the Bot Framework's signing keys fetched", cfg.AppID, conn.TokenURL()), nil
}

// Ping reports whether the bot can talk to Microsoft: it fetches the bot token (cached once
// fetched) and makes sure the channel's signing keys are loaded, for readiness probes.
func (b *Bot) Ping(ctx context.Context) error {
	if _, err := b.conn.token(ctx); err != nil {
		return fmt.Errorf("teams: ping: %w", err)
	}
	if b.validator.keys.Load() == nil {
		if err := b.validator.Refresh(ctx); err != nil {
			return fmt.Errorf("teams: ping: %w", err)
		}
	}
	return nil
}

// Close stops the detached answers and waits for those in flight, at most WorkTimeout; then it
// cancels what is left and says so. Then it stops the key and token fetches in flight and waits
// for them, so that nothing the Bot started logs after Close. The inbox is the wiring's to close.
func (b *Bot) Close() error {
	// The detached fetches (signing keys, bot token) stop last: the answers in flight may
	// still need them.
	defer b.conn.Close()
	defer b.validator.Close()
	if err := b.work.Close(); err != nil {
		return fmt.Errorf("teams: close: %w", err)
	}
	return nil
}

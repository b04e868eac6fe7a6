package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	// dedupeTTL outlives a channel token (about an hour, plus the validator's leeway): a
	// captured delivery replayed while its token is still accepted is recognised.
	dedupeTTL  = 75 * time.Minute
	dedupeSize = 100000
)

// Config configures the Teams adapter. AppID and AppPassword are required.
type Config struct {
	// AppID and AppPassword are the Azure bot's Microsoft App ID and client secret.
	AppID, AppPassword string
	// TenantID is the Entra tenant of a single-tenant bot: its bot token comes from that
	// tenant, and activities from any other tenant are ignored. Empty: multi-tenant.
	TenantID string
	// OpenIDMetadataURL and TokenURL override Microsoft's endpoints (sovereign clouds, tests).
	OpenIDMetadataURL, TokenURL string
	// Issuers are the accepted token issuers (default DefaultIssuer); for tests.
	Issuers []string
	// HTTPClient fetches keys and tokens and calls the connector (defaults have timeouts).
	HTTPClient *http.Client
	// Clock ages the adapter's caches (system clock by default). Token lifetimes and pacing
	// follow the real time Microsoft keeps, whatever this clock says.
	Clock flows.Clock
	// WorkTimeout bounds the work done after an activity is acknowledged, and each notice
	// (DefaultWorkTimeout).
	WorkTimeout time.Duration
	// ServiceHosts, when set, are the only hosts the bot token is sent to; "*.example.com"
	// matches subdomains (e.g. "smba.trafficmanager.net").
	ServiceHosts []string
	// Log receives the adapter's logs when New is given none.
	Log *slog.Logger
}

// Store keeps what the adapter must remember across restarts: the cards it sent about
// requests (to update them later) and people's conversation references (to write to them
// first). store.DB implements it.
type Store interface {
	AddMessageRef(ctx context.Context, requestID string, ref flows.MessageRef) error
	MessageRefs(ctx context.Context, requestID string) ([]flows.MessageRef, error)
	PutContact(ctx context.Context, platform, key string, data []byte) error
	Contact(ctx context.Context, platform, key string) ([]byte, error)
}

// Bot is the Teams adapter: the messaging endpoint's handler, the command and card logic, and
// a flows.Notifier. Create it with New; it is safe for concurrent use.
type Bot struct {
	cfg       Config
	svc       *flows.Service
	store     Store
	log       *slog.Logger
	clock     flows.Clock
	validator *TokenValidator
	conn      *Connector
	adapter   *core.BotFrameworkAdapter
	people    *directory
	seen      *bot.Cache[struct{}]
	cards     bot.RequestLocks
	work      *bot.Worker
}

var _ flows.Notifier = (*Bot)(nil)

// New checks the configuration and builds the adapter. svc is the service the adapter drives;
// st keeps sent cards and conversation references. The service needs the Bot as its notifier,
// which it cannot have before New returns: wire the service with a fan-out notifier and add
// the Bot to it.
func New(cfg Config, svc *flows.Service, st Store, log *slog.Logger) (*Bot, error) {
	if svc == nil || st == nil {
		return nil, errors.New("teams: a flows service and a store are required")
	}
	if strings.TrimSpace(cfg.AppID) == "" || cfg.AppPassword == "" {
		return nil, errors.New("teams: app_id and app_password are required")
	}
	if cfg.WorkTimeout < 0 {
		return nil, errors.New("teams: work_timeout cannot be negative")
	}
	if cfg.WorkTimeout == 0 {
		cfg.WorkTimeout = DefaultWorkTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = flows.SystemClock{}
	}
	if log == nil {
		log = cfg.Log
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "teams")

	validator, err := NewTokenValidator(ValidatorConfig{
		AppID: cfg.AppID, MetadataURL: cfg.OpenIDMetadataURL, Issuers: cfg.Issuers,
		HTTPClient: cfg.HTTPClient, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	conn, err := NewConnector(ConnectorConfig{
		AppID: cfg.AppID, AppPassword: cfg.AppPassword, TenantID: cfg.TenantID, TokenURL: cfg.TokenURL,
		HTTPClient: cfg.HTTPClient, Logger: log, ServiceHosts: cfg.ServiceHosts,
	})
	if err != nil {
		return nil, err
	}
	if cfg.TenantID == "" {
		// Any tenant's admin can set any mail address on their users, and jitbot knows people
		// by email: a multi-tenant bot trusts every tenant that installs it.
		log.Warn("no tenant_id: activities from every Entra tenant are trusted; set tenant_id for a single-tenant bot")
	}
	b := &Bot{
		cfg: cfg, svc: svc, store: st, log: log, clock: cfg.Clock, validator: validator, conn: conn,
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
		seen: bot.NewCache[struct{}](cfg.Clock, dedupeTTL, dedupeSize),
		work: bot.NewWorker(cfg.WorkTimeout, log),
	}
	b.people = newDirectory(conn, st, cfg.Clock, log)
	return b, nil
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

// Close stops accepting activities and waits for the work in flight, at most WorkTimeout; then
// it cancels what is left and says so.
func (b *Bot) Close() error {
	if err := b.work.Close(); err != nil {
		return fmt.Errorf("teams: close: %w", err)
	}
	return nil
}

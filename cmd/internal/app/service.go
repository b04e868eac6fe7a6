package app

import (
	"cmp"
	"context"
	"fmt"
	"github.com/jitbot/jitbot/bot"
	"log/slog"
	"time"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

// serviceConfig is the domain service's configuration from cfg: the same
// for a server and for an admin verb run without one.
func serviceConfig(cfg *config.Config) flows.Config {
	rateLimits := map[string]flows.RateLimit{}
	for _, in := range cfg.Integrations {
		if b, ok := in.RateLimit.Bucket(); ok {
			rateLimits[in.Name] = b
		}
	}
	return flows.Config{
		Policy: cfg.Policy, RemindBefore: cfg.ReminderBefore, BackstopGrace: cfg.BackstopGrace, RotateAfter: cfg.RotateAfter, MaxLiveRequests: cfg.MaxLiveRequests,
		RateLimits: rateLimits, SweepInterval: SweepInterval,
	}
}

// pingAtlas proves each integration answers, so that nothing starts that
// Atlas would leave half-done.
func pingAtlas(ctx context.Context, cfg *config.Config, p *atlas.Provisioner) error {
	for _, in := range cfg.Integrations {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := p.Ping(pctx, in.Name)
		cancel()
		if err != nil {
			return fmt.Errorf("atlas integration %s at %s is not reachable: %s (check base_url, the network and the credentials; `jitbot check -online` tells more)", in.Name, cmp.Or(in.BaseURL, atlas.DefaultBaseURL), flows.ErrorMessage(err))
		}
	}
	return nil
}

// Offline is the domain service over a store the caller opened and cfg's
// Atlas integrations, for an admin verb (`jitbot grants revoke`) when no
// server runs: it listens nowhere, runs no schedule and starts no chat
// adapter: what people must be told waits in the audit log for the outbox
// of the next jitbot that serves; the notifier the caller gives hears of it.
type Offline struct {
	Service *flows.Service
	atlas   *atlas.Provisioner
}

// NewOffline proves Atlas answers (unless opts.NoStartupCheck) and wires
// the service; Close lets go of the Atlas adapter, the store stays the
// caller's.
func NewOffline(ctx context.Context, cfg *config.Config, db Backend, untold flows.Notifier, opts Options) (*Offline, error) {
	if opts.Clock == nil {
		opts.Clock = flows.SystemClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p, err := NewAtlas(ctx, cfg, opts)
	if err != nil {
		return nil, named("atlas", err)
	}
	if !opts.NoStartupCheck {
		if err := pingAtlas(ctx, cfg, p); err != nil {
			p.Close()
			return nil, err
		}
	}
	svc, err := flows.NewService(serviceConfig(cfg), flows.Deps{
		Store: db, Provisioners: provisioners(p), Catalog: p.Catalog(), Notifier: untold,
		// Nothing offline issues credentials; the service needs a keeper all the same.
		Secrets: bot.NewSecrets(opts.Clock, 0, 0), Clock: opts.Clock, Log: opts.Log.With("component", "flows"),
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return &Offline{Service: svc, atlas: p}, nil
}

// Close lets go of the Atlas adapter.
func (o *Offline) Close() { o.atlas.Close() }

// provisioners registers the Atlas adapter for every kind jitbot grants:
// database users (with or without a password), network access, Atlas UI
// access, service accounts and programmatic API keys.
func provisioners(p *atlas.Provisioner) flows.Provisioners {
	return flows.Provisioners{flows.KindDatabaseUser: p, flows.KindAccessListEntry: p.AccessList(),
		flows.KindAtlasUI: atlas.NewUIAccess(p, atlas.UIConfig{}), flows.KindServiceAccount: atlas.NewServiceAccounts(p, atlas.ServiceAccountConfig{}),
		flows.KindAPIKey: atlas.NewAPIKeys(p)}
}

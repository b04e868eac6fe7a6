package slack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // people's time zones must resolve even on images without zoneinfo

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Platform is the value of flows.Request.Origin and flows.MessageRef.Platform
// for Slack.
const Platform = "slack"

// Engine is what the adapter asks of the chat engine (*bot.Engine): to run
// what people type and click, to explain what failed before it got there,
// and to read what the App Home and the deny form show. Everything jitbot
// says comes from it; this package delivers it the Slack way.
type Engine interface {
	Run(ctx context.Context, who bot.Actor, cmd bot.Command, key string) bot.Reply
	Click(ctx context.Context, who bot.Actor, a bot.Action, in bot.ClickInput) bot.Reply
	Refused(ctx context.Context, who bot.Actor, err error) bot.Reply
	Overview(ctx context.Context, who bot.Actor) (bot.Overview, error)
	Get(ctx context.Context, who bot.Actor, id flows.RequestID) (*flows.Request, error)
}

var _ Engine = (*bot.Engine)(nil)

// Bot is the Slack platform of the chat engine: it serves Slack's
// deliveries, hands what people do to the engine and delivers its answers,
// and is the engine's bot.Platform for Slack. Create it with New and
// register it with the engine; it is safe for concurrent use.
type Bot struct {
	cfg    Config
	engine Engine
	log    *slog.Logger
	api    *slackgo.Client
	http   *http.Client
	clock  flows.Clock
	sleep  func(ctx context.Context, d time.Duration) error
	people *directory
	// channels names the ids of channels addressed by #name (FindSent).
	channels *channelDirectory
	// inbox records commands, submissions and clicks before the ack: its
	// keys recognise replays and retries of those.
	inbox *bot.Inbox
	// seen holds the keys of deliveries that record nothing (events, the
	// clicks and commands that open a form) past Slack's retries:
	// signatures do not stop replays.
	seen  *bot.Cache[struct{}]
	pacer *pacer
	// work runs what follows an ack and need not survive a crash: filling
	// in a form, publishing the App Home.
	work *bot.Worker
}

var _ bot.Platform = (*Bot)(nil)

// Defaults.
const (
	defaultWorkTimeout = 30 * time.Second
	defaultPacing      = time.Second
	defaultHTTPTimeout = 10 * time.Second
	// ackBudget bounds the one Slack call made before an acknowledgement
	// (views.open): the trigger id and the ack both expire at 3 s.
	ackBudget = 2500 * time.Millisecond
	// dedupeTTL outlives Slack's last retry of an event (5 minutes after the
	// first delivery) and a signature's 5-minute validity, so a replay of
	// any request that passes verification is still recognised.
	dedupeTTL  = 15 * time.Minute
	dedupeSize = 100000
)

// New checks the configuration and builds the adapter on the engine that
// answers what people do. The engine tells people things through the Bot
// once it is registered with it (bot.Engine.Register).
//
// The configuration's checks are Validate's and nothing else, run on the
// secrets themselves (the *_file keys are the loader's, which reads them
// into the secrets): `jitbot check` runs the same Validate, so a slack
// section it accepts is one New accepts. New refuses besides only what the
// wiring sets (the engine, the inbox, negative durations).
func New(cfg Config, engine Engine, log *slog.Logger) (*Bot, error) {
	if engine == nil {
		return nil, errors.New("slack: a chat engine is required")
	}
	if err := configError(cfg.secretsRead().Validate()); err != nil {
		return nil, err
	}
	if cfg.WorkTimeout < 0 || cfg.Pacing < 0 {
		return nil, errors.New("slack: work_timeout and pacing cannot be negative")
	}
	if cfg.Inbox == nil {
		return nil, errors.New("slack: an inbox is required")
	}
	cfg.WorkTimeout = cmp.Or(cfg.WorkTimeout, defaultWorkTimeout)
	cfg.Pacing = cmp.Or(cfg.Pacing, defaultPacing)
	cfg.Command = cmp.Or(cfg.Command, "/access")
	cfg.Clock = cmp.Or[flows.Clock](cfg.Clock, flows.SystemClock{})
	log = cmp.Or(log, cfg.Log, slog.New(slog.DiscardHandler)).With("component", "slack")
	client := httpClientOf(cfg)
	api := newAPI(cfg, client)
	b := &Bot{
		cfg: cfg, engine: engine, log: log, api: api, http: client, clock: cfg.Clock,
		sleep: sleepContext, seen: bot.NewCache[struct{}](cfg.Clock, dedupeTTL, dedupeSize),
		work: bot.NewWorker(cfg.WorkTimeout, log), inbox: cfg.Inbox,
	}
	b.people = newDirectory(api, cfg.Clock)
	b.channels = newChannelDirectory(api, cfg.Clock)
	b.pacer = newPacer(cfg.Clock, cfg.Pacing, func(ctx context.Context, d time.Duration) error { return b.sleep(ctx, d) })
	cfg.Inbox.Handle(Platform, b)
	return b, nil
}

// httpClientOf is cfg's HTTP client, with a timeout.
func httpClientOf(cfg Config) *http.Client {
	client := cfg.HTTPClient
	if client == nil {
		return newHTTPClient()
	}
	if client.Timeout == 0 {
		c := *client
		c.Timeout = defaultHTTPTimeout
		client = &c
	}
	return client
}

// newAPI is the Web API client of cfg's tokens and URL.
func newAPI(cfg Config, client *http.Client) *slackgo.Client {
	opts := []slackgo.Option{slackgo.OptionHTTPClient(client)}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slackgo.OptionAPIURL(u))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(cfg.AppToken))
	}
	return slackgo.New(cfg.BotToken, opts...)
}

func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: defaultHTTPTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: defaultHTTPTimeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		},
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ping checks the bot token with auth.test, for readiness probes, and
// learns the workspace the bot is installed in, which tells its members
// from guests and external users.
func (b *Bot) Ping(ctx context.Context) error {
	res, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: auth.test: %w", err)
	}
	b.people.setWorkspace(res)
	return nil
}

// Close stops accepting new detached work and waits for the work in
// flight, at most WorkTimeout; then it cancels what is left and returns an
// error saying so. The inbox is the wiring's to close.
func (b *Bot) Close() error {
	if err := b.work.Close(); err != nil {
		return fmt.Errorf("slack: close: %w", err)
	}
	return nil
}

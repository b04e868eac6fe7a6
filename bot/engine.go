package bot

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Service is what the engine asks of the domain: the use cases people reach
// from chat, with the signatures of *flows.Service, which implements it.
// Tests of the engine and of the platforms may give a fake.
type Service interface {
	Submit(ctx context.Context, in flows.SubmitInput) (*flows.Request, error)
	Decide(ctx context.Context, in flows.DecideInput) (*flows.Request, error)
	Cancel(ctx context.Context, id flows.RequestID, actor string) (*flows.Request, error)
	Extend(ctx context.Context, id flows.RequestID, actor string, d time.Duration) (*flows.Request, error)
	Revoke(ctx context.Context, id flows.RequestID, actor, reason string) (*flows.Request, error)
	Rotate(ctx context.Context, id flows.RequestID, actor string) (*flows.Request, error)
	Get(ctx context.Context, id flows.RequestID, actor string) (*flows.Request, error)
	Mine(ctx context.Context, actor string) ([]*flows.Request, error)
	Pending(ctx context.Context, actor string) ([]*flows.Request, error)
	Options(ctx context.Context, actor string) ([]flows.Choice, error)
	// Request again (flows/again.go).
	Again(ctx context.Context, id flows.RequestID, actor string) (flows.SubmitInput, error)
	SubmitAgain(ctx context.Context, id flows.RequestID, actor, origin, key string) (*flows.Request, error)
	Recent(ctx context.Context, actor string) ([]*flows.Request, error)
	// Break-glass reviews (flows/breakglass.go).
	Review(ctx context.Context, id flows.RequestID, actor, note string) (*flows.Request, error)
}

var _ Service = (*flows.Service)(nil)

// Platform is a chat platform as the engine sees it: a narrow port that
// finds people, sends, posts and updates cards. Everything the platform
// knows better stays behind it: how a card looks (Block Kit, Adaptive
// Cards) and how its text is escaped, pacing and retries, who counts as a
// member, where a secret may go. A new platform is one package that
// implements Platform and serves its own inbound HTTP, calling Engine.Run
// and Engine.Click.
type Platform interface {
	// Name is the platform's value of flows.Request.Origin and
	// flows.MessageRef.Platform ("slack", "teams"). It is stored: it never
	// changes.
	Name() string
	// Wording says how people of this platform are told to use jitbot.
	Wording() Wording
	// Find looks a person up by email. found is false when the platform
	// cannot reach them (not a member, never wrote to the bot): another
	// platform may. An error means the platform could not tell.
	Find(ctx context.Context, email string) (p Person, found bool, err error)
	// Send writes a card to a person privately: their direct messages, their
	// 1:1 chat with the bot. A card with a secret must only ever reach a
	// conversation nobody else reads; the platform refuses to send it
	// anywhere else. The reference names the new message; the engine fills
	// in Recipient and Kind.
	Send(ctx context.Context, to Person, c Card) (flows.MessageRef, error)
	// Channel is where the approval cards of r are shared with every
	// approver, "" for nowhere (Teams has no approvals channel).
	Channel(r *flows.Request) string
	// Post shares a card in a channel Channel named.
	Post(ctx context.Context, channel string, c Card) (flows.MessageRef, error)
	// Update replaces the message ref points at (one this platform sent).
	Update(ctx context.Context, ref flows.MessageRef, c Card) error
}

// Person is someone a platform can reach.
type Person struct {
	Email string
	// Location is the person's time zone; nil means UTC.
	Location *time.Location
	// Address is where the platform writes to them: opaque to the engine,
	// handed back to Send (a Slack user id, the email of a stored Teams chat).
	Address string
}

// Wording is what differs from one platform to another in what the engine
// says: how people type the command and where their messages arrive.
type Wording struct {
	// UsageTitle heads the usage card: "How to use /access".
	UsageTitle string
	// UsageHint follows Usage() in the usage card: where and how to type the
	// commands.
	UsageHint string
	// AskHint tells someone with no requests how to ask: "Ask with /access."
	AskHint string
	// Here is where new credentials arrive, ending a sentence: "in your
	// direct messages", "here".
	Here string
}

// Engine is jitbot's one chat engine: it runs what people type and click
// on any platform (Run, Click), answering with a platform-neutral Reply,
// and renders what the outbox's Dispatcher sends. Create it with NewEngine,
// give it the service with SetService and its platforms with Register; it
// is safe for concurrent use.
type Engine struct {
	log *slog.Logger

	mu        sync.RWMutex
	svc       Service
	platforms []Platform
	gate      Gate // SetGate
}

// NewEngine builds an engine with no platform.
func NewEngine(log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{log: log.With("component", "bot")}
}

// SetService gives the engine the domain service it drives. The platforms
// are built (and registered) before the service exists, so the service
// comes second; until it does, commands and clicks are answered that jitbot
// is starting.
func (e *Engine) SetService(svc Service) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.svc = svc
}

// Register adds a platform: from now on notices reach people there, and
// commands and clicks from there are answered in its Wording. Like
// http.ServeMux.Handle it panics on a wiring mistake (nil, no name, a
// second platform of the same name).
func (e *Engine) Register(p Platform) {
	if p == nil || p.Name() == "" {
		panic("bot: Register: a platform needs a name")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range e.platforms {
		if q.Name() == p.Name() {
			panic("bot: Register: a second platform named " + p.Name())
		}
	}
	e.platforms = append(e.platforms, p)
}

// registered returns the platforms registered so far, in order.
func (e *Engine) registered() []Platform {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Clone(e.platforms)
}

// platform returns the registered platform of that name.
func (e *Engine) platform(name string) (Platform, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, p := range e.platforms {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// service returns the domain service, or why there is none yet.
func (e *Engine) service() (Service, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.svc == nil {
		return nil, flows.Errorf(flows.EUNAVAILABLE, "jitbot is starting; try again in a minute")
	}
	return e.svc, nil
}

package bottest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Platform is a recording bot.Platform: it reaches the people added with
// Add, keeps every message sent, posted or updated, and fails the
// operations told to with Fail. Create it with NewPlatform; it is safe for
// concurrent use.
type Platform struct {
	name string

	mu       sync.Mutex
	people   map[string]bot.Person // by email
	channel  string
	fail     map[string]error // by operation
	messages []*Message
	ops      []Op
	finds    int
}

// Message is what the fake holds of one message.
type Message struct {
	Ref flows.MessageRef
	// To is the person's email, or the channel.
	To string
	// Card is what the message shows now; Revisions what it showed before,
	// oldest first.
	Card      bot.Card
	Revisions []bot.Card
}

// Op is one operation the engine asked of the platform, in order.
type Op struct {
	Kind string // "send", "post" or "update"
	To   string // email or channel; the message's for an update
	Card bot.Card
}

// The operations Fail can make fail.
const (
	OpFind   = "find"
	OpSend   = "send"
	OpPost   = "post"
	OpUpdate = "update"
)

var _ bot.Platform = (*Platform)(nil)

// NewPlatform returns a platform named name that reaches nobody yet.
func NewPlatform(name string) *Platform {
	return &Platform{name: name, people: map[string]bot.Person{}, fail: map[string]error{}}
}

// Add makes a person reachable, in loc (nil: UTC).
func (p *Platform) Add(email string, loc *time.Location) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.people[email] = bot.Person{Email: email, Location: loc, Address: "addr:" + email}
}

// Remove makes a person unreachable.
func (p *Platform) Remove(email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.people, email)
}

// SetChannel names the approvals channel of every request ("" for none).
func (p *Platform) SetChannel(channel string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.channel = channel
}

// Fail makes every later op (OpFind, OpSend, ...) fail with err; nil heals it.
func (p *Platform) Fail(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[op] = err
}

// Messages returns every message, in the order they were sent or posted.
func (p *Platform) Messages() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Message, len(p.messages))
	for i, m := range p.messages {
		out[i] = *m
		out[i].Revisions = slices.Clone(m.Revisions)
	}
	return out
}

// To returns the messages sent or posted to a person or channel.
func (p *Platform) To(to string) []Message {
	var out []Message
	for _, m := range p.Messages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Ops returns the operations done so far, in order.
func (p *Platform) Ops() []Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ops)
}

// Finds counts the lookups asked of the platform.
func (p *Platform) Finds() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.finds
}

// Name implements bot.Platform.
func (p *Platform) Name() string { return p.name }

// Wording implements bot.Platform.
func (p *Platform) Wording() bot.Wording {
	return bot.Wording{UsageTitle: "How to use jitbot on " + p.name, UsageHint: "Type the commands to the fake.",
		AskHint: "Ask the fake.", Here: "on the fake"}
}

// Find implements bot.Platform.
func (p *Platform) Find(_ context.Context, email string) (bot.Person, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finds++
	if err := p.fail[OpFind]; err != nil {
		return bot.Person{}, false, err
	}
	who, ok := p.people[email]
	return who, ok, nil
}

// Send implements bot.Platform.
func (p *Platform) Send(_ context.Context, to bot.Person, c bot.Card) (flows.MessageRef, error) {
	return p.add(OpSend, strings.TrimPrefix(to.Address, "addr:"), "dm:"+to.Address, c)
}

// Channel implements bot.Platform.
func (p *Platform) Channel(*flows.Request) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.channel
}

// Post implements bot.Platform.
func (p *Platform) Post(_ context.Context, channel string, c bot.Card) (flows.MessageRef, error) {
	return p.add(OpPost, channel, channel, c)
}

func (p *Platform) add(op, to, conversation string, c bot.Card) (flows.MessageRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail[op]; err != nil {
		return flows.MessageRef{}, err
	}
	ref := flows.MessageRef{Conversation: conversation, ID: strconv.Itoa(len(p.messages) + 1)}
	p.messages = append(p.messages, &Message{Ref: ref, To: to, Card: c})
	p.ops = append(p.ops, Op{Kind: op, To: to, Card: c})
	return ref, nil
}

// Update implements bot.Platform.
func (p *Platform) Update(_ context.Context, ref flows.MessageRef, c bot.Card) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail[OpUpdate]; err != nil {
		return err
	}
	for _, m := range p.messages {
		if m.Ref.Conversation == ref.Conversation && m.Ref.ID == ref.ID {
			m.Revisions = append(m.Revisions, m.Card)
			m.Card = c
			p.ops = append(p.ops, Op{Kind: OpUpdate, To: m.To, Card: c})
			return nil
		}
	}
	return flows.Errorf(flows.ENOTFOUND, "no message %s in %s", ref.ID, ref.Conversation)
}

package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// The outbox's dispatcher (DESIGN §4): it turns the audit log into
// deliveries (Expand) and sends them (Deliver), so that no transition waits
// on chat and no message lives only in memory.
//
//   - Expand reads the events after the outbox cursor and writes, for each,
//     one delivery per (platform, conversation) that must hear of it, in the
//     transaction that moves the cursor. It makes no chat call: a delivery
//     names a person (by email) or a channel; whether the platform reaches
//     them is found out when it is sent.
//   - Deliver sends the head of each conversation, one message in flight
//     per conversation, the most urgent conversations first, rendering each
//     card from the request as it is then, and records the message with the
//     delivery's removal (Outbox.Delivered): a message goes out twice only if
//     the process dies between the platform accepting it and that commit.

// RateLimited is an error of a platform that was told to wait (Slack's and
// the Bot Framework's 429 with Retry-After): the conversation is held back
// that long, without counting against the message.
type RateLimited interface {
	error
	RetryAfter() time.Duration
}

// PermanentError is an error of a platform that will never deliver the
// message however often it is tried (Slack's user_not_found,
// channel_not_found; a Teams 403 or 404): the delivery is dropped, with an
// audit event, instead of retried forever.
type PermanentError interface {
	error
	Permanent() bool
}

// DispatchStore is what the dispatcher reads and writes: the outbox, the
// audit log, the requests and their messages' references. store.DB and
// flowstest.Store implement it.
type DispatchStore interface {
	flows.Outbox
	flows.AuditReader
	MessageRefs
	Get(ctx context.Context, id flows.RequestID) (*flows.Request, error)
	// Find lists what waits for an approver, for their reminder.
	Find(ctx context.Context, q flows.Query) ([]*flows.Request, error)
}

// AnswerNumberer is an outbox to which other writers add answers
// unnumbered (flows.Inbox.FinishInbox in a store several replicas share):
// the dispatcher numbers them each time it looks for work, which is also
// how it hears of the answers of replicas other than its own.
type AnswerNumberer interface {
	// NumberAnswers adds every unnumbered answer to the outbox, in the
	// order they were committed, and returns them as stored.
	NumberAnswers(ctx context.Context) ([]flows.Delivery, error)
}

// ManyMessageRefs is a store that reads the message refs of several
// requests in one round (etcd: a transaction of ranges): the expansion
// reads those of a whole batch of events at once, not one round each.
// Requests with none are left out of the map.
type ManyMessageRefs interface {
	ManyMessageRefs(ctx context.Context, ids []flows.RequestID) (map[flows.RequestID][]flows.MessageRef, error)
}

// MessageRefs remembers the messages sent about requests, so that they can
// be updated after a decision, an expiry or a restart.
type MessageRefs interface {
	AddMessageRef(ctx context.Context, requestID flows.RequestID, ref flows.MessageRef) error
	MessageRefs(ctx context.Context, requestID flows.RequestID) ([]flows.MessageRef, error)
}

// DispatcherConfig tunes a dispatcher. Zero values take the defaults noted.
type DispatcherConfig struct {
	// Workers bounds the messages in flight at once, one per conversation (8).
	Workers int
	// YieldWorkers bounds them instead while the inbox lags more than
	// YieldAfter (DispatcherDeps.InboxLag): a quarter of Workers, at least
	// one, and 2 s. The most urgent messages still go first.
	YieldWorkers int
	YieldAfter   time.Duration
	// Batch bounds the audit records expanded in one transaction (256).
	Batch int
	// RefreshWait is how long a message yields to more urgent ones before
	// it counts one level more urgent (1 min): a card refresh waiting that
	// long counts as an approval card, a credentials message as an answer
	// to the person acting, and so on each RefreshWait.
	RefreshWait time.Duration
	// BackoffBase and BackoffMax bound the wait after a failed send (1 s
	// and 5 min), doubled per attempt, ±50% jitter. A transient failure is
	// retried for as long as it lasts: a chat outage delays, never loses.
	BackoffBase, BackoffMax time.Duration
	// KeepGrace is how long a credentials message waits for its secret to
	// be kept before it is taken for lost and reissued (10 s): the keeper
	// may hear of it just after the transition commits.
	KeepGrace time.Duration
	// Idle is how long Run waits when there is nothing to do and nobody
	// called Kick (250 ms).
	Idle time.Duration
	// Pacing is the least time between two new messages to one
	// conversation, by platform (Slack: one message per second per
	// channel; updates are not paced). The dispatcher holds the
	// conversation back after a post, on the Wall clock, so no worker waits
	// on a platform's pacing; a platform that paces itself still may.
	Pacing map[string]time.Duration
}

// DispatcherDeps are what a dispatcher works with.
type DispatcherDeps struct {
	Store DispatchStore // required
	// Platforms returns the registered platforms (Engine.Platforms). Required.
	Platforms func() []Platform
	// Audience is who the domain wants told of an event
	// (flows.Service.Audience). Required.
	Audience func(ev flows.Event, r *flows.Request) []string
	// Secrets holds the credentials until they are sent. Required.
	Secrets flows.SecretKeeper
	// Reissue has new credentials issued for a request whose secret, issued
	// at issued, was lost (the process restarted before the message went
	// out): a new secret, a new event, a new delivery
	// (flows.Service.ReissueLost). The old delivery is dropped once it
	// returns nil; an error retries it later. Nil: the delivery is dropped
	// as undeliverable.
	Reissue func(ctx context.Context, id flows.RequestID, issued time.Time) error
	// OnUndeliverable is called when a request's credentials can never
	// reach its requester (the platform refused them for good, or no longer
	// knows the person), saying why: the wiring revokes the grant
	// (flows.Service.CredentialsUndeliverable). The admins are told by the
	// EventCredentialsUndelivered the dispatcher records.
	OnUndeliverable func(ctx context.Context, id flows.RequestID, why string)
	Clock           flows.Clock
	// Wall is real time, for pacing: a platform's rate limits run on it,
	// whatever the domain's clock says (nil: the system clock).
	Wall flows.Clock
	// Rand returns a number in [0, 1) for jitter (math/rand/v2's Float64).
	Rand func() float64
	// After waits for Run (time.After).
	After func(time.Duration) <-chan time.Time
	Log   *slog.Logger
	// Renderers send deliveries of other kinds (by What) written to the
	// outbox by others (bot/identity's sign-in links).
	Renderers map[string]Renderer
	// Self names this replica among those on one store ("" with one
	// replica), and Alive says whether another replica is alive (its
	// heartbeat is fresh; nil: none is): a delivery another live replica
	// holds is left to it, and RunHeld sends those Self holds (held.go).
	Self  string
	Alive func(replica string) bool
	// InboxLag is how long the people whose messages the inbox acts on
	// wait (Inbox.Lag; nil: never long): the dispatcher yields the store to
	// the inbox while it is long (DispatcherConfig.YieldAfter).
	InboxLag func() time.Duration
}

// Dispatcher expands the audit log into deliveries and sends them. Create
// it with NewDispatcher; it is safe for concurrent use.
type Dispatcher struct {
	cfg  DispatcherConfig
	deps DispatcherDeps
	log  *slog.Logger
	kick chan struct{}

	stats deliveryStats
	// expandBatch is how many audit records the next Expand reads: the
	// configured Batch, halved after each enqueue the store failed (a
	// smaller transaction is quicker to commit among other writers, etcd's
	// above all), doubled back after each that succeeded. Atomic: Expand
	// may run from the dispatcher's loop and from a caller at once.
	expandBatch atomic.Int64
	// expandLag is how old the last event expanded was when its
	// deliveries were enqueued (ns; 0 once nothing is left to expand).
	expandLag atomic.Int64
	// yielding says the last pick found the inbox lagging (workers).
	yielding atomic.Bool

	// mu orders what Expand and Deliver must see of each other: a delivery
	// picked for sending is in flight before any later Enqueue (which must
	// not coalesce into it), and the cards not yet sent are known to Expand
	// until their references are committed (so a refresh never misses one).
	mu sync.Mutex
	// loaded says convs and unsent hold what the store holds; false at
	// start and after a store write that may or may not have happened.
	loaded bool
	// convs is the schedule: the waiting deliveries, by conversation.
	convs map[string]*convQueue
	// changed is closed (and replaced) whenever a conversation may have
	// become ready: idle workers wait on it.
	changed chan struct{}
	// queues order the conversations that may go now, and hold back the
	// others until they may (ready.go).
	queues   readyQueues
	inflight map[string]flows.Delivery // by conversation
	// expanding are the conversations an enqueue under way may coalesce
	// into: none of them is picked until it is over. enqueuing says one is
	// under way: a schedule that must be read again is not read (nor
	// picked from) meanwhile, since it might not show the enqueue and
	// its deliveries join the schedule once it returns.
	expanding map[string]bool
	enqueuing bool
	// coalesced counts the deliveries updated in place, so that heads
	// read outside the lock are known to be stale (heads.go).
	coalesced uint64
	// hold keeps a conversation back whose delivery could not be recorded
	// either way (the store failed): the next try is not immediate.
	hold map[string]time.Time
	// paced keeps a conversation back until its platform takes another
	// post (Pacing), on the Wall clock.
	paced   map[string]time.Time
	pruneAt int // the size of paced that prunes it
	// reissues are the reissues of lost secrets under way (reissue.go).
	reissues reissues
	// unsent are the waiting deliveries that create a message later events
	// update (approval and extension cards, credentials, reminders), by
	// request.
	unsent map[flows.RequestID][]unsentCard
	// holder names this dispatcher in the marks it leaves (recall.go):
	// this replica, and this process's start among its restarts.
	holder string
	// unsureOf are the deliveries whose last send by this process ended
	// without an answer, and unrecorded those it sent but could not record
	// (their references): see recall.go.
	unsureOf   map[uint64]bool
	unrecorded map[uint64]*flows.MessageRef
}

// unsentCard is a waiting delivery that will create a remembered message.
type unsentCard struct {
	id                                uint64
	platform, conversation, recipient string
	kind                              string
}

// What a delivery is (flows.Delivery.What).
const (
	whatCard        = "card"        // a new approval or extension card
	whatNotice      = "notice"      // a direct message about an event
	whatCredentials = "credentials" // the requester's credentials
	whatRefresh     = "refresh"     // bringing a sent card up to date
)

// payload is what a delivery carries beyond its fields: the event it tells
// of (events never hold a secret) and the kind of message it creates or
// refreshes (KindApproval, an ExtensionKind, KindCredentials, KindReminder).
type payload struct {
	Event flows.Event `json:"event"`
	Kind  string      `json:"kind,omitempty"`
}

// NewDispatcher checks the dependencies and applies the defaults.
func NewDispatcher(cfg DispatcherConfig, deps DispatcherDeps) (*Dispatcher, error) {
	if deps.Store == nil || deps.Platforms == nil || deps.Audience == nil || deps.Secrets == nil {
		return nil, errors.New("bot: the dispatcher needs a store, the platforms, the audience and a secret keeper")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&cfg.Workers, 8)
	defInt(&cfg.YieldWorkers, max(cfg.Workers/4, 1))
	cfg.YieldWorkers = min(cfg.YieldWorkers, cfg.Workers)
	def(&cfg.YieldAfter, 2*time.Second)
	defInt(&cfg.Batch, 256)
	def(&cfg.RefreshWait, time.Minute)
	def(&cfg.BackoffBase, time.Second)
	def(&cfg.BackoffMax, 5*time.Minute)
	def(&cfg.KeepGrace, 10*time.Second)
	def(&cfg.Idle, 250*time.Millisecond)
	if deps.Clock == nil {
		deps.Clock = flows.SystemClock{}
	}
	if deps.Wall == nil {
		deps.Wall = flows.SystemClock{}
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	if deps.After == nil {
		deps.After = time.After
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		cfg: cfg, deps: deps, log: log.With("component", "dispatcher"), kick: make(chan struct{}, 1),
		convs: map[string]*convQueue{}, changed: make(chan struct{}), queues: newReadyQueues(),
		inflight: map[string]flows.Delivery{}, expanding: map[string]bool{}, hold: map[string]time.Time{}, paced: map[string]time.Time{}, pruneAt: 1024, unsent: map[flows.RequestID][]unsentCard{},
		holder: fmt.Sprintf("%s/%016x", deps.Self, rand.Uint64()), unsureOf: map[uint64]bool{}, unrecorded: map[uint64]*flows.MessageRef{},
	}, nil
}

// Platforms returns the platforms registered so far, in order: what a
// dispatcher sends through (DispatcherDeps.Platforms).
func (e *Engine) Platforms() []Platform { return e.registered() }

// Schedule hands the dispatcher deliveries another writer added to the
// outbox (the inbox's answers, Outbox.FinishInbox): they go out without
// waiting for the schedule to be read again. Unnumbered ones (ID 0: an
// AnswerNumberer's) wake the dispatcher to number them.
func (d *Dispatcher) Schedule(ds []flows.Delivery) {
	numbered := slices.DeleteFunc(slices.Clone(ds), func(dl flows.Delivery) bool { return dl.ID == 0 })
	if len(numbered) < len(ds) {
		d.Kick()
	}
	if len(numbered) == 0 {
		// Nothing to schedule: not a wait on the lock, which a load or an
		// enqueue may hold for a while (the HA bench's goroutine dumps: 32
		// inbox workers, their items done, waiting on it here).
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		return // the next load reads them from the store
	}
	for _, dl := range numbered {
		d.scheduleLocked(dl)
	}
	if len(numbered) > 0 {
		d.wakeLocked()
	}
}

// Kick wakes Run: something was committed that may need telling.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run expands and delivers until ctx ends: one loop expanding, idle until
// kicked or Idle passes, and a pool of Workers sending. Failures are logged
// and retried.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			n, err := d.Expand(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.WarnContext(ctx, "could not expand the audit log", "err", err)
			}
			if n > 0 {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-d.kick:
			case <-d.deps.After(d.cfg.Idle):
			}
		}
	})
	for range d.cfg.Workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
	d.reissues.wg.Wait()
}

// work is one of Run's workers: it sends the head of the most urgent ready
// conversation, one after the other, not in rounds, so that a slow send
// holds up only its own conversation. Idle, it waits for the schedule to
// change, for the next held-back conversation to be due, or Idle.
func (d *Dispatcher) work(ctx context.Context) {
	for ctx.Err() == nil {
		picks, next, changed, err := d.take(ctx, 1)
		if err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "could not deliver", "err", err)
		}
		if len(picks) == 1 {
			d.deliver(ctx, picks[0])
			d.release(picks[0].Conversation)
			continue
		}
		wait := d.cfg.Idle
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(d.deps.Clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-d.deps.After(wait):
		}
	}
}

// conversation names where a platform's messages to recipient go: a
// person's direct messages or a channel.
// DirectConversation is the outbox's conversation of a person's direct
// messages on platform: what the platform sends there as answers must
// share it, so that the dispatcher sends one message at a time into it
// (each recorded before the next goes).
func DirectConversation(platform, email string) string { return conversation(platform, email) }

func conversation(platform, recipient string) string {
	if strings.Contains(recipient, "@") {
		return platform + ":dm:" + recipient
	}
	return platform + ":channel:" + recipient
}

// refKey names a sent card, to coalesce its refreshes.
func refKey(ref flows.MessageRef) string {
	return "ref:" + ref.Platform + ":" + ref.Conversation + ":" + ref.ID
}

func encodePayload(ev flows.Event, kind string) []byte {
	b, err := json.Marshal(payload{Event: ev, Kind: kind})
	if err != nil {
		panic("bot: encode a delivery's payload: " + err.Error()) // an Event always encodes
	}
	return b
}

func decodePayload(b []byte) (payload, error) {
	var p payload
	err := json.Unmarshal(b, &p)
	return p, err
}

// backoff is the wait after attempts failed sends: doubling from
// BackoffBase up to BackoffMax, with ±50% jitter so that conversations
// failed together do not retry together.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	w := d.cfg.BackoffBase
	for i := 0; i < attempts && w < d.cfg.BackoffMax; i++ {
		w *= 2
	}
	w = min(w, d.cfg.BackoffMax)
	return time.Duration(float64(w) * (0.5 + d.deps.Rand()))
}

// platform returns the registered platform of that name.
func (d *Dispatcher) platform(name string) (Platform, bool) {
	for _, p := range d.deps.Platforms() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

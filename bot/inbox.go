package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// InboxHandler acts on the inbox items of one platform. A platform
// registers one with Inbox.Handle when it is built.
type InboxHandler interface {
	// HandleInbox does what the item asks and answers the person (Answer:
	// the answers join the outbox when the item is finished). An error is
	// transient (the item is tried again later, its answers dropped) unless
	// Permanent wraps it; an item the handler has answered, even with a
	// refusal, is done (nil).
	HandleInbox(ctx context.Context, item flows.InboxItem) error
	// GiveUpInbox tells the person, when the payload says where, that what
	// they asked could not be done: err is the last failure.
	GiveUpInbox(ctx context.Context, item flows.InboxItem, err error)
}

// Permanent marks an error as not worth another attempt: an inbox item
// whose handler fails with it is given up at once, and a delivery whose
// platform fails with it is dropped (it is a PermanentError).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }
func (permanentError) Permanent() bool { return true }

// Retryable says whether a failure met while processing an inbox item may
// go away by itself (the store or the platform unreachable, the service
// not ready): such items are tried again. Refusals (forbidden, not found,
// invalid) are answered, never retried.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var p permanentError
	if errors.As(err, &p) {
		return false
	}
	switch flows.ErrorCode(err) {
	case flows.EINTERNAL, flows.EUNAVAILABLE:
		return true
	}
	return false
}

// InboxConfig configures an Inbox. Zero values take the defaults.
type InboxConfig struct {
	// Store keeps the items (store.DB, flowstest.Store). Required.
	Store flows.Inbox
	Clock flows.Clock
	// Workers is how many items are processed at once (32). An item mostly
	// waits: on the store's commits (taking it, what it does, finishing
	// it) and on the platform (a lookup, the answer), so the pool is sized
	// for waiting, not for cores: 8 workers fell tens of seconds behind a
	// burst of 800 slash commands a second (cmd/internal/scenario's burst),
	// 32 keep up with it, and their writes share larger commits.
	Workers int
	// Timeout bounds the processing of one item (30 s), and how long Close
	// waits for the items in flight. An item's lease is shorter
	// (InboxLease), renewed while it is processed: a process that dies
	// holding it leaves it to be taken again within one lease.
	Timeout time.Duration
	// MaxAttempts is how many times an item is tried before it is given up
	// (5).
	MaxAttempts int
	// Backoff is the wait before the second attempt (2 s); it doubles with
	// each attempt, up to MaxBackoff (1 min), plus up to a quarter of
	// jitter so that items failing together do not retry together.
	Backoff, MaxBackoff time.Duration
	// Poll is how often idle workers look for items falling due (retries,
	// leases run out); new items wake them at once (1 s).
	Poll time.Duration
	// Retention is how long finished items stay as tombstones that
	// recognise redeliveries (75 min: Slack and Teams retry within
	// minutes, and a captured Teams activity can be replayed as long as its
	// channel token is accepted, about an hour plus leeway).
	Retention time.Duration
	// Answered hears of the answers an item's finish added to the outbox
	// (Dispatcher.Schedule), so that they go out at once.
	Answered func([]flows.Delivery)
	Log      *slog.Logger
}

// Inbox processes what people send, from the store: platforms Receive a
// delivery before they acknowledge it, and a fixed pool of workers takes
// the items (with a lease), hands each to its platform's handler, and
// finishes it, retries it with backoff, or gives it up and says so. After
// a restart it resumes whatever was received and not finished. Create it
// with NewInbox; it is safe for concurrent use.
type Inbox struct {
	cfg   InboxConfig
	store flows.Inbox
	clock flows.Clock
	log   *slog.Logger
	lease time.Duration

	hmu      sync.RWMutex
	handlers map[string]InboxHandler

	wake chan struct{} // a new item, or a worker free while items wait: look now
	jobs chan flows.InboxItem
	idle atomic.Int64 // workers waiting on jobs
	// backlog says the last take found an item for every idle worker, so
	// more may be due: a worker turning idle then wakes dispatch, instead
	// of the backlog waiting for a new item or the poll.
	backlog atomic.Bool
	stop    context.Context
	halt    context.CancelFunc // stops taking
	base    context.Context    // processing contexts derive from it
	abort   context.CancelFunc // cancels the items in flight
	loops   sync.WaitGroup

	// held are the items being processed, by key, with the end of their
	// lease as last taken or renewed; renewer runs renewLoop.
	leaseMu sync.Mutex
	held    map[string]time.Time
	renewer sync.WaitGroup

	fmu      sync.Mutex
	inflight int
	quiet    *sync.Cond // signalled when inflight drops to 0

	startOnce, closeOnce sync.Once
	closeErr             error

	// refused are the deliveries refused while the store could not be
	// reached, whose writes may still commit when it is back (nottaken.go).
	refused refusals
	lag     inboxLag // inbox_lag.go
	// actions are the keys of the actions received and not yet taken
	// (ReceiveAction, inbox_actions.go).
	actions actionQueue
}

// Defaults of InboxConfig.
const (
	DefaultInboxWorkers   = 32
	DefaultInboxRetention = 75 * time.Minute
	// InboxLease is how long a taken item is kept from other takers (other
	// workers, other replicas) before it must be renewed; the items in
	// flight are renewed every third of it (renewLeases). Short, because
	// what a replica killed in the middle of an item held waits that long
	// for another: a click that waited a 35 s lease, its handler's bound,
	// was answered after its request timed out (the HA scenario).
	InboxLease = 10 * time.Second
)

// NewInbox checks the configuration and builds an inbox whose workers have
// not started (Start).
func NewInbox(cfg InboxConfig) (*Inbox, error) {
	if cfg.Store == nil {
		return nil, errors.New("bot: an inbox store is required")
	}
	if cfg.Workers < 0 || cfg.Timeout < 0 || cfg.MaxAttempts < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 || cfg.Poll < 0 || cfg.Retention < 0 {
		return nil, errors.New("bot: inbox settings cannot be negative")
	}
	cfg.Clock = cmp.Or[flows.Clock](cfg.Clock, flows.SystemClock{})
	cfg.Workers = cmp.Or(cfg.Workers, DefaultInboxWorkers)
	cfg.Timeout = cmp.Or(cfg.Timeout, 30*time.Second)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, 5)
	cfg.Backoff = cmp.Or(cfg.Backoff, 2*time.Second)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, time.Minute)
	cfg.Poll = cmp.Or(cfg.Poll, time.Second)
	cfg.Retention = cmp.Or(cfg.Retention, DefaultInboxRetention)
	log := cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)).With("component", "inbox")
	in := &Inbox{
		cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: log, lease: InboxLease,
		handlers: map[string]InboxHandler{}, held: map[string]time.Time{}, wake: make(chan struct{}, 1), jobs: make(chan flows.InboxItem),
	}
	in.stop, in.halt = context.WithCancel(context.Background())
	in.base, in.abort = context.WithCancel(context.Background())
	in.quiet = sync.NewCond(&in.fmu)
	return in, nil
}

// Handle registers the handler of a platform's items. Like
// http.ServeMux.Handle it panics on a wiring mistake.
func (in *Inbox) Handle(platform string, h InboxHandler) {
	if platform == "" || h == nil {
		panic("bot: Inbox.Handle: a platform name and a handler are required")
	}
	in.hmu.Lock()
	defer in.hmu.Unlock()
	if _, dup := in.handlers[platform]; dup {
		panic("bot: Inbox.Handle: a second handler for " + platform)
	}
	in.handlers[platform] = h
}

func (in *Inbox) handler(platform string) (InboxHandler, bool) {
	in.hmu.RLock()
	defer in.hmu.RUnlock()
	h, ok := in.handlers[platform]
	return h, ok
}

// Receive records a delivery durably under its idempotency key, before the
// platform acknowledges it. first is false for a redelivery (the key was
// received before): it must be acknowledged and not acted on again.
func (in *Inbox) Receive(ctx context.Context, platform, key string, payload []byte) (first bool, err error) {
	first, err = in.receive(ctx, platform, key, payload)
	if first {
		in.poke()
	}
	return first, err
}

// ReceiveAction is Receive for an action on something under way: a click
// on a card (approve, deny, revoke, extend, cancel). Approvals race the
// request's time-out, while a new request has no deadline until it is
// recorded. So this replica takes the actions it received ahead of the
// inbox's order (flows.Inbox.TakeInboxKeys), and the inbox's order takes
// the rest, and them too should this replica die first. In the HA bench
// the inbox fell 98 s behind new requests, and 9 approvals acknowledged in
// time were processed once their request had timed out.
func (in *Inbox) ReceiveAction(ctx context.Context, platform, key string, payload []byte) (first bool, err error) {
	first, err = in.receive(ctx, platform, key, payload)
	if first {
		in.actions.push(key)
		in.poke()
	}
	return first, err
}

func (in *Inbox) receive(ctx context.Context, platform, key string, payload []byte) (first bool, err error) {
	// The person waits for the acknowledgement: a store that does not
	// commit within ReceiveTimeout is taken for unreachable, and they are
	// told now rather than when the platform gives up on jitbot.
	rctx, cancel := context.WithTimeout(ctx, ReceiveTimeout)
	defer cancel()
	at := in.clock.Now()
	first, err = in.store.Receive(rctx, flows.InboxItem{Key: key, Platform: platform, Payload: payload, ReceivedAt: at})
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			err = flows.StoreUnreachable(err)
		}
		if flows.IsStoreUnreachable(err) {
			in.refused.add(key, at)
		}
		return false, fmt.Errorf("bot: inbox: %w", err)
	}
	// Delivered again and taken this time (a platform's retry): it is to
	// be acted on, whenever the refused write committed.
	_, _ = in.refused.take(key)
	return first, nil
}

// poke wakes dispatch.
func (in *Inbox) poke() {
	select {
	case in.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Start starts the workers and the loop that feeds them. Until then items
// wait in the store (tests process them with Pump).
func (in *Inbox) Start() {
	in.startOnce.Do(func() {
		// What a previous process left may be waiting: the workers turning
		// idle look for it.
		in.backlog.Store(true)
		for range in.cfg.Workers {
			in.loops.Go(in.work)
		}
		in.loops.Go(in.dispatch)
		// Not one of loops: it renews the items in flight until they are
		// done, Close's wait for them included.
		in.renewer.Go(in.renewLoop)
	})
}

// dispatch takes as many due items as there are idle workers, in one
// store transaction, and hands them out; it waits for a new item, a worker
// turning idle while items wait, the poll, or Close when nothing is due or
// nobody is idle.
func (in *Inbox) dispatch() {
	tick := time.NewTicker(in.cfg.Poll)
	defer tick.Stop()
	for in.stop.Err() == nil { // Close may come with a wake-up pending
		full := false
		if free := int(in.idle.Load()); free > 0 {
			items := in.takeActions(in.stop, free)
			var err error
			if n := free - len(items); n > 0 {
				var more []flows.InboxItem
				more, err = in.store.TakeInbox(in.stop, in.clock.Now(), in.lease, n)
				if err != nil && in.stop.Err() == nil {
					in.log.Error("could not take inbox items", "err", err)
				}
				items = append(items, more...)
			}
			full = len(items) == free
			in.backlog.Store(full)
			if err == nil && len(items) == 0 {
				in.noteNothingDue()
			}
			for i, it := range items {
				in.begin()
				in.idle.Add(-1)
				if in.stop.Err() != nil { // a select would pick at random
					in.done()
					in.release(items[i:])
					return
				}
				select {
				case in.jobs <- it:
				case <-in.stop.Done():
					in.done()
					in.release(items[i:])
					return
				}
			}
		}
		if full {
			continue // more may be due
		}
		select {
		case <-in.stop.Done():
			return
		case <-in.wake:
		case <-tick.C:
		}
	}
}

// release hands back items taken but not started, so that the next
// process need not wait for their lease to run out.
func (in *Inbox) release(items []flows.InboxItem) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, it := range items {
		if err := in.store.RetryInbox(ctx, it.Key, in.clock.Now()); err != nil {
			in.log.Warn("could not release an inbox item", "key", it.Key, "err", err)
		}
	}
}

func (in *Inbox) work() {
	for {
		in.idle.Add(1)
		if in.backlog.Load() {
			in.poke() // items wait for a worker: this one
		}
		select {
		case it := <-in.jobs:
			in.process(it)
			in.done()
		case <-in.stop.Done():
			return
		}
	}
}

func (in *Inbox) begin() {
	in.fmu.Lock()
	in.inflight++
	in.fmu.Unlock()
}

func (in *Inbox) done() {
	in.fmu.Lock()
	in.inflight--
	if in.inflight == 0 {
		in.quiet.Broadcast()
	}
	in.fmu.Unlock()
}

// Wait waits until no item is being processed (tests, benchmarks).
func (in *Inbox) Wait() {
	in.fmu.Lock()
	defer in.fmu.Unlock()
	for in.inflight > 0 {
		in.quiet.Wait()
	}
}

// Pump processes every item due now, one at a time on the caller's
// goroutine (the actions received first, as the workers take them), until
// none is left, and returns how many it processed. Tests
// use it instead of Start: what runs when is then theirs to say. Retries
// fall due on the clock, so they wait for it to move.
func (in *Inbox) Pump(ctx context.Context) int {
	n := 0
	for {
		items := in.takeActions(ctx, 1)
		var err error
		if len(items) == 0 {
			items, err = in.store.TakeInbox(ctx, in.clock.Now(), in.lease, 1)
		}
		if err != nil {
			in.log.ErrorContext(ctx, "could not take inbox items", "err", err)
			return n
		}
		if len(items) == 0 {
			return n
		}
		in.begin()
		in.process(items[0])
		in.done()
		n++
	}
}

// process runs one item through its platform's handler, then finishes it,
// schedules its retry or gives it up. A panic in a handler gives the item
// up: trying it again would panic again.
func (in *Inbox) process(it flows.InboxItem) {
	ctx, cancel := context.WithTimeout(in.base, in.cfg.Timeout)
	defer cancel()
	in.hold(it)
	defer in.unhold(it.Key)
	log := in.log.With("key", it.Key, "platform", it.Platform, "attempt", it.Attempts)
	if at, ok := in.refused.take(it.Key); ok && it.ReceivedAt.Equal(at) {
		// This replica's own write, which it said was not recorded: its
		// sender was told so, and it is not acted on, unless the delivery
		// was sent again since and acknowledged (by any replica: the store
		// knows). An item another replica wrote under the key (the
		// delivery sent again there, and taken as new) is acted on.
		dropped, err := in.store.DropInbox(context.WithoutCancel(ctx), it.Key, in.clock.Now())
		switch {
		case err != nil:
			// Taken again when its lease runs out, and still refused.
			in.refused.add(it.Key, at)
			log.ErrorContext(ctx, "could not drop a refused inbox item", "err", err)
			return
		case dropped:
			log.WarnContext(ctx, "a delivery refused while the store could not be reached was committed once it was back; not acted on")
			return
		}
		log.InfoContext(ctx, "a delivery refused while the store could not be reached was sent again and acknowledged; acting on it")
	}
	h, ok := in.handler(it.Platform)
	var err error
	hctx, answered := collectAnswers(ctx, in.clock)
	if !ok {
		err = fmt.Errorf("no handler for platform %q", it.Platform)
	} else {
		err = in.handle(hctx, h, it)
	}
	now := in.clock.Now()
	if err != nil && Retryable(err) && it.Attempts < in.cfg.MaxAttempts && ok {
		next := now.Add(in.backoff(it.Attempts))
		log.WarnContext(ctx, "inbox item failed; will retry", "next_at", next, "err", err)
		if rerr := in.store.RetryInbox(context.WithoutCancel(ctx), it.Key, next); rerr != nil {
			log.ErrorContext(ctx, "could not schedule the retry of an inbox item; it is taken again when its lease runs out", "err", rerr)
		}
		return
	}
	if err != nil {
		log.ErrorContext(ctx, "gave up an inbox item", "err", err)
		if ok {
			// What the handler answered before it failed is not said: the
			// person hears that it failed.
			hctx, answered = collectAnswers(ctx, in.clock)
			h.GiveUpInbox(hctx, it, err)
		}
	}
	stored, ferr := in.store.FinishInbox(context.WithoutCancel(ctx), it.Key, now, answered.list()...)
	if ferr != nil {
		log.ErrorContext(ctx, "could not finish an inbox item; it may be processed again", "err", ferr)
		return
	}
	in.noteFinished(it, in.clock.Now())
	if len(stored) > 0 && in.cfg.Answered != nil {
		in.cfg.Answered(stored)
	}
}

func (in *Inbox) handle(ctx context.Context, h InboxHandler, it flows.InboxItem) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("inbox handler panicked: %v", p))
		}
	}()
	return h.HandleInbox(ctx, it)
}

// backoff is the wait after the attempt-th failure.
func (in *Inbox) backoff(attempt int) time.Duration {
	d := in.cfg.Backoff
	for i := 1; i < attempt && d < in.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, in.cfg.MaxBackoff)
	return d + rand.N(d/4+1)
}

// Purge removes the items finished longer ago than the retention: their
// redeliveries are no longer expected.
func (in *Inbox) Purge(ctx context.Context) (int, error) {
	n, err := in.store.PurgeInbox(ctx, in.clock.Now().Add(-in.cfg.Retention))
	if err != nil {
		return n, fmt.Errorf("bot: purge the inbox: %w", err)
	}
	return n, nil
}

// Close stops taking items and waits for those in flight, at most the
// timeout; then it cancels them, gives them a second, and says so. What
// was not taken stays in the store for the next process.
func (in *Inbox) Close() error {
	in.closeOnce.Do(func() {
		in.halt()
		done := make(chan struct{})
		go func() { in.loops.Wait(); in.Wait(); close(done) }()
		timer := time.NewTimer(in.cfg.Timeout)
		defer timer.Stop()
		select {
		case <-done:
			in.abort()
			in.renewer.Wait()
			return
		case <-timer.C:
		}
		in.abort()
		in.renewer.Wait()
		grace := time.NewTimer(closeGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
		}
		in.closeErr = errors.New("bot: inbox: items still in flight after the shutdown deadline were cancelled")
	})
	return in.closeErr
}

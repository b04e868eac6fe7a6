package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// Leadership decides which replica runs what must run once: the sweeps,
// reconcile, rotation, the inbox purge, the outbox dispatcher and the
// audit sink streamers. Every replica takes webhooks and works its inbox
// whoever leads; the catalog and Slack user-group syncs fill each
// replica's own memory, so every replica runs them too.
type Leadership interface {
	// Run calls lead each time this replica becomes leader, with a context
	// that ends when it stops being leader (or ctx ends); lead returns
	// once its context ends. Run returns when ctx ends.
	Run(ctx context.Context, lead func(ctx context.Context) error) error
}

// soleLeader is the leadership of a replica that is alone on its store
// (bbolt's file lock sees to it): it leads from start to end, one term.
type soleLeader struct{ state *leaderState }

func (l soleLeader) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	l.state.set(true)
	defer l.state.set(false)
	if err := lead(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// leaderState is this replica's leadership, for /metrics.
type leaderState struct {
	leading atomic.Bool
	changes atomic.Int64
}

func (l *leaderState) set(leading bool) {
	if l.leading.Swap(leading) != leading {
		l.changes.Add(1)
	}
}

func (l *leaderState) counters() []counter {
	return []counter{
		{name: "jitbot_leader", help: "1 while this replica leads (runs the sweeps, the outbox dispatcher, the audit sinks, reconcile and rotation), else 0.",
			gauge: true, read: func() map[string]float64 {
				v := 0.0
				if l.leading.Load() {
					v = 1
				}
				return map[string]float64{"": v}
			}},
		{name: "jitbot_leader_changes_total", help: "Times this replica became leader or stopped being leader.",
			read: func() map[string]float64 { return map[string]float64{"": float64(l.changes.Load())} }},
	}
}

// newLeadership is the leadership of db's replicas: an etcd election
// among those on one etcd prefix; the sole leader on bbolt.
func newLeadership(db Backend, state *leaderState, log *slog.Logger) (Leadership, error) {
	eb, ok := db.(etcdBackend)
	if !ok {
		return soleLeader{state}, nil
	}
	host, _ := os.Hostname()
	el, err := eb.NewElection(etcdstore.ElectionConfig{
		Identity: fmt.Sprintf("%s/%d", host, os.Getpid()), OnChange: state.set, Log: log,
	})
	if err != nil {
		return nil, err
	}
	return el, nil
}

// outbox is the current term's dispatcher, if this replica leads: a new
// one each term, since what a dispatcher holds in memory (the schedule,
// the unsent cards) is only true while it alone sends. Kick, Schedule and
// Stats go to it, and are dropped while another replica leads (its
// dispatcher reads the store).
type outbox struct {
	make func() (*bot.Dispatcher, error)
	mu   sync.Mutex
	cur  *bot.Dispatcher
	next *bot.Dispatcher // built by New, to fail early; the first term's
	// stats are the dispatchers' of the past terms, added up.
	past []bot.DeliveryCount
}

func newOutbox(make func() (*bot.Dispatcher, error)) (*outbox, error) {
	d, err := make()
	if err != nil {
		return nil, err
	}
	return &outbox{make: make, next: d}, nil
}

// begin is a term's dispatcher.
func (o *outbox) begin() (*bot.Dispatcher, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.next
	o.next = nil
	if d == nil {
		var err error
		if d, err = o.make(); err != nil {
			return nil, err
		}
	}
	o.cur = d
	return d, nil
}

// end forgets the term's dispatcher once its Run returned.
func (o *outbox) end(d *bot.Dispatcher) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == d {
		o.past = addCounts(o.past, d.Stats())
		o.cur = nil
	}
}

func (o *outbox) current() *bot.Dispatcher {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cur
}

func (o *outbox) Kick() {
	if d := o.current(); d != nil {
		d.Kick()
	}
}

func (o *outbox) Schedule(ds []flows.Delivery) {
	if d := o.current(); d != nil {
		d.Schedule(ds)
	}
}

func (o *outbox) Stats() []bot.DeliveryCount {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return o.past
	}
	return addCounts(o.past, o.cur.Stats())
}

// expandLag is the current term's dispatcher's (0 without one).
func (o *outbox) expandLag() time.Duration {
	if o == nil {
		return 0
	}
	if d := o.current(); d != nil {
		return d.ExpandLag()
	}
	return 0
}

// yielding says whether the current term's dispatcher sends less, the
// inbox lagging (false without one).
func (o *outbox) yielding() bool {
	if o == nil {
		return false
	}
	d := o.current()
	return d != nil && d.Yielding()
}

// addCounts is a and b added up, by platform, kind and outcome.
func addCounts(a, b []bot.DeliveryCount) []bot.DeliveryCount {
	at := map[[3]string]int{}
	out := make([]bot.DeliveryCount, 0, len(a)+len(b))
	for _, c := range append(a[:len(a):len(a)], b...) {
		k := [3]string{c.Platform, c.What, c.Outcome}
		if i, ok := at[k]; ok {
			out[i].N += c.N
			continue
		}
		at[k] = len(out)
		out = append(out, c)
	}
	return out
}

// heldSender runs, while this replica does not lead, a dispatcher of its
// own that sends what only this replica can: the credentials whose secret
// it keeps (bot.Dispatcher.RunHeld). A term stops it before the term's
// dispatcher starts and starts it again once the term is over, so that
// the two never send one delivery at once. Nil with one replica.
type heldSender struct {
	d  *bot.Dispatcher
	mu sync.Mutex
	// stopRun cancels RunHeld and waits for it; nil while it is stopped.
	stopRun func()
}

// start runs RunHeld on goroutines started by spawn, unless it runs
// already or ctx has ended.
func (h *heldSender) start(ctx context.Context, spawn func(func())) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopRun != nil || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	spawn(func() {
		defer close(done)
		h.d.RunHeld(ctx)
	})
	h.stopRun = func() { cancel(); <-done }
}

// stop ends RunHeld, once what it is sending is recorded.
func (h *heldSender) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopRun != nil {
		h.stopRun()
		h.stopRun = nil
	}
}

// stats are what became of its sends.
func (h *heldSender) stats() []bot.DeliveryCount {
	if h == nil {
		return nil
	}
	return h.d.Stats()
}

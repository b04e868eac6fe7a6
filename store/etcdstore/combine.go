package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/jitbot/jitbot/flows"
)

// The combiner. A transition is a read of its request and a transaction
// conditioned on it, a round trip or two to etcd, and a sweep or a burst
// makes hundreds at once: one transaction each would cost a commit each.
// Within a process that is avoidable: Create, Update, UpdateMany and
// AppendEvents hand their change to the combiner, which runs everything
// queued together, in queue order, in one transaction (as many as it
// holds), then whatever arrived meanwhile, as the bbolt store's committer
// does. No goroutine runs while nothing is queued: the first writer to find
// the combiner idle starts it, and it stops when the queue is empty.
//
// A change that fn or the store refuses (a conflict, a request not found)
// is answered from the read of the transaction that commits the others,
// on condition that what it read is unchanged too, so that the answer
// holds at the moment the others commit. Changes made under different
// fences (WithFence) never share a transaction: a broken fence must fail
// only the writes made under it.

type jobKind int

const (
	jobCreate jobKind = iota
	jobUpdate
	jobAppend
)

// maxJobs bounds the changes one transaction may take (the operations a
// transaction holds bound it first).
const maxJobs = 64

// job is one change handed to the combiner and, once done is closed, its
// answer.
type job struct {
	ctx    context.Context
	fence  Fence
	fenced bool
	kind   jobKind

	r     *flows.Request // create
	ev    flows.Event
	key   string
	check func(live []*flows.Request) error // CreateChecked's

	id flows.RequestID // update
	fn func(*flows.Request) ([]flows.Event, error)
	// serial is held around fn: the jobs of one call (UpdateMany's) may
	// run in concurrent batches, and its fn was written for one call at a
	// time, as the bbolt store makes them.
	serial *sync.Mutex

	evs []flows.Event // append

	done chan struct{}

	out     *flows.Request
	created bool
	err     error
	refused bool // err is the request's own answer (a refusal)
	// deferred: its approver index is left to write after the commit
	// (indexwork.go).
	deferred bool
}

func (j *job) what() string {
	switch j.kind {
	case jobCreate:
		return "create request " + string(j.r.ID)
	case jobUpdate:
		return "update request " + string(j.id)
	}
	return "append audit events"
}

func (j *job) answer() { close(j.done) }

// panicked carries a panic of fn out of the combiner to the caller whose
// fn raised it, where it is raised again (repanic): the combiner, shared
// by every writer of the process, goes on.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("etcdstore: panic in a transition: %v", p.v) }

func callFn(j *job, r *flows.Request) (evs []flows.Event, err error) {
	j.serial.Lock()
	defer j.serial.Unlock()
	defer func() {
		if v := recover(); v != nil {
			evs, err = nil, panicked{v}
		}
	}()
	return j.fn(r)
}

// repanic raises again in the caller a panic of its fn.
func repanic(err error) {
	var p panicked
	if errors.As(err, &p) {
		panic(p.v)
	}
}

// combineRunners bounds the transactions one process's combiner has under
// way at once. Transitions of different requests no longer meet on any
// key (the audit log's events are pending records of their own), so a
// sweep's hundreds of revocations need not wait for each other's commits
// one transaction at a time: after a change of leader, the new leader's
// first sweep claimed 750 of them that way in 10 s. The events of one
// UpdateMany may therefore reach the chain in any order between its
// requests (each request's own stay in order).
const combineRunners = 4

type combiner struct {
	mu      sync.Mutex
	queue   []*job
	running int
	// busy are the requests of the batches under way: a job on one waits
	// for the next batch rather than race its own process.
	busy map[flows.RequestID]bool
}

// target is the request a job changes ("" for an append).
func (j *job) target() flows.RequestID {
	switch j.kind {
	case jobCreate:
		return j.r.ID
	case jobUpdate:
		return j.id
	}
	return ""
}

// submit queues jobs and waits for their answers.
func (s *Store) submit(jobs ...*job) {
	serial := &sync.Mutex{}
	for _, j := range jobs {
		j.done = make(chan struct{})
		j.fence, j.fenced = fenceOf(j.ctx)
		j.serial = serial
	}
	s.comb.mu.Lock()
	s.comb.queue = append(s.comb.queue, jobs...)
	// As many runners as the jobs make batches, within the bound.
	start := min(combineRunners-s.comb.running, (len(jobs)+maxJobs-1)/maxJobs)
	s.comb.running += max(start, 0)
	s.comb.mu.Unlock()
	for range start {
		go s.combine()
	}
	for _, j := range jobs {
		<-j.done
	}
}

// combine runs what is queued, a batch at a time, until nothing is left
// that another runner is not already at.
func (s *Store) combine() {
	for {
		s.comb.mu.Lock()
		if s.comb.busy == nil {
			s.comb.busy = map[flows.RequestID]bool{}
		}
		var batch, rest []*job
		var first *job
		for _, j := range s.comb.queue {
			id := j.target()
			switch {
			case len(batch) == maxJobs || id != "" && s.comb.busy[id]:
				rest = append(rest, j)
			case first == nil:
				first = j
				batch = append(batch, j)
			case j.fenced == first.fenced && j.fence == first.fence:
				batch = append(batch, j)
			default:
				rest = append(rest, j)
			}
		}
		if len(batch) == 0 {
			s.comb.running--
			s.comb.mu.Unlock()
			return
		}
		for _, j := range batch {
			if id := j.target(); id != "" {
				s.comb.busy[id] = true
			}
		}
		s.comb.queue = rest
		s.comb.mu.Unlock()
		later := s.runBatch(batch)
		s.comb.mu.Lock()
		for _, j := range batch {
			delete(s.comb.busy, j.target())
		}
		s.comb.queue = append(later, s.comb.queue...)
		s.comb.mu.Unlock()
	}
}

// runBatch commits as many of batch, from its front, as one transaction
// holds, answers them, and returns the rest.
func (s *Store) runBatch(batch []*job) (later []*job) {
	deadline := time.Now().Add(s.timeout)
	for _, j := range batch {
		if d, ok := j.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if batch[0].fenced {
		ctx = WithFence(ctx, batch[0].fence)
	}
	fail := func(jobs []*job, err error) {
		for _, j := range jobs {
			j.out, j.created, j.refused = nil, false, false
			j.err = err
			if !errors.Is(err, ErrFenced) && !errors.Is(err, ErrTooLarge) {
				j.err = unreachable(j.ctx, err, fmt.Errorf("etcdstore: %s: %w", j.what(), err))
			}
			j.answer()
		}
	}
	for attempt := 0; ; attempt++ {
		// Callers that gave up are answered and left out.
		live := batch[:0]
		for _, j := range batch {
			if err := j.ctx.Err(); err != nil {
				j.err = err
				j.answer()
				continue
			}
			live = append(live, j)
		}
		if batch = live; len(batch) == 0 {
			return later
		}
		c, n, pending, err := s.prepare(ctx, batch)
		switch {
		case err == nil && len(pending) > 0:
			// A request's approver index is still being written: that
			// first, then read again.
			for _, id := range pending {
				if err = s.applyIndexWork(ctx, id); err != nil {
					break
				}
			}
			if err == nil {
				continue
			}
		case err == nil:
			var ok bool
			ok, err = s.commit(ctx, c)
			if err == nil && ok {
				for _, j := range batch[:n] {
					if j.deferred {
						s.indexNow(ctx, j.out.ID)
					}
					j.answer()
				}
				return append(batch[n:], later...)
			}
			if err == nil { // lost a race: read again
				if attempt >= 2 {
					if err = s.pause(ctx, attempt); err != nil {
						fail(batch, fmt.Errorf("gave up after %d attempts lost to other writers: %w", attempt+1, err))
						return later
					}
				}
				continue
			}
			if errors.Is(err, ErrTooLarge) && n > 1 {
				// Together they do not fit, each may: the first alone.
				return append(batch[1:], later...)
			}
		}
		if transient(err) && ctx.Err() == nil {
			if s.pause(ctx, attempt+2) == nil {
				continue
			}
		}
		if n == 0 { // nothing was prepared: the failure is everyone's
			fail(batch, err)
			return later
		}
		fail(batch[:n], err) // those after never ran: their turn comes
		return append(batch[n:], later...)
	}
}

// prepare reads what the jobs need and builds the transaction of as many
// of them, from the front, as it holds (n): their answers are set, to
// stand once it commits. pending names requests whose approver index must
// be finished first.
func (s *Store) prepare(ctx context.Context, jobs []*job) (c *change, n int, pending []flows.RequestID, err error) {
	var keys []string
	listed := map[string]bool{}
	need := func(k string) {
		if !listed[k] {
			listed[k] = true
			keys = append(keys, k)
		}
	}
	for _, j := range jobs {
		switch j.kind {
		case jobCreate:
			need(s.reqKey(j.r.ID))
			need(s.indexWorkKey(j.r.ID))
			if j.key != "" {
				need(s.idemKey(j.key))
			}
		case jobUpdate:
			need(s.reqKey(j.id))
			need(s.indexWorkKey(j.id))
		}
	}
	kvs, err := s.getAll(ctx, 0, keys...)
	if err != nil {
		return nil, 0, nil, err
	}
	var requesters []string // whose live requests a create checks
	for _, j := range jobs {
		if j.kind == jobCreate && j.check != nil && !slices.Contains(requesters, j.r.Requester) {
			requesters = append(requesters, j.r.Requester)
		}
	}
	live, err := s.liveOf(ctx, requesters)
	if err != nil {
		return nil, 0, nil, err
	}
	read := make(map[string]*mvccpb.KeyValue, len(keys))
	for i, k := range keys {
		read[k] = kvs[i]
	}
	for _, j := range jobs {
		id := j.id
		if j.kind == jobCreate {
			id = j.r.ID
		}
		if j.kind != jobAppend && read[s.indexWorkKey(id)] != nil {
			pending = append(pending, id)
		}
	}
	if len(pending) > 0 {
		return nil, 0, pending, nil
	}

	c = &change{}
	compared := map[string]bool{}
	unchanged := func(k string) {
		if !compared[k] {
			compared[k] = true
			c.unchanged(k, read[k])
		}
	}
	// The requests and idempotency keys as the jobs before have left them.
	current := map[flows.RequestID]*flows.Request{}
	load := func(id flows.RequestID) (*flows.Request, error) {
		if r, ok := current[id]; ok {
			return r.Clone(), nil
		}
		kv := read[s.reqKey(id)]
		if kv == nil {
			return nil, nil
		}
		r, err := decodeRequest(kv)
		if err != nil {
			return nil, err
		}
		current[id] = r
		return r.Clone(), nil
	}
	idem := map[string]flows.RequestID{}
	// The requesters whose live requests a create of this transaction
	// checked: a second create of theirs would be checked without the
	// first, which its condition cannot see (compares are evaluated
	// before any put), so it waits for the next transaction.
	checked := map[string]bool{}
	for i, j := range jobs {
		if j.kind == jobCreate && j.check != nil && checked[j.r.Requester] {
			for _, rest := range jobs[i:] {
				rest.out, rest.created, rest.err, rest.refused, rest.deferred = nil, false, nil, false, false
			}
			n = i
			break
		}
		j.out, j.created, j.err, j.refused, j.deferred = nil, false, nil, false, false
		jc := &change{}
		var evs []flows.Event
		var touched []string // keys whose read the answer rests on
		var after *flows.Request
		switch j.kind {
		case jobAppend:
			evs = j.evs
		case jobCreate:
			r := j.r
			touched = append(touched, s.reqKey(r.ID), s.indexWorkKey(r.ID))
			if j.key != "" {
				touched = append(touched, s.idemKey(j.key))
				prior, ok := idem[j.key]
				if kv := read[s.idemKey(j.key)]; !ok && kv != nil {
					prior, ok = flows.RequestID(kv.Value), true
				}
				if ok {
					if prior != r.ID {
						touched = append(touched, s.reqKey(prior))
						if !listed[s.reqKey(prior)] {
							// Named by a key but not read: read it as of
							// this snapshot.
							got, err := s.getAll(ctx, 0, s.reqKey(prior))
							if err != nil {
								return nil, 0, nil, err
							}
							listed[s.reqKey(prior)], read[s.reqKey(prior)] = true, got[0]
						}
					}
					got, err := load(prior)
					switch {
					case err != nil:
						return nil, 0, nil, err
					case got == nil:
						j.err, j.refused = flows.Errorf(flows.ENOTFOUND, "there is no request %s", prior), true
					default:
						j.out = got
					}
					break
				}
			}
			if existing, err := load(r.ID); err != nil {
				return nil, 0, nil, err
			} else if existing != nil {
				j.err, j.refused = flows.Errorf(flows.ECONFLICT, "request %s exists", r.ID), true
				break
			}
			if j.check != nil {
				mine := live[r.Requester]
				if err := j.check(mine.reqs); err != nil {
					j.err, j.refused = err, true
					break
				}
				checked[r.Requester] = true
				jc.cmps = append(jc.cmps, s.liveUnchanged(r.Requester, mine.rev))
			}
			work, err := s.putRequest(jc, nil, r)
			if err != nil {
				return nil, 0, nil, err
			}
			if j.key != "" {
				jc.put(s.idemKey(j.key), string(r.ID))
			}
			if j.deferred, err = s.placeApprovers(jc, r.ID, nil, work); err != nil {
				return nil, 0, nil, err
			}
			evs = []flows.Event{j.ev}
			after = r.Clone()
			j.out, j.created = r.Clone(), true
		case jobUpdate:
			touched = append(touched, s.reqKey(j.id), s.indexWorkKey(j.id))
			r, err := load(j.id)
			if err != nil {
				return nil, 0, nil, err
			}
			if r == nil {
				j.err, j.refused = flows.Errorf(flows.ENOTFOUND, "there is no request %s", j.id), true
				break
			}
			old := r.Clone()
			fevs, ferr := callFn(j, r)
			if ferr != nil {
				j.err, j.refused = ferr, true
				break
			}
			if r.ID != j.id {
				j.err, j.refused = fmt.Errorf("etcdstore: update %s: the id must not change", j.id), true
				break
			}
			work, err := s.putRequest(jc, old, r)
			if err != nil {
				return nil, 0, nil, err
			}
			if j.deferred, err = s.placeApprovers(jc, r.ID, nil, work); err != nil {
				return nil, 0, nil, err
			}
			evs, after = fevs, r
			j.out = r.Clone()
		}
		// Does it fit beside those before it? The marker and the fence
		// take their share.
		newCmps := 0
		for _, k := range touched {
			if !compared[k] {
				newCmps++
			}
		}
		if i > 0 && (len(c.ops)+len(jc.ops)+len(evs)+2 > s.maxOps || len(c.cmps)+len(jc.cmps)+newCmps+2 > s.maxOps ||
			c.bytes+jc.bytes > maxRequestBytes) {
			for _, rest := range jobs[i:] {
				rest.out, rest.created, rest.err, rest.refused, rest.deferred = nil, false, nil, false, false
			}
			n = i
			break
		}
		for _, k := range touched {
			unchanged(k)
		}
		c.cmps = append(c.cmps, jc.cmps...)
		c.merge(jc)
		if after != nil {
			current[after.ID] = after
			if j.kind == jobCreate && j.key != "" {
				idem[j.key] = after.ID
			}
		}
		if err := s.addEvents(c, evs...); err != nil {
			return nil, 0, nil, err
		}
		n = i + 1
	}
	return c, n, nil, nil
}

package flows

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Revocation while the store cannot be reached. The sweeps read what is
// due from the store and record each step in it; a store that cannot be
// reached (several replicas on a cluster that lost its quorum) would hold
// every expiry back until it returns. So every replica keeps in memory the
// grants due within OfflineHorizon as it last read them, with what a
// provisioner needs to delete them, read again every OfflineRefresh while
// the store answers; while it does not, each replica deletes those whose
// time has come (a delete of what is gone already succeeds, so replicas
// deleting the same grant do no harm), and once the store answers again it
// records what it deleted: the transitions, their audit events and their
// notices, as a sweep would have. Nothing depends on this memory for
// correctness: a replica that dies with deletions unrecorded leaves grants
// the store still holds as active, which the next sweep revokes again (the
// delete finds them gone).
//
// What it cannot know: a grant that began, or was extended, after the
// replica's last read. The first waits for the store (and for Atlas's
// backstop); the second is deleted at its old expiry, and its record says
// so (the requester asks again).

// OfflineHorizon is how far ahead the due list kept in memory reaches: an
// outage longer than this leaves later expiries to the store's return and
// to Atlas's backstops.
const OfflineHorizon = 15 * time.Minute

// OfflineRefresh is how often the due list is read while the store
// answers.
const OfflineRefresh = 15 * time.Second

// offlineMaxGrants bounds the due list kept in memory.
const offlineMaxGrants = 10000

// OfflineReport says what one OfflineRevoker.Tick did.
type OfflineReport struct {
	StoreDown bool // the store could not be reached
	Listed    int  // grants in the due list kept in memory
	Deleted   int  // grants deleted now, the store being unreachable
	Failed    int  // deletes that failed now (tried again next tick)
	Recorded  int  // deletions made while the store was unreachable, recorded now
}

// OfflineRevoker keeps a replica's due list and revokes from it while the
// store cannot be reached. Create it with Service.OfflineRevoker; run Tick
// every sweep interval on every replica, whoever leads.
type OfflineRevoker struct {
	s *Service

	mu      sync.Mutex
	readAt  time.Time                     // when the due list was read (zero: never)
	due     map[RequestID]*offlineGrant   // the due list as last read
	deleted map[RequestID]offlineDeletion // deleted while the store was unreachable, not yet recorded
	tick    sync.Mutex                    // one Tick at a time
	// targets serialise this replica's deletes of shared targets. Not the
	// store's locks (Deps.Locks), out of reach with the store; no replica
	// makes a grant meanwhile (intake is refused).
	targets targetLocks
}

// offlineGrant is a due grant as read, with what its delete needs.
type offlineGrant struct {
	grant     Grant
	state     State
	expiresAt time.Time
}

// offlineDeletion is a grant deleted while the store was unreachable.
type offlineDeletion struct {
	at        time.Time
	expiresAt time.Time // the grant's expiry as read
	note      string    // from the delete (other holders kept a shared target)
}

// OfflineRevoker is this replica's revoker for when the store cannot be
// reached.
func (s *Service) OfflineRevoker() *OfflineRevoker {
	return &OfflineRevoker{s: s, due: map[RequestID]*offlineGrant{}, deleted: map[RequestID]offlineDeletion{}}
}

// storePinger is a store that proves cheaply that it can be reached (a
// cluster); a store without it (a local file) is reachable while the
// process runs.
type storePinger interface {
	Ping(ctx context.Context) error
}

// Tick does, at now, what the store's reachability calls for: the store
// answering, it records what was deleted while it did not and reads the
// due list again when OfflineRefresh has passed; the store unreachable, it
// deletes the grants of the due list whose expiry comes before the next
// sweep, as a sweep would.
func (o *OfflineRevoker) Tick(ctx context.Context, now time.Time) (OfflineReport, error) {
	o.tick.Lock()
	defer o.tick.Unlock()
	var rep OfflineReport
	err := o.reach(ctx)
	if err == nil {
		rep.Recorded, err = o.record(ctx)
	}
	if err == nil {
		o.mu.Lock()
		stale := o.readAt.IsZero() || now.Sub(o.readAt) >= OfflineRefresh || now.Before(o.readAt)
		o.mu.Unlock()
		if stale {
			err = o.read(ctx, now)
		}
	}
	o.mu.Lock()
	rep.Listed = len(o.due)
	o.mu.Unlock()
	switch {
	case err == nil:
		return rep, nil
	case !IsStoreUnreachable(err):
		return rep, fmt.Errorf("flows: offline revocation: %w", err)
	}
	rep.StoreDown = true
	o.revoke(ctx, now, &rep)
	return rep, nil
}

// reach is nil when the store can be reached.
func (o *OfflineRevoker) reach(ctx context.Context) error {
	p, ok := o.s.store.(storePinger)
	if !ok {
		return nil
	}
	return StoreUnreachable(p.Ping(ctx))
}

// read replaces the due list with the store's: the active grants expiring
// within OfflineHorizon and the revocations under way.
func (o *OfflineRevoker) read(ctx context.Context, now time.Time) error {
	active, err := o.s.store.Expiring(ctx, now.Add(OfflineHorizon), offlineMaxGrants)
	if err != nil {
		return fmt.Errorf("read the grants expiring soon: %w", err)
	}
	revoking, err := o.s.store.Find(ctx, Query{States: []State{StateRevoking, StateRevokeFailed}, Limit: offlineMaxGrants})
	if err != nil {
		return fmt.Errorf("read the revocations under way: %w", err)
	}
	due := make(map[RequestID]*offlineGrant, len(active)+len(revoking))
	var shared []*offlineGrant
	for _, r := range append(active, revoking...) {
		// Without a principal, nothing was made in Atlas.
		if r.Principal == "" || len(due) >= offlineMaxGrants {
			continue
		}
		g := o.s.grant(r)
		// A fresh journal each read: the store's state is the truth again.
		g.Journal = offlineJournal{d: &offlineJournalData{state: r.GrantState}, s: o.s, id: r.ID}
		og := &offlineGrant{grant: g, state: r.State, expiresAt: r.ExpiresAt}
		due[r.ID] = og
		if o.s.sharesTarget(g.Kind) || holdsAddress(g.Kind, g.Resource) {
			shared = append(shared, og)
		}
	}
	if len(shared) > 0 {
		// The holders of shared targets, as they are now: while the store
		// cannot be reached, no grant begins.
		live, err := o.s.store.Find(ctx, Query{States: holdingStates()})
		if err != nil {
			return fmt.Errorf("read which grants hold shared targets: %w", err)
		}
		for _, og := range shared {
			og.grant.Holders = o.s.holdersIn(live, og.grant)
		}
	}
	o.mu.Lock()
	o.due, o.readAt = due, now
	o.mu.Unlock()
	return nil
}

// revoke deletes, on the service's workers, the grants of the due list
// whose time has come at now and that this replica has not deleted yet.
func (o *OfflineRevoker) revoke(ctx context.Context, now time.Time, rep *OfflineReport) {
	o.mu.Lock()
	var todo []*offlineGrant
	for id, og := range o.due {
		if _, done := o.deleted[id]; done {
			continue
		}
		// As a sweep: an active grant expiring before the next sweep is
		// revoked now; a revocation under way is finished.
		if og.state == StateActive && og.expiresAt.After(now.Add(o.s.cfg.SweepInterval)) {
			continue
		}
		todo = append(todo, og)
	}
	o.mu.Unlock()
	slices.SortFunc(todo, func(a, b *offlineGrant) int {
		return cmp.Or(a.expiresAt.Compare(b.expiresAt), strings.Compare(string(a.grant.RequestID), string(b.grant.RequestID)))
	})
	type result struct {
		og   *offlineGrant
		note string
		err  error
	}
	results := make(chan result, len(todo))
	queue := make(chan *offlineGrant)
	var wg sync.WaitGroup
	for range min(max(o.s.cfg.Workers, 1), len(todo)) {
		wg.Go(func() {
			for og := range queue {
				note, err := o.delete(ctx, og, now)
				results <- result{og, note, err}
			}
		})
	}
	for _, og := range todo {
		queue <- og
	}
	close(queue)
	wg.Wait()
	close(results)
	for res := range results {
		id := res.og.grant.RequestID
		if res.err != nil {
			rep.Failed++
			o.s.log.WarnContext(ctx, "the store is unreachable: a due grant could not be deleted; trying again", "request_id", id,
				"principal", res.og.grant.Principal, "kind", string(res.og.grant.Kind), "err", res.err)
			continue
		}
		rep.Deleted++
		o.mu.Lock()
		o.deleted[id] = offlineDeletion{at: o.s.clock.Now(), expiresAt: res.og.expiresAt, note: res.note}
		o.mu.Unlock()
		o.s.log.InfoContext(ctx, "the store is unreachable: deleted a due grant from the last due list read; recorded when the store is back",
			"request_id", id, "principal", res.og.grant.Principal, "kind", string(res.og.grant.Kind), "expires_at", res.og.expiresAt)
	}
}

// delete deletes one grant through its kind's provisioner. A shared target
// is kept while a holder remains that is not itself due or deleted.
func (o *OfflineRevoker) delete(ctx context.Context, og *offlineGrant, now time.Time) (note string, err error) {
	prov, err := o.s.provisioner(og.grant.Kind)
	if err != nil {
		return "", err
	}
	g := og.grant
	if j, ok := g.Journal.(offlineJournal); ok {
		g.State = j.state() // what an earlier attempt of this replica wrote down
	}
	if g.Holders == nil {
		return "", prov.Delete(ctx, g)
	}
	unlock := o.targets.lock(targetKey(g))
	defer unlock()
	o.mu.Lock()
	var holders []Grant
	for _, h := range g.Holders {
		_, gone := o.deleted[h.RequestID]
		if hd := o.due[h.RequestID]; hd != nil && !hd.expiresAt.After(now.Add(o.s.cfg.SweepInterval)) {
			gone = true
		}
		if !gone {
			holders = append(holders, h)
		}
	}
	o.mu.Unlock()
	g.Holders = holders
	return holdersNote(g), prov.Delete(ctx, g)
}

// record writes down, the store answering again, the deletions made while
// it did not: each grant's revocation, begun and finished, with its audit
// events and notices. A request that ended meanwhile (another replica
// recorded it, a sweep revoked it again) is left as it is.
func (o *OfflineRevoker) record(ctx context.Context) (int, error) {
	o.mu.Lock()
	byID := make(map[RequestID]offlineDeletion, len(o.deleted))
	ids := make([]RequestID, 0, len(o.deleted))
	for id, d := range o.deleted {
		byID[id] = d
		ids = append(ids, id)
	}
	o.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	slices.Sort(ids)
	events := make(map[RequestID][]Event, len(ids))
	updated, errs, err := o.s.store.UpdateMany(ctx, ids, func(r *Request) ([]Event, error) {
		d := byID[r.ID]
		now := o.s.clock.Now()
		note := fmt.Sprintf("deleted from Atlas at %s while jitbot's store could not be reached", d.at.UTC().Format(time.RFC3339))
		var evs []Event
		switch r.State {
		case StateActive:
			reason := "expired"
			if r.ExpiresAt.After(d.expiresAt) {
				reason = fmt.Sprintf("expired at %s, as jitbot last read it: the extension to %s came too late to be known while its store could not be reached; ask again",
					d.expiresAt.UTC().Format(time.RFC3339), r.ExpiresAt.UTC().Format(time.RFC3339))
			}
			ev, err := r.StartRevoking(now, SystemActor, StateExpired, reason)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
		case StateRevoking, StateRevokeFailed:
		default:
			return nil, Errorf(ECONFLICT, "request %s is %s: nothing to record", r.ID, r.describeState())
		}
		ev, err := r.FinishRevocation(now)
		if err != nil {
			return nil, err
		}
		evs = append(evs, withNote(withNote(ev, note), d.note))
		events[r.ID] = evs
		return evs, nil
	})
	if err != nil {
		return 0, fmt.Errorf("record the deletions made while the store could not be reached: %w", err)
	}
	n := 0
	o.mu.Lock()
	for i, id := range ids {
		if errs[i] != nil && ErrorCode(errs[i]) != ECONFLICT && ErrorCode(errs[i]) != ENOTFOUND {
			continue // tried again next tick
		}
		delete(o.deleted, id)
		delete(o.due, id)
	}
	o.mu.Unlock()
	for i, id := range ids {
		switch {
		case errs[i] == nil:
			n++
			for _, ev := range events[id] {
				o.s.announce(ctx, ev, updated[i])
			}
		case ErrorCode(errs[i]) != ECONFLICT && ErrorCode(errs[i]) != ENOTFOUND:
			o.s.log.ErrorContext(ctx, "could not record a deletion made while the store could not be reached", "request_id", id, "err", errs[i])
		}
	}
	return n, nil
}

// offlineJournalData is what a multi-step provisioner wrote down of one
// grant while the store could not be reached, in this replica's memory:
// the next attempt of this replica goes on from it. Its record is lost if
// the replica dies, and then an attempt from the store's state repeats
// idempotent calls.
type offlineJournalData struct {
	mu    sync.Mutex
	state string
}

type offlineJournal struct {
	d  *offlineJournalData
	s  *Service
	id RequestID
}

func (j offlineJournal) state() string {
	j.d.mu.Lock()
	defer j.d.mu.Unlock()
	return j.d.state
}

func (j offlineJournal) Record(_ context.Context, state string) error {
	j.d.mu.Lock()
	j.d.state = state
	j.d.mu.Unlock()
	return nil
}

func (j offlineJournal) Report(ctx context.Context, finding string) error {
	j.s.log.WarnContext(ctx, "a finding on a grant deleted while the store could not be reached", "request_id", j.id, "finding", finding)
	return nil
}

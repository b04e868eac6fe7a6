package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitbot/jitbot/flows"
)

// offline runs, on every replica on etcd whoever leads, the revocation of
// what is due while the store cannot be reached (flows.OfflineRevoker):
// each sweep interval it reads the due list or, the store out, deletes
// from the one it last read, and records those deletions once the store
// is back. On bbolt the store is a file the process holds: it is never
// out while jitbot runs, and nothing of this runs.
type offline struct {
	rev   *flows.OfflineRevoker
	clock flows.Clock
	log   *slog.Logger

	down     atomic.Bool  // the store was unreachable at the last tick
	deleted  atomic.Int64 // grants deleted while the store was out
	failed   atomic.Int64 // deletes that failed while it was out
	recorded atomic.Int64 // deletions recorded once it was back

	// The admins hear of an outage from the replica that led when it
	// began: straight through the chat platforms while the store is out
	// (tellNow, bot.TellNow: the outbox is in the store), and once it is
	// back from the audit log, where the outage is recorded (audit: a
	// store_alarm event, which the outbox sends). leads says this replica
	// leads; nil tells nobody. mu guards outage: the schedule's tick and a
	// new term's may run at once.
	leads   func() bool
	tellNow func(ctx context.Context, ev flows.Event) (int, error)
	audit   eventAppender
	mu      sync.Mutex
	outage  outageNotice

	// reach looks the admins up on every platform (bot.Reachable), which
	// the leader does every outageReachEvery while the store is up: a
	// platform that finds people from the store (Teams) keeps what it
	// read, and finds them from that while the store is out. reachedAt
	// (under mu) is the last time.
	reach     func(ctx context.Context) (int, error)
	reachedAt time.Time
	// bg counts the chat calls under way (the notice, the look-up): they
	// run beside the ticks, which the schedule skips while one runs, so
	// that the revocation never waits on a chat platform.
	bg sync.WaitGroup
}

// eventAppender records events that change no request (flows.AuditLog).
type eventAppender interface {
	AppendEvents(ctx context.Context, evs ...flows.Event) error
}

// outageNotice is what the ticks know of the store's outage, for the
// admins' notices.
type outageNotice struct {
	ledAt     time.Time // the last tick that found the store up and this replica leading
	since     time.Time // the first tick that found the store out (zero: up)
	tells     bool      // this replica led when the outage began: it tells
	told      bool      // the admins were told of this outage
	telling   bool      // the notice is under way (tellLater)
	deletions int       // grants deleted during it
}

// outageTellAfter is how long the store must have been out before the
// admins hear of it: a blip of a few seconds pages nobody. outageLedWithin
// is how recently a replica must have led, at the outage's first tick, to
// be the one that tells: its term may end as the outage begins (its lease
// cannot be renewed), and a leader before the last one has long stopped.
const (
	outageTellAfter  = 30 * time.Second
	outageLedWithin  = 3 * SweepInterval
	outageReachEvery = time.Hour
	reachTimeout     = 30 * time.Second // a look-up, or a notice, on every platform
)

func newOffline(db Backend, svc *flows.Service, clock flows.Clock, log *slog.Logger) *offline {
	if _, ok := db.(etcdBackend); !ok {
		return nil
	}
	return &offline{rev: svc.OfflineRevoker(), audit: db, clock: clock, log: log.With("component", "offline")}
}

// tick is one round (the schedule's job, and Main.RevokeOffline).
func (o *offline) tick(ctx context.Context) flows.OfflineReport {
	rep := o.revoke(ctx)
	// Unbounded by the round's timeout: the admins' look-up it may start
	// runs on after it, within its own.
	o.noticeOutage(ctx, rep)
	return rep
}

// revoke is the round's revocation: from the due list, and recording what
// was deleted once the store is back.
func (o *offline) revoke(ctx context.Context) flows.OfflineReport {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rep, err := o.rev.Tick(ctx, o.clock.Now())
	if err != nil {
		o.log.ErrorContext(ctx, "offline revocation", "err", err)
	}
	if was := o.down.Swap(rep.StoreDown); was != rep.StoreDown {
		if rep.StoreDown {
			o.log.WarnContext(ctx, "the store cannot be reached: revoking from the due list last read; intake refuses requests until it is back", "due_list", rep.Listed)
		} else {
			o.log.InfoContext(ctx, "the store is reachable again")
		}
	}
	o.deleted.Add(int64(rep.Deleted))
	o.failed.Add(int64(rep.Failed))
	o.recorded.Add(int64(rep.Recorded))
	if rep.Recorded > 0 {
		o.log.InfoContext(ctx, "recorded the deletions made while the store could not be reached", "requests", rep.Recorded)
	}
	return rep
}

// noticeOutage tells the admins, once per outage and from the replica
// that led as it began, that the store has been out for outageTellAfter,
// and then records that it was, from when to when, once it is back.
func (o *offline) noticeOutage(ctx context.Context, rep flows.OfflineReport) {
	if o.leads == nil || o.tellNow == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now, n := o.clock.Now(), &o.outage
	if !rep.StoreDown {
		if n.told || n.telling {
			msg := fmt.Sprintf("jitbot could not reach its store (etcd) from %s to %s: it refused requests and approvals meanwhile. It reaches it again, and the %d grant(s) this replica deleted meanwhile are recorded.",
				n.since.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), n.deletions)
			if err := o.audit.AppendEvents(ctx, alarmEvent(now, msg)); err != nil {
				o.log.WarnContext(ctx, "could not record the store's outage: again at the next round", "err", err)
				return
			}
		}
		*n = outageNotice{ledAt: n.ledAt}
		if o.leads() {
			n.ledAt = now
			o.keepReachable(ctx, now)
		}
		return
	}
	if n.since.IsZero() {
		n.since = now
		n.tells = o.leads() || (!n.ledAt.IsZero() && now.Sub(n.ledAt) <= outageLedWithin)
	}
	n.deletions += rep.Deleted
	if !n.tells || n.told || n.telling || now.Sub(n.since) < outageTellAfter {
		return
	}
	msg := fmt.Sprintf("jitbot cannot reach its store (etcd) since %s: it refuses requests and approvals (people are told to try again) and records nothing. "+
		"Grants that fall due are still deleted in Atlas, from the list of due grants read before (%d so far); they are recorded once the store is back. "+
		"Look at the etcd members: quorum, disk, network.", n.since.UTC().Format(time.RFC3339), n.deletions)
	n.telling = true
	o.tellLater(ctx, now, n.since, msg)
}

// tellLater sends the admins msg in the background, and notes that they
// were told of the outage that began at since if anyone got it (else the
// next round tries again). Called under mu.
func (o *offline) tellLater(ctx context.Context, now, since time.Time, msg string) {
	o.bg.Go(func() {
		told := o.tell(ctx, now, msg)
		o.mu.Lock()
		defer o.mu.Unlock()
		if n := &o.outage; n.since.Equal(since) {
			n.telling, n.told = false, told
		}
	})
}

// keepReachable looks the admins up, in the background, if the last
// look-up was outageReachEvery ago (or never, in this process). Called
// under mu.
func (o *offline) keepReachable(ctx context.Context, now time.Time) {
	if o.reach == nil || !o.reachedAt.IsZero() && now.Sub(o.reachedAt) < outageReachEvery {
		return
	}
	o.reachedAt = now
	o.bg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, reachTimeout)
		defer cancel()
		found, err := o.reach(ctx)
		if err != nil {
			o.log.WarnContext(ctx, "could not look every admin up (they are told through chat if the store goes out)", "found", found, "err", err)
			return
		}
		o.log.DebugContext(ctx, "looked the admins up on the chat platforms", "found", found)
	})
}

// tell sends the admins msg straight away; it reports whether anyone got it.
func (o *offline) tell(ctx context.Context, now time.Time, msg string) bool {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	sent, err := o.tellNow(ctx, alarmEvent(now, msg))
	if err != nil {
		o.log.WarnContext(ctx, "could not tell every admin of the store's outage", "sent", sent, "err", err)
	}
	return sent > 0
}

func (o *offline) counters() []counter {
	n := func(v *atomic.Int64) func() map[string]float64 {
		return func() map[string]float64 { return map[string]float64{"": float64(v.Load())} }
	}
	return []counter{
		{name: "jitbot_store_unreachable", help: "1 while this replica cannot reach the store (it revokes from its last due list, intake refuses), else 0.",
			gauge: true, read: func() map[string]float64 {
				if o.down.Load() {
					return map[string]float64{"": 1}
				}
				return map[string]float64{"": 0}
			}},
		{name: "jitbot_offline_revocations_total", help: "Grants this replica deleted from its last due list while the store could not be reached.", read: n(&o.deleted)},
		{name: "jitbot_offline_revocation_failures_total", help: "Deletes that failed while the store could not be reached (tried again each sweep interval).", read: n(&o.failed)},
		{name: "jitbot_offline_revocations_recorded_total", help: "Deletions made while the store could not be reached, recorded once it was back.", read: n(&o.recorded)},
	}
}

// RevokeOffline runs one round of the revocation for when the store
// cannot be reached, now, as its schedule does (the tests step it on a
// fake clock), and waits for the chat calls it started, if any; a zero
// report on bbolt.
func (m *Main) RevokeOffline(ctx context.Context) flows.OfflineReport {
	if m.offline == nil {
		return flows.OfflineReport{}
	}
	rep := m.offline.tick(ctx)
	m.offline.bg.Wait()
	return rep
}

// addCounters registers counters made after the metrics (those of parts
// built on the service).
func (m *metrics) addCounters(cs ...counter) {
	for _, c := range cs {
		m.reg.MustRegister(&funcCollector{c: c, desc: prometheus.NewDesc(c.name, c.help, c.labels, nil)})
	}
}

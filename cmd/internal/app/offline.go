package app

import (
	"context"
	"log/slog"
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
}

func newOffline(db Backend, svc *flows.Service, clock flows.Clock, log *slog.Logger) *offline {
	if _, ok := db.(etcdBackend); !ok {
		return nil
	}
	return &offline{rev: svc.OfflineRevoker(), clock: clock, log: log.With("component", "offline")}
}

// tick is one round (the schedule's job, and Main.RevokeOffline).
func (o *offline) tick(ctx context.Context) flows.OfflineReport {
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
// fake clock); a zero report on bbolt.
func (m *Main) RevokeOffline(ctx context.Context) flows.OfflineReport {
	if m.offline == nil {
		return flows.OfflineReport{}
	}
	return m.offline.tick(ctx)
}

// addCounters registers counters made after the metrics (those of parts
// built on the service).
func (m *metrics) addCounters(cs ...counter) {
	for _, c := range cs {
		m.reg.MustRegister(&funcCollector{c: c, desc: prometheus.NewDesc(c.name, c.help, c.labels, nil)})
	}
}

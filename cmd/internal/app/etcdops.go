package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// etcd keeps every revision of every key until it is compacted, and stops
// taking writes once its database reaches its quota (the NOSPACE alarm).
// etcdOps is what jitbot does about it on the etcd store: the leader
// compacts old revisions on a retention (store.etcd.compaction), every
// replica reports the database's size and alarms in /metrics, and the
// leader alerts when NOSPACE is raised: a warning in the log, and a
// notice to the admins, once per raise: sent at once outside the outbox
// while etcd refuses its write, and recorded (a store_alarm event, which
// the outbox sends) as soon as etcd takes writes again.
type etcdOps struct {
	st        statuser
	compactor *etcdstore.Compactor // nil: compaction is etcd's (off)
	db        flows.AuditLog
	clock     flows.Clock
	log       *slog.Logger

	// mu guards the alarm's state (the leader's checks run one at a time,
	// but a term may end while one runs) and the status /metrics shows.
	mu sync.Mutex
	// raisedAt is when this replica first saw NOSPACE raised (zero: not
	// raised); told whether the admins' notice of it was written. Under
	// NOSPACE etcd refuses every write, this notice's too: it is written
	// as soon as etcd takes writes again, and says how long they failed.
	raisedAt time.Time
	told     bool
	// toldNow says the admins were sent the notice directly, outside the
	// outbox (tellNow), while etcd refused its write; once per raise.
	toldNow bool
	// tellNow sends a system event's card to the admins at once, without
	// the outbox (bot.TellNow); nil sends nothing.
	tellNow func(ctx context.Context, ev flows.Event) (int, error)
	// seen is the last status read for /metrics, and when.
	seen   etcdstore.Status
	seenAt time.Time
	seenOK bool
}

// statuser is the etcd store's status, as etcdOps reads it.
type statuser interface {
	Status(ctx context.Context) (etcdstore.Status, error)
}

// The schedules: the alarm is checked every 30 s; compaction runs ten
// times per retention, between once a minute and once every 10 minutes,
// so that history is kept between the retention and 1.1 times it.
const (
	storeAlarmSchedule = "@every 30s"
	// statusTTL is how long a status read for /metrics serves further
	// scrapes (each of its gauges reads it).
	statusTTL     = 5 * time.Second
	statusTimeout = 2 * time.Second
)

func compactionSchedule(retention time.Duration) string {
	return "@every " + min(max(retention/10, 10*time.Second), 10*time.Minute).String()
}

// newEtcdOps is etcdOps on db, nil when db is not the etcd store.
func newEtcdOps(db Backend, cfg *etcdstore.Config, clock flows.Clock, log *slog.Logger) *etcdOps {
	eb, ok := db.(etcdBackend)
	if !ok {
		return nil
	}
	o := &etcdOps{st: eb, db: eb, clock: clock, log: log}
	if r := cfg.CompactionRetention(); r > 0 {
		o.compactor = eb.NewCompactor(r)
	}
	return o
}

// leaderJobs are the leader's: compaction and the alarm check.
func (o *etcdOps) leaderJobs(ctx context.Context, retention time.Duration) []job {
	jobs := []job{{storeAlarmSchedule, func() {
		if err := o.checkAlarm(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("etcd alarm check failed", "err", err)
		}
	}}}
	if o.compactor != nil {
		jobs = append(jobs, job{compactionSchedule(retention), func() {
			if err := o.compact(ctx); err != nil && ctx.Err() == nil {
				o.log.Warn("etcd compaction failed", "err", err)
			}
		}})
	}
	return jobs
}

// compact runs one step of the compactor.
func (o *etcdOps) compact(ctx context.Context) error {
	rev, err := o.compactor.Step(ctx, o.clock.Now())
	if err != nil {
		return err
	}
	if rev > 0 {
		o.log.Info("etcd history compacted", "revision", rev)
	}
	return nil
}

// checkAlarm reads the cluster's alarms and tells of NOSPACE once per
// raise: the warning when it is first seen; the admins' notice, sent at
// once while etcd refuses its write, and written once etcd takes it; and
// when it is cleared, that it is (or, when the notice could not be
// written meanwhile, that it was, and since when).
func (o *etcdOps) checkAlarm(ctx context.Context) error {
	st, err := o.st.Status(ctx)
	if err != nil {
		return err
	}
	o.remember(st)
	direct, err := o.alarmNotice(ctx, st)
	if direct != nil {
		o.noticeNow(ctx, *direct)
	}
	return err
}

// noticeNow sends the admins the notice the store refused, at once and
// outside the outbox, once per raise: the outbox cannot hold it while
// etcd takes no writes, and the raise is what they must act on. The
// chat calls run outside mu, so that /metrics does not wait on them.
func (o *etcdOps) noticeNow(ctx context.Context, ev flows.Event) {
	if o.tellNow == nil {
		return
	}
	n, err := o.tellNow(ctx, ev)
	if err != nil {
		o.log.Warn("could not tell every admin of etcd's NOSPACE alarm directly", "sent", n, "err", err)
	}
	if n > 0 {
		o.mu.Lock()
		o.toldNow = !o.raisedAt.IsZero()
		o.mu.Unlock()
	}
}

// alarmNotice is checkAlarm's part under mu: what it logs and records;
// direct is the notice to send the admins at once when its write was
// refused and they were not sent it directly yet.
func (o *etcdOps) alarmNotice(ctx context.Context, st etcdstore.Status) (direct *flows.Event, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock.Now()
	raised := st.Raised("NOSPACE")
	switch {
	case raised && o.raisedAt.IsZero():
		o.raisedAt, o.told, o.toldNow = now, false, false
		o.log.Warn("etcd raised its NOSPACE alarm: the store takes no writes (requests, approvals, revocations' records) until space is freed",
			"db_size_bytes", st.DBSize, "db_size_in_use_bytes", st.DBSizeInUse, "quota_bytes", st.Quota, "alarms", st.Alarms)
		fallthrough
	case raised && !o.told:
		msg := fmt.Sprintf("etcd is out of space (its NOSPACE alarm, since %s): its database holds %s of its %s quota and it takes no writes, so jitbot can take no request, approval or revocation record. "+
			"Free space: compact and defragment (etcdctl compact, etcdctl defrag), raise --quota-backend-bytes if needed, then etcdctl alarm disarm.",
			o.raisedAt.UTC().Format(time.RFC3339), size(st.DBSize), size(st.Quota))
		ev := alarmEvent(now, msg)
		if err := o.db.AppendEvents(ctx, ev); err != nil {
			// Refused, as NOSPACE refuses every write: again at the next
			// check, and meanwhile straight to the admins.
			if !o.toldNow {
				return &ev, nil
			}
			return nil, nil
		}
		o.told = true
	case !raised && !o.raisedAt.IsZero():
		msg := "etcd's NOSPACE alarm is cleared: jitbot's store takes writes again."
		if !o.told {
			msg = fmt.Sprintf("etcd was out of space (its NOSPACE alarm) from %s to %s: jitbot's store took no writes meanwhile, so requests, approvals and revocation records failed; it takes them again.",
				o.raisedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		o.log.Info("etcd's NOSPACE alarm is cleared", "raised_at", o.raisedAt)
		if err := o.db.AppendEvents(ctx, alarmEvent(now, msg)); err != nil {
			return nil, fmt.Errorf("tell the admins the NOSPACE alarm is cleared: %w", err)
		}
		o.raisedAt, o.told, o.toldNow = time.Time{}, false, false
	}
	return nil, nil
}

// alarmEvent is a store_alarm event: recorded, the outbox tells the admins.
func alarmEvent(at time.Time, msg string) flows.Event {
	return flows.Event{Type: flows.EventStoreAlarm, Actor: flows.SystemActor, At: at, Message: msg}
}

func size(n int64) string {
	if n <= 0 {
		return "an unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func (o *etcdOps) remember(st etcdstore.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen, o.seenAt, o.seenOK = st, time.Now(), true
}

// status is the cluster's status for /metrics: read at most every
// statusTTL, within statusTimeout; false when etcd did not answer.
func (o *etcdOps) status() (etcdstore.Status, bool) {
	o.mu.Lock()
	if o.seenOK && time.Since(o.seenAt) < statusTTL {
		defer o.mu.Unlock()
		return o.seen, true
	}
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	st, err := o.st.Status(ctx)
	if err != nil {
		return etcdstore.Status{}, false
	}
	o.remember(st)
	return st, true
}

// counters are the etcd gauges of /metrics, read at scrape time.
func (o *etcdOps) counters() []counter {
	gauge := func(name, help string, pick func(etcdstore.Status) float64) counter {
		return counter{name: name, help: help, gauge: true, read: func() map[string]float64 {
			st, ok := o.status()
			if !ok {
				return nil
			}
			return map[string]float64{"": pick(st)}
		}}
	}
	return []counter{
		gauge("jitbot_etcd_db_size_bytes", "The etcd database's size on disk (the largest among the members that answered): what --quota-backend-bytes limits.",
			func(st etcdstore.Status) float64 { return float64(st.DBSize) }),
		gauge("jitbot_etcd_db_size_in_use_bytes", "The part of the etcd database holding data; the rest is free pages that etcdctl defrag returns.",
			func(st etcdstore.Status) float64 { return float64(st.DBSizeInUse) }),
		gauge("jitbot_etcd_db_quota_bytes", "The etcd members' --quota-backend-bytes (the smallest): at it, etcd raises NOSPACE and takes no more writes.",
			func(st etcdstore.Status) float64 { return float64(st.Quota) }),
		{name: "jitbot_etcd_alarm", help: "1 while etcd has the alarm raised (NOSPACE: out of space, no writes taken), else 0.", labels: []string{"alarm"}, gauge: true,
			read: func() map[string]float64 {
				st, ok := o.status()
				if !ok {
					return nil
				}
				out := map[string]float64{"NOSPACE": 0}
				if st.Raised("NOSPACE") {
					out["NOSPACE"] = 1
				}
				if st.Raised("CORRUPT") {
					out["CORRUPT"] = 1
				}
				return out
			}},
	}
}

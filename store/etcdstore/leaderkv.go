package etcdstore

import (
	"context"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The store's reads and writes go to etcd's leader. Through a follower, a
// write is forwarded to the leader and answered once the follower has
// applied it too, and a linearizable read asks the leader first: a hop
// more for everything jitbot does, and the follower's apply on the path
// people wait on. A Kubernetes Service in front of the members hands each
// connection to any of them. Measured on the 2-core bench with nothing
// but the acknowledgements' receives (10 s at 200/s): p99 26.4 ms through
// the members in turn, 10.7 ms to the leader. (Under the whole load, on
// 2 cores that the three members share with everything else, the
// difference is within the spread from run to run.)
//
// So Open gives the client's KV a connection of its own (leaderKV.lead),
// aimed at the leader's client URL as the member advertises it. It looks
// where the leader is every leaderRecheck, and at once when the store
// pauses after a failure (a change of leader shows as one); it aims at a
// member only once a Status call there, from this process, says it leads,
// and at the configured endpoints (etcd forwarding as before) only after
// leaderMisses looks in a row found no leader. Status needs etcd's root
// role when etcd's authentication is on: without it, the store stays on
// the configured endpoints. Watches, leases and maintenance stay there
// too: re-aiming cuts only unary calls short, which the store retries.
type leaderKV struct {
	base    *clientv3.Client // the configured endpoints
	lead    *clientv3.Client // its KV is the store's
	all     []string
	poke    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once

	mu sync.Mutex
	at []string // where lead is aimed
	// missed counts the looks in a row that found no leader: lead leaves
	// the member it is aimed at for every endpoint only after
	// leaderMisses of them (a member too busy to answer one call in time
	// still leads), and for another member as soon as that one leads.
	missed int
}

// leaderMisses is how many looks in a row must find no leader before lead
// is aimed at every configured endpoint.
const leaderMisses = 3

// leaderRecheck is how often the leader's whereabouts are checked.
const leaderRecheck = time.Second

// followLeader makes base's KV go to the leader through lead, a second
// client of the same configuration, until close.
func followLeader(base, lead *clientv3.Client, endpoints []string) *leaderKV {
	l := &leaderKV{base: base, lead: lead, all: slices.Clone(endpoints), at: slices.Clone(endpoints),
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	base.KV = lead.KV
	l.aim()
	go l.run()
	return l
}

func (l *leaderKV) run() {
	defer close(l.done)
	tick := time.NewTicker(leaderRecheck)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		case <-l.poke:
		}
		l.aim()
	}
}

// nudge asks for a look at once (without waiting for it).
func (l *leaderKV) nudge() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// aim points lead at the leader, or at every configured endpoint when
// the leader cannot be found or reached from here. Each call has a time of
// its own, and the members are asked at once: a member that is down
// answers nothing (the client waits for a connection until the call's
// time is up), and must not hold up the others' answers.
func (l *leaderKV) aim() {
	l.mu.Lock()
	at := slices.Clone(l.at)
	l.mu.Unlock()
	// Most of the time the leader is where lead is aimed: one call. Not
	// when lead is on the configured endpoints: one may be a Service in
	// front of every member, which each call reaches anew.
	if !slices.Equal(at, l.all) && len(at) == 1 && l.leads(at[0]) {
		l.mu.Lock()
		l.missed = 0
		l.mu.Unlock()
		return
	}
	leaders := make(chan uint64, len(l.all))
	for _, ep := range l.all {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), leaderCall)
			defer cancel()
			var leader uint64
			if st, err := l.base.Status(ctx, ep); err == nil {
				leader = st.Leader
			}
			leaders <- leader
		}()
	}
	var leader uint64
	for range l.all {
		if id := <-leaders; id != 0 && leader == 0 {
			leader = id
		}
	}
	var urls []string
	if leader != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), leaderCall)
		ml, err := l.base.MemberList(ctx)
		cancel()
		if err == nil {
			for _, m := range ml.Members {
				if m.ID == leader && len(m.ClientURLs) > 0 && l.leads(m.ClientURLs[0]) {
					urls = m.ClientURLs[:1]
				}
			}
		}
	}
	l.mu.Lock()
	if urls == nil {
		if l.missed++; l.missed < leaderMisses {
			l.mu.Unlock()
			return
		}
		urls = l.all
	}
	l.missed = 0
	l.mu.Unlock()
	l.point(urls)
}

// leaderCall bounds each call aim makes.
const leaderCall = 500 * time.Millisecond

// leads says whether the member at url answers, from here, that it is
// the leader.
func (l *leaderKV) leads(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), leaderCall)
	defer cancel()
	st, err := l.base.Status(ctx, url)
	return err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId
}

func (l *leaderKV) point(urls []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Equal(urls, l.at) {
		return
	}
	l.at = slices.Clone(urls)
	l.lead.SetEndpoints(urls...)
}

// aimedAt is where the store's KV calls go.
func (l *leaderKV) aimedAt() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.at)
}

// close stops the looks and closes lead; again, it does nothing (a
// store may be closed twice).
func (l *leaderKV) close() error {
	var err error
	l.closing.Do(func() {
		close(l.stop)
		<-l.done
		err = l.lead.Close()
	})
	return err
}

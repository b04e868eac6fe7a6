package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// Of the replicas, the one that led as the store went out tells the
// admins, once, after outageTellAfter, and records the outage once the
// store is back; one that did not lead says nothing, nor does anyone of a
// blip.
func TestOutageNotice(t *testing.T) {
	ctx := context.Background()
	type replica struct {
		o        *offline
		said     []string // sent straight away
		recorded recordedEvents
	}
	newReplica := func(clock flows.Clock, leads bool) *replica {
		r := &replica{}
		r.o = &offline{clock: clock, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			leads: func() bool { return leads }, audit: &r.recorded,
			tellNow: func(_ context.Context, ev flows.Event) (int, error) {
				r.said = append(r.said, ev.Message)
				return 1, nil
			}}
		return r
	}
	up, down := flows.OfflineReport{}, flows.OfflineReport{StoreDown: true}
	clock := flowstest.NewClock(flowstest.T0)
	leader, other := newReplica(clock, true), newReplica(clock, false)
	tick := func(rep flows.OfflineReport) {
		for _, r := range []*replica{leader, other} {
			r.o.noticeOutage(ctx, rep)
			r.o.bg.Wait()
		}
	}

	// A blip: out for 10 s, back.
	tick(up)
	clock.Advance(SweepInterval)
	tick(down)
	clock.Advance(10 * time.Second)
	tick(down)
	clock.Advance(SweepInterval)
	tick(up)
	if len(leader.said)+len(other.said)+len(leader.recorded.msgs)+len(other.recorded.msgs) != 0 {
		t.Fatalf("a blip told: %q %q %q %q", leader.said, other.said, leader.recorded.msgs, other.recorded.msgs)
	}

	// An outage: the leader tells once, 30 s in, with what was deleted.
	clock.Advance(SweepInterval)
	tick(down)
	for range 10 {
		clock.Advance(10 * time.Second)
		tick(flows.OfflineReport{StoreDown: true, Deleted: 1})
	}
	if len(leader.said) != 1 || !strings.Contains(leader.said[0], "cannot reach its store") || !strings.Contains(leader.said[0], "(3 so far)") {
		t.Fatalf("the leader told %q, want one notice, 3 grants deleted by then", leader.said)
	}
	// Back: the outage is recorded (the outbox tells the admins), once,
	// and a record refused is made at the next round.
	clock.Advance(SweepInterval)
	leader.recorded.fail = errors.New("etcdserver: request timed out")
	tick(up)
	if len(leader.recorded.msgs) != 0 {
		t.Fatalf("recorded while the store refused: %q", leader.recorded.msgs)
	}
	leader.recorded.fail = nil
	clock.Advance(SweepInterval)
	tick(up)
	clock.Advance(SweepInterval)
	tick(up)
	if len(leader.recorded.msgs) != 1 || !strings.Contains(leader.recorded.msgs[0], "could not reach its store (etcd) from") || !strings.Contains(leader.recorded.msgs[0], "the 10 grant(s)") {
		t.Fatalf("the leader recorded %q, want the outage with 10 grants, once", leader.recorded.msgs)
	}
	if len(leader.said) != 1 {
		t.Fatalf("the leader told %q straight away, want only the outage's notice", leader.said)
	}
	if len(other.said)+len(other.recorded.msgs) != 0 {
		t.Fatalf("a replica that did not lead told %q and recorded %q", other.said, other.recorded.msgs)
	}

	// A leader whose term ended as the outage began (its lease could not be
	// renewed) still tells; one that stopped leading a minute before does
	// not.
	for _, c := range []struct {
		name    string
		stopped time.Duration // from its last tick as leader to the outage
		tells   bool
	}{{"its term ended with the outage", SweepInterval, true}, {"it stopped leading a minute before", time.Minute, false}} {
		r := newReplica(clock, true)
		r.o.noticeOutage(ctx, up)
		r.o.leads = func() bool { return false }
		for at := time.Duration(0); at < c.stopped; at += SweepInterval {
			clock.Advance(SweepInterval)
			r.o.noticeOutage(ctx, up)
		}
		for range 5 {
			r.o.noticeOutage(ctx, down)
			r.o.bg.Wait()
			clock.Advance(10 * time.Second)
		}
		if told := len(r.said) == 1; told != c.tells {
			t.Fatalf("%s: told %q, want told %v", c.name, r.said, c.tells)
		}
	}
}

// recordedEvents is an event log that keeps the messages appended, or
// refuses them with fail.
type recordedEvents struct {
	msgs []string
	fail error
}

func (r *recordedEvents) AppendEvents(_ context.Context, evs ...flows.Event) error {
	if r.fail != nil {
		return r.fail
	}
	for _, ev := range evs {
		r.msgs = append(r.msgs, ev.Message)
	}
	return nil
}

// The leader looks the admins up while the store is up, at once in its
// term and then every outageReachEvery, in the background, so that a
// platform that finds them from the store can tell them when it is out;
// a replica that does not lead looks nobody up.
func TestLeaderKeepsAdminsReachable(t *testing.T) {
	ctx := context.Background()
	clock := flowstest.NewClock(flowstest.T0)
	newReplica := func(leads *bool, lookups *int) *offline {
		return &offline{clock: clock, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			leads: func() bool { return *leads }, audit: &recordedEvents{},
			tellNow: func(context.Context, flows.Event) (int, error) { return 1, nil },
			reach: func(context.Context) (int, error) {
				*lookups++
				return 1, errors.New("users.lookupByEmail: ratelimited")
			}}
	}
	leads, follows := true, false
	var ledLookups, otherLookups int
	leader, other := newReplica(&leads, &ledLookups), newReplica(&follows, &otherLookups)
	tick := func(rep flows.OfflineReport) {
		for _, o := range []*offline{leader, other} {
			o.noticeOutage(ctx, rep)
			o.bg.Wait()
		}
	}
	up := flows.OfflineReport{}
	tick(up)
	if ledLookups != 1 || otherLookups != 0 {
		t.Fatalf("first round: the leader looked up %d times, the other %d; want 1 and 0", ledLookups, otherLookups)
	}
	// A failed look-up waits its hour like any other: no platform is asked
	// every round.
	for range int(outageReachEvery/SweepInterval) - 1 {
		clock.Advance(SweepInterval)
		tick(up)
	}
	if ledLookups != 1 {
		t.Fatalf("within the hour: %d look-ups, want 1", ledLookups)
	}
	clock.Advance(SweepInterval)
	tick(up)
	// While the store is out nobody is looked up (the store is what Teams
	// reads); once it is back the hour is counted from the last look-up.
	clock.Advance(SweepInterval)
	tick(flows.OfflineReport{StoreDown: true})
	clock.Advance(outageReachEvery)
	tick(flows.OfflineReport{StoreDown: true})
	if ledLookups != 2 || otherLookups != 0 {
		t.Fatalf("after an hour and while out: the leader looked up %d times, the other %d; want 2 and 0", ledLookups, otherLookups)
	}
	clock.Advance(SweepInterval)
	tick(up)
	if ledLookups != 3 || otherLookups != 0 {
		t.Fatalf("back after more than an hour: %d look-ups, want 3 (the other %d)", ledLookups, otherLookups)
	}
}

// The notice is sent beside the rounds: a round returns while the chat
// platform is still answering (the schedule skips rounds while one runs,
// and the revocation must not wait on chat); a round meanwhile sends no
// second notice; the store back before the platform answered still has the
// outage recorded.
func TestOutageNoticeDoesNotHoldTheRounds(t *testing.T) {
	ctx := context.Background()
	clock := flowstest.NewClock(flowstest.T0)
	release, started := make(chan struct{}), make(chan struct{}, 10)
	recorded := &recordedEvents{}
	o := &offline{clock: clock, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		leads: func() bool { return true }, audit: recorded,
		tellNow: func(context.Context, flows.Event) (int, error) {
			started <- struct{}{}
			<-release
			return 1, nil
		}}
	down := flows.OfflineReport{StoreDown: true}
	o.noticeOutage(ctx, flows.OfflineReport{})
	for range 8 { // 40 s out: the notice starts at 30 s
		clock.Advance(SweepInterval)
		returned := make(chan struct{})
		go func() { o.noticeOutage(ctx, down); close(returned) }()
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Fatal("a round waited for the chat platform")
		}
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no notice under way")
	}
	// The store is back while the platform is still answering.
	clock.Advance(SweepInterval)
	o.noticeOutage(ctx, flows.OfflineReport{})
	close(release)
	o.bg.Wait()
	if n := len(started); n != 0 {
		t.Fatalf("%d more notices, want none: one was under way", n)
	}
	if len(recorded.msgs) != 1 || !strings.Contains(recorded.msgs[0], "could not reach its store") {
		t.Fatalf("the outage's record: %q", recorded.msgs)
	}
	// The late answer belongs to an outage that is over: the next one is
	// told afresh.
	if o.outage.told || o.outage.telling {
		t.Fatalf("after the outage: %+v", o.outage)
	}
}

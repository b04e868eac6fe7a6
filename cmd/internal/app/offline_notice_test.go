package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// Of the replicas, the one that led as the store went out tells the
// admins, once, after outageTellAfter, and then that it is back; one that
// did not lead says nothing, nor does anyone of a blip.
func TestOutageNotice(t *testing.T) {
	ctx := context.Background()
	type replica struct {
		o    *offline
		said []string
	}
	newReplica := func(clock flows.Clock, leads bool) *replica {
		r := &replica{}
		r.o = &offline{clock: clock, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			leads: func() bool { return leads },
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
		leader.o.noticeOutage(ctx, rep)
		other.o.noticeOutage(ctx, rep)
	}

	// A blip: out for 10 s, back.
	tick(up)
	clock.Advance(SweepInterval)
	tick(down)
	clock.Advance(10 * time.Second)
	tick(down)
	clock.Advance(SweepInterval)
	tick(up)
	if len(leader.said)+len(other.said) != 0 {
		t.Fatalf("a blip told: %q %q", leader.said, other.said)
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
	clock.Advance(SweepInterval)
	tick(up)
	if len(leader.said) != 2 || !strings.Contains(leader.said[1], "reaches its store again") || !strings.Contains(leader.said[1], "the 10 grant(s)") {
		t.Fatalf("the leader told %q, want the return with 10 grants", leader.said)
	}
	if len(other.said) != 0 {
		t.Fatalf("a replica that did not lead told %q", other.said)
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
			clock.Advance(10 * time.Second)
		}
		if told := len(r.said) == 1; told != c.tells {
			t.Fatalf("%s: told %q, want told %v", c.name, r.said, c.tells)
		}
	}
}

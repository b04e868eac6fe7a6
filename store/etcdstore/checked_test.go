package etcdstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// Two replicas create a request for one person at once, each checking
// that the person has none under way (a cap of one). Each check reads
// before either writes (they wait for each other): the store must admit
// one and, checking again on what the other wrote, refuse the other.
// Without the condition on the person's live index both would commit.
func TestCheckedCreatesOfOnePersonInTwoReplicas(t *testing.T) {
	_, a, b := twoProcesses(t)
	ctx := t.Context()
	arrived := []chan struct{}{make(chan struct{}), make(chan struct{})}
	var calls [2]int
	capOfOne := func(me int) func([]*flows.Request) error {
		return func(live []*flows.Request) error {
			calls[me]++
			if calls[me] == 1 {
				// Both read the person's requests before either commits.
				close(arrived[me])
				select {
				case <-arrived[1-me]:
				case <-time.After(10 * time.Second):
					t.Errorf("replica %d: the other replica's check never ran", me)
				}
			}
			if len(live) >= 1 {
				return flows.Errorf(flows.EFORBIDDEN, "you have %d requests under way", len(live))
			}
			return nil
		}
	}
	type outcome struct {
		created bool
		err     error
	}
	var out [2]outcome
	var wg sync.WaitGroup
	for i, s := range []*etcdstore.Store{a, b} {
		wg.Go(func() {
			r := flowstest.NewRequest(flows.RequestID("race"+string(rune('a'+i))), "alice@example.com", flowstest.T0)
			_, out[i].created, out[i].err = s.CreateChecked(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, "", capOfOne(i))
		})
	}
	wg.Wait()
	created := 0
	for i, o := range out {
		switch {
		case o.created && o.err == nil:
			created++
		case flows.ErrorCode(o.err) != flows.EFORBIDDEN:
			t.Errorf("replica %d: want created or refused by the check, got %v", i, o.err)
		}
	}
	live, err := a.Find(ctx, flows.Query{Requester: "alice@example.com", States: flows.LiveStates()})
	if err != nil {
		t.Fatal(err)
	}
	if created != 1 || len(live) != 1 {
		t.Fatalf("a cap of one across two replicas: %d created, %d live (%v, %v)", created, len(live), out[0].err, out[1].err)
	}
	if calls[0]+calls[1] < 3 {
		t.Fatalf("the refused replica must have checked again on the other's request: checks %v", calls)
	}
}

// Two checked creates of one person in one transaction of one replica's
// combiner: the second must be checked once the first is written, not
// beside it (its condition cannot see a put of the same transaction).
func TestCheckedCreatesOfOnePersonInOneBatch(t *testing.T) {
	_, open := opener(t)
	s := open(t)
	capOfOne := func(live []*flows.Request) error {
		if len(live) >= 1 {
			return flows.Errorf(flows.EFORBIDDEN, "you have %d requests under way", len(live))
		}
		return nil
	}
	rs := []*flows.Request{
		flowstest.NewRequest("batch1", "alice@example.com", flowstest.T0),
		flowstest.NewRequest("batch2", "alice@example.com", flowstest.T0),
		flowstest.NewRequest("batch3", "bob@example.com", flowstest.T0),
	}
	created, errs := s.CreateCheckedTogether(t.Context(), rs, capOfOne)
	if !created[0] || created[1] || flows.ErrorCode(errs[1]) != flows.EFORBIDDEN || !created[2] {
		t.Fatalf("alice twice and bob once, a cap of one each: created %v, errors %v", created, errs)
	}
}

// The live requests of more requesters than a transaction holds are read
// a transaction's worth at a time, each requester's whole.
func TestLiveRequestsOfManyRequesters(t *testing.T) {
	cli, open := opener(t)
	s := open(t)
	small, err := etcdstore.New(t.Context(), cli, etcdstore.Options{Prefix: s.Prefix(), MaxTxnOps: 2})
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	want := map[string][]flows.RequestID{}
	for i := range 5 {
		person := fmt.Sprintf("p%d@example.com", i)
		who = append(who, person)
		for n := range i % 3 {
			r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("live%d%d", i, n)), person, flowstest.T0.Add(time.Duration(n)*time.Minute))
			if _, _, err := s.Create(t.Context(), r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: person, At: r.CreatedAt}, ""); err != nil {
				t.Fatal(err)
			}
			want[person] = append([]flows.RequestID{r.ID}, want[person]...) // newest first
		}
	}
	got, err := small.LiveOf(t.Context(), who)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("live requests (-want +got):\n%s", diff)
	}
}

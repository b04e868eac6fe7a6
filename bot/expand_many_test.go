package bot

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// manyStore reads many requests at once, and counts how it is read.
type manyStore struct {
	*flowstest.Store
	many, one int
	fail      error
}

func (s *manyStore) GetMany(ctx context.Context, ids []flows.RequestID) ([]*flows.Request, error) {
	s.many++
	if s.fail != nil {
		return nil, s.fail
	}
	out := make([]*flows.Request, len(ids))
	for i, id := range ids {
		if r, err := s.Store.Get(ctx, id); err == nil {
			out[i] = r
		}
	}
	return out, nil
}

func (s *manyStore) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	s.one++
	return s.Store.Get(ctx, id)
}

// An expansion reads its audit records' requests in one GetMany when the
// store has it (etcd: a round trip per record before), one at a time when
// that fails; a record naming a request not stored is told as about none.
func TestExpandReadsTheRecordsRequestsTogether(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			ctx := context.Background()
			st := &manyStore{Store: flowstest.NewStore()}
			clock := flowstest.NewClock(flowstest.T0)
			var told []flows.RequestID
			d, err := NewDispatcher(DispatcherConfig{Workers: 1}, DispatcherDeps{
				Store: st, Platforms: func() []Platform { return nil },
				Audience: func(ev flows.Event, r *flows.Request) []string {
					if r != nil {
						told = append(told, r.ID)
					} else {
						told = append(told, "none")
					}
					return nil
				},
				Secrets: NewSecrets(clock, time.Hour, 10), Clock: clock, Wall: clock,
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				r := flowstest.NewRequest(flows.RequestID(fmt.Sprintf("r%d", i)), "alice@example.com", flowstest.T0)
				if _, _, err := st.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, RequestID: "gone", Actor: flows.SystemActor, At: flowstest.T0}); err != nil {
				t.Fatal(err)
			}
			if failing {
				st.fail = errors.New("etcd is slow")
			}
			if n, err := d.Expand(ctx); err != nil || n != 4 {
				t.Fatalf("expand: %d records, %v", n, err)
			}
			if want := []flows.RequestID{"r0", "r1", "r2", "none"}; fmt.Sprint(told) != fmt.Sprint(want) {
				t.Fatalf("told about %v, want %v", told, want)
			}
			if wantOne := map[bool]int{false: 0, true: 4}[failing]; st.many != 1 || st.one != wantOne {
				t.Fatalf("read with %d GetMany and %d Get, want 1 and %d", st.many, st.one, wantOne)
			}
		})
	}
}

package flows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// recordingLocks are the store's locks as a test sees them: the keys
// taken, those held now, and a failure to give instead.
type recordingLocks struct {
	mu     sync.Mutex
	taken  []string
	held   map[string]bool
	refuse error
}

func (l *recordingLocks) Lock(_ context.Context, key string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse != nil {
		return nil, l.refuse
	}
	if l.held[key] {
		panic("a held key locked again") // one test goroutine: it would wait forever
	}
	l.held[key] = true
	l.taken = append(l.taken, key)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.held, key)
	}, nil
}

func (l *recordingLocks) holding() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(func(yield func(string) bool) {
		for k := range l.held {
			if !yield(k) {
				return
			}
		}
	})
}

// TestSharedTargetsAreLockedThroughTheStore: the Atlas calls on a target
// several grants share run under the store's lock (with replicas, another
// replica may make or end a grant of the same address meanwhile), and a
// lock that cannot be had leaves nothing made.
func TestSharedTargetsAreLockedThroughTheStore(t *testing.T) {
	lab := flows.FlowSpec{Name: "lab-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"group:eng"},
		AllowedCIDRs: []string{"192.0.2.0/24"}, Roles: []string{"connect"}, AutoApprove: true, MaxDuration: "8h"}
	locks := &recordingLocks{held: map[string]bool{}}
	f := newNetworkFixtureLocking(t, locks, networkFlow(), lab)
	during := map[string][]string{} // by op: the keys held during the call
	f.prov.OnCall = func(op string, g flows.Grant) {
		during[op] = locks.holding()
	}

	r, err := f.submitAddress("alice@example.com", "prod/192.0.2.10")
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("an auto-approved lab address: %+v %v", r, err)
	}
	if held := during["create"]; len(held) != 1 || !strings.Contains(held[0], "192.0.2.10/32") {
		t.Fatalf("keys held while the entry was made: %q", held)
	}
	if _, err := f.svc.Revoke(f.ctx, r.ID, "alice@example.com", "done"); err != nil {
		t.Fatal(err)
	}
	if held := during["delete"]; len(held) != 1 || !strings.Contains(held[0], "192.0.2.10/32") {
		t.Fatalf("keys held while the entry was removed: %q", held)
	}
	if held := locks.holding(); len(held) != 0 {
		t.Fatalf("keys still held after the calls: %q", held)
	}

	// A grant whose target is its own takes no lock.
	taken := len(locks.taken)
	f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if len(locks.taken) != taken {
		t.Errorf("a database user's grant took a lock: %q", locks.taken[taken:])
	}

	locks.mu.Lock()
	locks.refuse = errors.New("etcd: no leader")
	locks.mu.Unlock()
	creates := f.prov.Count("create")
	r, err = f.submitAddress("alice@example.com", "prod/192.0.2.11")
	if err != nil {
		t.Fatal(err)
	}
	if r.State == flows.StateActive || f.prov.Count("create") != creates {
		t.Fatalf("made without the lock: %s, %d creates (was %d)", r.State, f.prov.Count("create"), creates)
	}
	var said bool
	for _, ev := range f.store.Events() {
		said = said || ev.RequestID == r.ID && strings.Contains(ev.Message, "could not lock")
	}
	if !said {
		t.Errorf("no event says the lock could not be had: %v", f.eventTypes(r.ID))
	}
}

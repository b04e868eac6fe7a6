package flows

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Grants that share what they create (KindSpec.SharedTarget: one access-list
// entry for every grant of one address). Which grants hold a target is not
// stored apart: it is the live requests of the same kind and target, read
// from the store when the provisioner is about to act, and the provisioner
// is told of them (Grant.Holders). Reading them and acting happen under one
// lock per target, so that no grant of the target is created or removed in
// between: one ending while another is being made either sees it (and keeps
// the target) or runs first (and the other makes the target anew). The lock
// is the store's (Deps.Locks) where several processes share it: with
// replicas on etcd, a grant may be made on one while the leader's sweep
// ends another of the same address.

// targetLocks are mutexes by key, made on first use, for one process; the
// zero value is ready.
type targetLocks struct{ m sync.Map }

func (l *targetLocks) lock(key string) (unlock func()) {
	v, _ := l.m.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Lock implements Locks in one process: it waits however long it takes.
func (l *targetLocks) Lock(_ context.Context, key string) (func(), error) {
	return l.lock(key), nil
}

// holdingStates are the states of a request that holds a shared target for
// the others: its grant is being made or is in use. One being removed does
// not: two ending together must not each keep the target for the other.
func holdingStates() []State { return []State{StateApproved, StateProvisioning, StateActive} }

// sharesTarget reports whether grants of kind k share their targets.
func (s *Service) sharesTarget(k Kind) bool {
	spec, ok := s.Policy().Kind(k.orDefault())
	return ok && spec.SharedTarget
}

// onTarget runs fn (a provisioner call) on g: for a kind whose grants share
// their target, with g.Holders set, under the target's lock.
func (s *Service) onTarget(ctx context.Context, g Grant, fn func(g Grant) error) error {
	if !s.sharesTarget(g.Kind) && !holdsAddress(g.Kind, g.Resource) {
		return fn(g)
	}
	unlock, err := s.targets.Lock(ctx, targetKey(g))
	if err != nil {
		return WrapError(EUNAVAILABLE, err, "could not lock %s against the other replicas", g.Resource)
	}
	defer unlock()
	holders, err := s.holders(ctx, g)
	if err != nil {
		return WrapError(EUNAVAILABLE, err, "could not read which grants hold %s", g.Resource)
	}
	g.Holders = holders
	return fn(g)
}

// targetKey names the target of a grant whose target may be shared, for
// its lock.
func targetKey(g Grant) string {
	if holdsAddress(g.Kind, g.Resource) {
		return fmt.Sprintf("address\x00%s\x00%s", g.Integration, g.Resource.Address)
	}
	return fmt.Sprintf("%s\x00%s\x00%s", g.Kind, g.Integration, g.Resource)
}

// holders returns the grants of the other live requests of g's target.
func (s *Service) holders(ctx context.Context, g Grant) ([]Grant, error) {
	live, err := s.store.Find(ctx, Query{States: holdingStates()})
	if err != nil {
		return nil, err
	}
	return s.holdersIn(live, g), nil
}

// holdersIn returns the grants of g's target among the live requests.
func (s *Service) holdersIn(live []*Request, g Grant) []Grant {
	var out []Grant
	for _, r := range live {
		same := r.Kind.orDefault() == g.Kind && r.Resource.Same(g.Resource)
		if holdsAddress(g.Kind, g.Resource) {
			// One entry of the project's access list, whichever kind asked.
			same = holdsAddress(r.Kind, r.Resource) && r.Resource.Integration == g.Integration && r.Resource.Address == g.Resource.Address
		}
		if r.ID != g.RequestID && same {
			out = append(out, s.grant(r))
		}
	}
	return out
}

// holdsAddress reports whether a grant keeps an address on its project's
// access list: network access, or a database user asked for from an
// address (a combined grant: both approved together, ending together).
// Grants of one address share its entry, whichever kind they are.
func holdsAddress(k Kind, t Resource) bool {
	k = k.orDefault()
	return t.Address != "" && (k == KindAccessListEntry || k == KindDatabaseUser)
}

// heldPrincipals are the principals of kind k in integration that requests
// holding access have, for reconcile: a shared target any of them holds is
// explained, whichever request made it.
func (s *Service) heldPrincipals(ctx context.Context, k Kind, integration string) (map[string]bool, error) {
	var states []State
	for _, st := range States() {
		if st.HoldsAccess() {
			states = append(states, st)
		}
	}
	live, err := s.store.Find(ctx, Query{States: states})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range live {
		if r.Kind.orDefault() == k && r.Resource.Integration == integration && r.Principal != "" {
			out[r.Principal] = true
		}
		if k == KindAccessListEntry && holdsAddress(r.Kind, r.Resource) && r.Resource.Integration == integration {
			out[r.Resource.Address] = true // a combined grant's entry
		}
	}
	return out, nil
}

// holdersNote says, for the audit record of a grant's end, that other live
// grants still hold its target ("" when none does).
func holdersNote(g Grant) string {
	if len(g.Holders) == 0 {
		return ""
	}
	ids := make([]string, len(g.Holders))
	for i, h := range g.Holders {
		ids[i] = string(h.RequestID)
	}
	return fmt.Sprintf("%s stays for the other live grants that hold it: %s", g.Principal, strings.Join(ids, ", "))
}

// withNote adds a note to an event's message.
func withNote(ev Event, note string) Event {
	switch {
	case note == "":
	case ev.Message == "":
		ev.Message = note
	default:
		ev.Message += "; " + note
	}
	return ev
}

package flowstest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Store is an in-memory backend of every storage port with the same
// semantics as the bbolt one (both pass the suites in suite.go and
// ports_suite.go). It also keeps the events it was given.
type Store struct {
	mu       sync.Mutex
	reqs     map[flows.RequestID]*flows.Request
	idem     map[string]flows.RequestID
	audit    []flows.AuditRecord
	refs     map[flows.RequestID][]flows.MessageRef
	contacts map[string][]byte
	fx       sideEffects             // the inbox and the outbox (ports_outbox_memory.go)
	signIns  map[string]signInRecord // bot/identity's records (ports_signin_memory.go)
}

var (
	_ flows.Store     = (*Store)(nil)
	_ flows.AuditLog  = (*Store)(nil)
	_ flows.ChatState = (*Store)(nil)
)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		reqs: map[flows.RequestID]*flows.Request{}, idem: map[string]flows.RequestID{},
		refs: map[flows.RequestID][]flows.MessageRef{}, contacts: map[string][]byte{},
	}
}

// Create implements flows.Store.
func (s *Store) Create(ctx context.Context, r *flows.Request, ev flows.Event, key string) (*flows.Request, bool, error) {
	return s.CreateChecked(ctx, r, ev, key, nil)
}

// CreateChecked implements flows.Store.
func (s *Store) CreateChecked(_ context.Context, r *flows.Request, ev flows.Event, key string, check func(live []*flows.Request) error) (*flows.Request, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if id, ok := s.idem[key]; ok {
			return s.reqs[id].Clone(), false, nil
		}
	}
	if _, ok := s.reqs[r.ID]; ok {
		return nil, false, flows.Errorf(flows.ECONFLICT, "request %s exists", r.ID)
	}
	if check != nil {
		if err := check(s.live(r.Requester)); err != nil {
			return nil, false, err
		}
	}
	s.reqs[r.ID] = r.Clone()
	if key != "" {
		s.idem[key] = r.ID
	}
	s.appendAudit(ev)
	return r.Clone(), true, nil
}

// live is what Find answers for the requester's live requests.
func (s *Store) live(requester string) []*flows.Request {
	var out []*flows.Request
	for _, r := range s.reqs {
		if r.Requester == requester && !r.State.Terminal() {
			out = append(out, r.Clone())
		}
	}
	newestFirst(out)
	return out
}

// Update implements flows.Store.
func (s *Store) Update(_ context.Context, id flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(id, fn)
}

// UpdateMany implements flows.Store.
func (s *Store) UpdateMany(ctx context.Context, ids []flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) ([]*flows.Request, []error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, errs := make([]*flows.Request, len(ids)), make([]error, len(ids))
	for i, id := range ids {
		out[i], errs[i] = s.update(id, fn)
	}
	return out, errs, nil
}

func (s *Store) update(id flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	cur, ok := s.reqs[id]
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "there is no request %s", id)
	}
	next := cur.Clone()
	evs, err := fn(next)
	if err != nil {
		return nil, err
	}
	s.reqs[id] = next
	s.appendAudit(evs...)
	return next.Clone(), nil
}

// Get implements flows.Store.
func (s *Store) Get(_ context.Context, id flows.RequestID) (*flows.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "there is no request %s", id)
	}
	return r.Clone(), nil
}

// Find implements flows.Store.
func (s *Store) Find(_ context.Context, q flows.Query) ([]*flows.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*flows.Request
	for _, r := range s.reqs {
		if q.Requester != "" && r.Requester != q.Requester {
			continue
		}
		if q.Approver != "" && !(slices.Contains(r.Approvers, q.Approver) && (r.State == flows.StatePending || r.State == flows.StateActive && r.Extension != nil)) {
			continue
		}
		if q.IdempotencyKey != "" && s.idem[q.IdempotencyKey] != r.ID {
			continue
		}
		if len(q.States) > 0 && !slices.Contains(q.States, r.State) {
			continue
		}
		out = append(out, r.Clone())
	}
	newestFirst(out)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func newestFirst(rs []*flows.Request) {
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].CreatedAt.Equal(rs[j].CreatedAt) {
			return rs[i].CreatedAt.After(rs[j].CreatedAt)
		}
		return rs[i].ID > rs[j].ID
	})
}

// Due implements flows.Store.
func (s *Store) Due(_ context.Context, t time.Time, limit int) ([]flows.RequestID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		at time.Time
		id flows.RequestID
	}
	var items []item
	for _, r := range s.reqs {
		if due := r.DueAt(); !due.IsZero() && !due.After(t) {
			items = append(items, item{due, r.ID})
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if !items[i].at.Equal(items[j].at) {
			return items[i].at.Before(items[j].at)
		}
		return items[i].id < items[j].id
	})
	var ids []flows.RequestID
	for _, it := range items {
		if limit > 0 && len(ids) == limit {
			break
		}
		ids = append(ids, it.id)
	}
	return ids, nil
}

// Expiring implements flows.Store.
func (s *Store) Expiring(_ context.Context, t time.Time, limit int) ([]*flows.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*flows.Request
	for _, r := range s.reqs {
		if r.State == flows.StateActive && !r.ExpiresAt.After(t) {
			out = append(out, r.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ExpiresAt.Equal(out[j].ExpiresAt) {
			return out[i].ExpiresAt.Before(out[j].ExpiresAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AppendEvents implements flows.Store.
func (s *Store) AppendEvents(_ context.Context, evs ...flows.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendAudit(evs...)
	return nil
}

// Events returns every event recorded so far.
func (s *Store) Events() []flows.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]flows.Event, len(s.audit))
	for i, rec := range s.audit {
		out[i] = rec.Event
	}
	return out
}

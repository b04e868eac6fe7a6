package etcdstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

func (s *Store) reqKey(id flows.RequestID) string { return s.p + "req/" + string(id) }
func (s *Store) idemKey(key string) string        { return s.p + "idem/" + key }
func (s *Store) idx(name string) string           { return s.p + "idx/" + name + "/" }

// indexKeys lists the index keys of r: the entries record.Entries
// decides (the bbolt store's indexes), spelled as keys.
func (s *Store) indexKeys(r *flows.Request) []string {
	var keys []string
	for _, e := range record.Entries(r) {
		k := s.idx(string(e.Index))
		if e.Index.Grouped() {
			k += e.Group + "\x00"
		}
		if e.Index.Timed() {
			k += at(e.At)
		}
		keys = append(keys, k+string(r.ID))
	}
	return keys
}

// putRequest adds r and the index changes from old (nil for a new
// request) to c: only the keys that change, so that a transition costs
// the operations it needs. The approver index's changes, as many as the
// request has approvers, are returned for placeApprovers instead.
func (s *Store) putRequest(c *change, old, r *flows.Request) (work indexWork, err error) {
	raw, err := record.EncodeRequest(r)
	if err != nil {
		return work, err
	}
	c.put(s.reqKey(r.ID), string(raw))
	var before []string
	if old != nil {
		before = s.indexKeys(old)
	}
	after := s.indexKeys(r)
	approver := s.idx("approver")
	for _, k := range before {
		switch {
		case slices.Contains(after, k):
		case strings.HasPrefix(k, approver):
			work.Del = append(work.Del, k)
		default:
			c.del(k)
		}
	}
	for _, k := range after {
		switch {
		case slices.Contains(before, k):
		case strings.HasPrefix(k, approver):
			work.Put = append(work.Put, k)
		default:
			c.put(k, "")
		}
	}
	return work, nil
}

func decodeRequest(kv *mvccpb.KeyValue) (*flows.Request, error) {
	r, err := record.DecodeRequest(kv.Value)
	if err != nil {
		return nil, fmt.Errorf("decode request %s: %w", kv.Key, err)
	}
	return r, nil
}

func notFound(id flows.RequestID) error {
	return refusal{flows.Errorf(flows.ENOTFOUND, "there is no request %s", id)}
}

// Create implements flows.Store: the request, its indexes, its
// idempotency key and its first event in one transaction, on condition
// that neither the id nor the key exists and the audit head is as read
// (through the combiner: combine.go).
func (s *Store) Create(ctx context.Context, r *flows.Request, ev flows.Event, key string) (*flows.Request, bool, error) {
	return s.CreateChecked(ctx, r, ev, key, nil)
}

// Update implements flows.Store: read the request (and the audit head),
// apply fn, write on condition that neither changed meanwhile; else again,
// from a fresh read (fn may run more than once, as the port allows).
// Concurrent changes of this process share transactions (combine.go).
func (s *Store) Update(ctx context.Context, id flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	j := &job{ctx: ctx, kind: jobUpdate, id: id, fn: fn}
	s.submit(j)
	if j.err != nil {
		repanic(j.err)
		return nil, j.err
	}
	return j.out, nil
}

// UpdateMany implements flows.Store. The requests go to the combiner
// together, which writes as many in one transaction as it holds; each
// stands alone, as the port says: a request refused, or kept from being
// written by a failure of the store, is its own error, and err is only for
// a call that wrote nothing at all.
func (s *Store) UpdateMany(ctx context.Context, ids []flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) ([]*flows.Request, []error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out, errs := make([]*flows.Request, len(ids)), make([]error, len(ids))
	jobs := make([]*job, len(ids))
	for i, id := range ids {
		jobs[i] = &job{ctx: ctx, kind: jobUpdate, id: id, fn: fn}
	}
	s.submit(jobs...)
	for _, j := range jobs {
		repanic(j.err)
	}
	wrote, answered := false, false
	var failure error
	for i, j := range jobs {
		out[i], errs[i] = j.out, j.err
		switch {
		case j.err == nil:
			wrote = true
		case j.refused:
			out[i] = nil
			answered = true // the request's own answer
		default:
			out[i] = nil
			if failure == nil {
				failure = j.err
			}
		}
	}
	if !wrote && !answered && failure != nil {
		return nil, nil, failure // nothing written: the whole call failed
	}
	return out, errs, nil
}

// Get implements flows.Store.
func (s *Store) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	var out *flows.Request
	err := s.read(ctx, "get request "+string(id), func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.reqKey(id))
		if err != nil {
			return err
		}
		if kvs[0] == nil {
			return notFound(id)
		}
		out, err = decodeRequest(kvs[0])
		return err
	})
	return out, err
}

// GetMany implements flows.ManyGetter: the requests named, nil for those
// not stored, a transaction of gets per MaxTxnOps of them, not a round
// trip each (a new leader's first sweep reads hundreds).
func (s *Store) GetMany(ctx context.Context, ids []flows.RequestID) ([]*flows.Request, error) {
	out := make([]*flows.Request, len(ids))
	err := s.read(ctx, fmt.Sprintf("get %d requests", len(ids)), func(ctx context.Context) error {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.reqKey(id)
		}
		kvs, err := s.getAll(ctx, 0, keys...)
		if err != nil {
			return err
		}
		for i, kv := range kvs {
			if kv == nil {
				out[i] = nil
				continue
			}
			if out[i], err = decodeRequest(kv); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// findPage is how many index entries one read brings.
const findPage = 100

// Find implements flows.Store. Index and requests are read as of one
// revision, so a request is seen as the index saw it.
func (s *Store) Find(ctx context.Context, q flows.Query) ([]*flows.Request, error) {
	var out []*flows.Request
	err := s.read(ctx, "find requests", func(ctx context.Context) error {
		out = nil
		var err error
		out, err = s.find(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) find(ctx context.Context, q flows.Query) ([]*flows.Request, error) {
	keep := func(r *flows.Request) bool {
		return (len(q.States) == 0 || slices.Contains(q.States, r.State)) &&
			(q.Requester == "" || r.Requester == q.Requester)
	}
	var out []*flows.Request
	full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	var rev int64
	// scan reads the index range [from, end) in pages, newest first when
	// desc, and loads the requests named by the keys (idOf) that keep
	// accepts, until the query is full (when stopWhenFull).
	scan := func(from, end string, desc, stopWhenFull bool, idOf func(k string) flows.RequestID) error {
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(findPage), clientv3.WithKeysOnly()}
			if desc {
				opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
			}
			if rev > 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			resp, err := s.cli.Get(ctx, from, opts...)
			if err != nil {
				return err
			}
			if rev == 0 {
				rev = resp.Header.Revision
			}
			keys := make([]string, len(resp.Kvs))
			for i, kv := range resp.Kvs {
				keys[i] = s.reqKey(idOf(string(kv.Key)))
			}
			reqs, err := s.getAll(ctx, rev, keys...)
			if err != nil {
				return err
			}
			for i, kv := range reqs {
				if kv == nil {
					return fmt.Errorf("the index entry %q names a request that is not stored", resp.Kvs[i].Key)
				}
				r, err := decodeRequest(kv)
				if err != nil {
					return err
				}
				if keep(r) {
					out = append(out, r)
				}
				if stopWhenFull && full() {
					return nil
				}
			}
			if !resp.More || len(resp.Kvs) == 0 {
				return nil
			}
			last := string(resp.Kvs[len(resp.Kvs)-1].Key)
			if desc {
				end = last
			} else {
				from = last + "\x00"
			}
		}
	}
	switch {
	case q.IdempotencyKey != "":
		kvs, err := s.getAll(ctx, 0, s.idemKey(q.IdempotencyKey))
		if err != nil || kvs[0] == nil {
			return nil, err
		}
		id := flows.RequestID(kvs[0].Value)
		got, err := s.getAll(ctx, kvs[0].ModRevision, s.reqKey(id))
		if err != nil {
			return nil, err
		}
		if got[0] == nil {
			return nil, fmt.Errorf("the idempotency key %q names request %s, which is not stored", q.IdempotencyKey, id)
		}
		r, err := decodeRequest(got[0])
		if err != nil {
			return nil, err
		}
		if keep(r) {
			out = append(out, r)
		}
	case q.Approver != "":
		if err := s.finishIndexWork(ctx); err != nil {
			return nil, err
		}
		prefix := s.idx("approver") + q.Approver + "\x00"
		if err := scan(prefix, rangeEnd(prefix), false, false, func(k string) flows.RequestID {
			return flows.RequestID(k[len(prefix):])
		}); err != nil {
			return nil, err
		}
		sortNewestFirst(out)
	case q.Requester != "":
		name := "requester"
		if onlyLive(q.States) {
			name = "live"
		}
		prefix := s.idx(name) + q.Requester + "\x00"
		if err := scan(prefix, rangeEnd(prefix), true, true, func(k string) flows.RequestID {
			return flows.RequestID(k[len(prefix)+16:])
		}); err != nil {
			return nil, err
		}
	case len(q.States) > 0:
		for _, st := range q.States {
			prefix := s.idx("state") + string(st) + "\x00"
			if err := scan(prefix, rangeEnd(prefix), false, false, func(k string) flows.RequestID {
				return flows.RequestID(k[len(prefix)+16:])
			}); err != nil {
				return nil, err
			}
		}
		sortNewestFirst(out)
	default:
		prefix := s.p + "req/"
		// The requests themselves: read them as they come.
		if err := s.scanRequests(ctx, prefix, func(r *flows.Request) {
			if keep(r) {
				out = append(out, r)
			}
		}); err != nil {
			return nil, err
		}
		sortNewestFirst(out)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// scanRequests calls fn for every stored request, in pages read as of one
// revision.
func (s *Store) scanRequests(ctx context.Context, prefix string, fn func(*flows.Request)) error {
	from, end := prefix, rangeEnd(prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(findPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			r, err := decodeRequest(kv)
			if err != nil {
				return err
			}
			fn(r)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func sortNewestFirst(rs []*flows.Request) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].CreatedAt.Equal(rs[j].CreatedAt) {
			return rs[i].CreatedAt.After(rs[j].CreatedAt)
		}
		return rs[i].ID > rs[j].ID
	})
}

// onlyLive reports whether states names live states only (none terminal).
func onlyLive(states []flows.State) bool {
	return len(states) > 0 && !slices.ContainsFunc(states, flows.State.Terminal)
}

// timeRange reads the keys of a time index (prefix + at + id) up to and
// including t, earliest first, up to limit (all when limit <= 0).
func (s *Store) timeRange(ctx context.Context, prefix string, t time.Time, limit int) (ids []flows.RequestID, rev int64, err error) {
	// Every key at t sorts before the first key of the next nanosecond.
	end := prefix + at(t.Add(time.Nanosecond))
	if !t.Before(time.Unix(0, 1<<62)) {
		end = rangeEnd(prefix)
	}
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithKeysOnly()}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, 0, err
	}
	for _, kv := range resp.Kvs {
		ids = append(ids, flows.RequestID(strings.TrimPrefix(string(kv.Key), prefix)[16:]))
	}
	return ids, resp.Header.Revision, nil
}

// Due implements flows.Store: it reads only the due index up to t.
func (s *Store) Due(ctx context.Context, t time.Time, limit int) ([]flows.RequestID, error) {
	var ids []flows.RequestID
	err := s.read(ctx, "due requests", func(ctx context.Context) error {
		var err error
		ids, _, err = s.timeRange(ctx, s.idx("due"), t, limit)
		return err
	})
	return ids, err
}

// Expiring implements flows.Store.
func (s *Store) Expiring(ctx context.Context, t time.Time, limit int) ([]*flows.Request, error) {
	var out []*flows.Request
	err := s.read(ctx, "expiring requests", func(ctx context.Context) error {
		out = nil
		ids, rev, err := s.timeRange(ctx, s.idx("expiry"), t, limit)
		if err != nil {
			return err
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.reqKey(id)
		}
		kvs, err := s.getAll(ctx, rev, keys...)
		if err != nil {
			return err
		}
		for i, kv := range kvs {
			if kv == nil {
				return fmt.Errorf("the expiry index names request %s, which is not stored", ids[i])
			}
			r, err := decodeRequest(kv)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// CountByState returns how many requests are in each state: etcd counts
// each state's index range, so nothing is read but the counts.
func (s *Store) CountByState(ctx context.Context) (map[flows.State]int, error) {
	out := map[flows.State]int{}
	err := s.read(ctx, "count requests by state", func(ctx context.Context) error {
		ops := make([]clientv3.Op, 0, len(flows.States()))
		for _, st := range flows.States() {
			prefix := s.idx("state") + string(st) + "\x00"
			ops = append(ops, clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()))
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		for i, st := range flows.States() {
			if n := resp.Responses[i].GetResponseRange().Count; n > 0 {
				out[st] = int(n)
			}
		}
		return nil
	})
	return out, err
}

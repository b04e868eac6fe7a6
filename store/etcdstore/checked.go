package etcdstore

import (
	"context"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
)

// CreateChecked implements flows.Store. Every replica creates requests,
// so a check of a person's live requests made before the transaction
// (flows.Submit's: one at a time per target, a cap) could pass in two
// replicas at once and admit both. The combiner (prepare) reads the
// requester's live index and their requests as of one revision, runs
// check on them, and conditions the transaction on no key of that index
// having been written since (liveUnchanged): a request another replica
// added meanwhile fails the commit, and the check runs again on what is
// there now. A request that ended meanwhile leaves the index without
// failing it: the check then saw one request too many, and refused what
// it could have taken, never the reverse.
func (s *Store) CreateChecked(ctx context.Context, r *flows.Request, ev flows.Event, key string, check func(live []*flows.Request) error) (*flows.Request, bool, error) {
	j := &job{ctx: ctx, kind: jobCreate, r: r, ev: ev, key: key, check: check}
	s.submit(j)
	if j.err != nil {
		return nil, false, j.err
	}
	return j.out, j.created, nil
}

func (s *Store) livePrefix(requester string) string { return s.idx("live") + requester + "\x00" }

// liveOf reads requester's live requests, newest first, and the revision
// they were read at.
func (s *Store) liveOf(ctx context.Context, requester string) ([]*flows.Request, int64, error) {
	prefix := s.livePrefix(requester)
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, 0, err
	}
	rev := resp.Header.Revision
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = s.reqKey(flows.RequestID(kv.Key[len(prefix)+16:]))
	}
	kvs, err := s.getAll(ctx, rev, keys...)
	if err != nil {
		return nil, 0, err
	}
	live := make([]*flows.Request, 0, len(kvs))
	for i, kv := range kvs {
		if kv == nil {
			return nil, 0, fmt.Errorf("the index entry %q names a request that is not stored", resp.Kvs[i].Key)
		}
		r, err := decodeRequest(kv)
		if err != nil {
			return nil, 0, err
		}
		if !r.State.Terminal() && !slices.ContainsFunc(live, func(o *flows.Request) bool { return o.ID == r.ID }) {
			live = append(live, r)
		}
	}
	return live, rev, nil
}

// liveUnchanged is the condition that no key of requester's live index
// was written after rev.
func (s *Store) liveUnchanged(requester string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(s.livePrefix(requester)), "<", rev+1).WithPrefix()
}

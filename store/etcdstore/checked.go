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
// replicas at once and admit both. The combiner (prepare) reads the live
// index and the requests of every requester its batch checks (liveOf),
// runs each check on its requester's, and conditions the transaction on
// no key of that index having been written since (liveUnchanged): a
// request another replica added meanwhile fails the commit, and the check
// runs again on what is there now. A request that ended meanwhile leaves
// the index without failing it: the check then saw one request too many,
// and refused what it could have taken, never the reverse.
func (s *Store) CreateChecked(ctx context.Context, r *flows.Request, ev flows.Event, key string, check func(live []*flows.Request) error) (*flows.Request, bool, error) {
	j := &job{ctx: ctx, kind: jobCreate, r: r, ev: ev, key: key, check: check}
	s.submit(j)
	if j.err != nil {
		return nil, false, j.err
	}
	return j.out, j.created, nil
}

func (s *Store) livePrefix(requester string) string { return s.idx("live") + requester + "\x00" }

// liveRead is a requester's live requests, newest first, and the
// revision they were read at.
type liveRead struct {
	reqs []*flows.Request
	rev  int64
}

// liveOf reads the live requests of each of requesters: a transaction of
// range reads for as many of them as one holds (the combiner's whole
// batch, as a rule), and one of gets for their requests when there are
// any, as of the same revision.
func (s *Store) liveOf(ctx context.Context, requesters []string) (map[string]liveRead, error) {
	out := make(map[string]liveRead, len(requesters))
	for start := 0; start < len(requesters); start += s.maxOps {
		chunk := requesters[start:min(start+s.maxOps, len(requesters))]
		ops := make([]clientv3.Op, len(chunk))
		for i, who := range chunk {
			ops[i] = clientv3.OpGet(s.livePrefix(who), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		rev := resp.Header.Revision
		s.saw(rev)
		var keys, owners []string
		for i, who := range chunk {
			prefix := s.livePrefix(who)
			for _, kv := range resp.Responses[i].GetResponseRange().Kvs {
				keys = append(keys, s.reqKey(flows.RequestID(kv.Key[len(prefix)+16:])))
				owners = append(owners, who)
			}
			out[who] = liveRead{rev: rev}
		}
		kvs, err := s.getAll(ctx, rev, keys...)
		if err != nil {
			return nil, err
		}
		for i, kv := range kvs {
			if kv == nil {
				return nil, fmt.Errorf("the live index of %s names request %s, which is not stored", owners[i], keys[i])
			}
			r, err := decodeRequest(kv)
			if err != nil {
				return nil, err
			}
			got := out[owners[i]]
			if !r.State.Terminal() && !slices.ContainsFunc(got.reqs, func(o *flows.Request) bool { return o.ID == r.ID }) {
				got.reqs = append(got.reqs, r)
				out[owners[i]] = got
			}
		}
	}
	return out, nil
}

// liveUnchanged is the condition that no key of requester's live index
// was written after rev.
func (s *Store) liveUnchanged(requester string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(s.livePrefix(requester)), "<", rev+1).WithPrefix()
}

package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
)

// The approver index has a key per approver of a pending request, and a
// flow may name a large group: more keys than one transaction takes. When
// a change's approver keys do not fit in its transaction, the transaction
// writes them down instead, as idxwork/<id> (the keys to put and to
// delete), and they are written after it, in transactions of their own,
// each taking what it writes off the list. Index keys are put or deleted
// whatever they held, so writing one twice is harmless; what matters is
// order, and that nothing is left out:
//
//   - the next change of the request first finishes the list (and a
//     change is never committed while one is left, its read of the list
//     being one of its conditions);
//   - Find by approver first finishes every list, so it never misses a
//     request whose index is being written.

// indexWork is the approver index keys a change still has to write.
type indexWork struct {
	Put []string `json:"put,omitempty"`
	Del []string `json:"del,omitempty"`
}

func (w indexWork) len() int { return len(w.Put) + len(w.Del) }

func (s *Store) indexWorkPrefix() string                { return s.p + "idxwork/" }
func (s *Store) indexWorkKey(id flows.RequestID) string { return s.indexWorkPrefix() + string(id) }

// placeApprovers adds work to c when it fits (with the marker's operation
// and some room), else the list of it; deferred says which. kv is the
// list as read (nil: none).
func (s *Store) placeApprovers(c *change, id flows.RequestID, kv *mvccpb.KeyValue, work indexWork) (deferred bool, err error) {
	if len(c.ops)+work.len()+2 <= s.maxOps {
		for _, k := range work.Del {
			c.del(k)
		}
		for _, k := range work.Put {
			c.put(k, "")
		}
		return false, nil
	}
	raw, err := json.Marshal(work)
	if err != nil {
		return false, fmt.Errorf("encode the approver index of %s: %w", id, err)
	}
	c.unchanged(s.indexWorkKey(id), kv)
	c.put(s.indexWorkKey(id), string(raw))
	return true, nil
}

// indexNow writes the approver index a change just deferred. A failure
// is left to whoever needs the index next (applyIndexWork's callers).
func (s *Store) indexNow(ctx context.Context, id flows.RequestID) {
	_ = s.applyIndexWork(ctx, id)
}

// applyIndexWork writes the list of request id, a transaction's worth at a
// time, each taking what it wrote off the list (the last deleting it).
func (s *Store) applyIndexWork(ctx context.Context, id flows.RequestID) error {
	k := s.indexWorkKey(id)
	for {
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil || kvs[0] == nil {
			return err
		}
		var work indexWork
		if err := json.Unmarshal(kvs[0].Value, &work); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		c := &change{}
		c.unchanged(k, kvs[0])
		room := s.maxOps - 3 // the list's own write, the marker, a spare
		for room > 0 && len(work.Del) > 0 {
			c.del(work.Del[0])
			work.Del, room = work.Del[1:], room-1
		}
		for room > 0 && len(work.Put) > 0 {
			c.put(work.Put[0], "")
			work.Put, room = work.Put[1:], room-1
		}
		if work.len() == 0 {
			c.del(k)
		} else {
			raw, _ := json.Marshal(work) // lists of strings always encode
			c.put(k, string(raw))
		}
		if _, err := s.commit(ctx, c); err != nil {
			return fmt.Errorf("write the approver index of %s: %w", id, err)
		}
	}
}

// finishIndexWork writes every list left (their writers died, or are
// writing them now).
func (s *Store) finishIndexWork(ctx context.Context) error {
	resp, err := s.cli.Get(ctx, s.indexWorkPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		if err := s.applyIndexWork(ctx, flows.RequestID(strings.TrimPrefix(string(kv.Key), s.indexWorkPrefix()))); err != nil {
			return err
		}
	}
	return nil
}

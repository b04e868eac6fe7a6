package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// Message refs are msgref/<request id> 0 <random>: any number of writers
// add them without reading anything, and they are read back in the order
// etcd created them (their create revision), oldest first.

func (s *Store) msgRefPrefix(id flows.RequestID) string { return s.p + "msgref/" + string(id) + "\x00" }

func (s *Store) contactKey(platform, key string) string {
	return s.p + "contact/" + platform + "\x00" + key
}

// putMessageRef adds ref to c (AddMessageRef, and Delivered in the
// transaction that removes the delivery).
func (s *Store) putMessageRef(c *change, id flows.RequestID, ref flows.MessageRef) error {
	raw, err := json.Marshal(record.MessageRef(ref))
	if err != nil {
		return fmt.Errorf("encode message ref: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	c.put(s.msgRefPrefix(id)+hex.EncodeToString(b[:]), string(raw))
	return nil
}

// AddMessageRef implements flows.ChatState.
func (s *Store) AddMessageRef(ctx context.Context, requestID flows.RequestID, ref flows.MessageRef) error {
	return s.retry(ctx, "add message ref", func(ctx context.Context) (bool, error) {
		c := &change{}
		if err := s.putMessageRef(c, requestID, ref); err != nil {
			return false, err
		}
		return s.commit(ctx, c)
	})
}

// MessageRefs implements flows.ChatState.
func (s *Store) MessageRefs(ctx context.Context, requestID flows.RequestID) ([]flows.MessageRef, error) {
	var out []flows.MessageRef
	err := s.read(ctx, "message refs of "+string(requestID), func(ctx context.Context) error {
		out = nil
		resp, err := s.cli.Get(ctx, s.msgRefPrefix(requestID), clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			var rec record.MessageRef
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				return fmt.Errorf("decode message ref %s: %w", kv.Key, err)
			}
			out = append(out, flows.MessageRef(rec))
		}
		return nil
	})
	return out, err
}

// ManyMessageRefs reads the message refs of several requests as of one
// revision, a range each, as many to a transaction as etcd takes
// (bot.ManyMessageRefs: the outbox's expansion reads those of a whole
// batch of events in one round instead of one round each). Requests with
// none are left out.
func (s *Store) ManyMessageRefs(ctx context.Context, ids []flows.RequestID) (map[flows.RequestID][]flows.MessageRef, error) {
	out := map[flows.RequestID][]flows.MessageRef{}
	err := s.read(ctx, "message refs", func(ctx context.Context) error {
		clear(out)
		var rev int64
		for start := 0; start < len(ids); start += s.maxOps {
			chunk := ids[start:min(start+s.maxOps, len(ids))]
			ops := make([]clientv3.Op, len(chunk))
			for i, id := range chunk {
				opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
				if rev > 0 {
					opts = append(opts, clientv3.WithRev(rev))
				}
				ops[i] = clientv3.OpGet(s.msgRefPrefix(id), opts...)
			}
			resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				return err
			}
			rev = resp.Header.Revision
			for i, r := range resp.Responses {
				for _, kv := range r.GetResponseRange().Kvs {
					var rec record.MessageRef
					if err := json.Unmarshal(kv.Value, &rec); err != nil {
						return fmt.Errorf("decode message ref %s: %w", kv.Key, err)
					}
					out[chunk[i]] = append(out[chunk[i]], flows.MessageRef(rec))
				}
			}
		}
		return nil
	})
	return out, err
}

// PutContact implements flows.ChatState.
func (s *Store) PutContact(ctx context.Context, platform, key string, data []byte) error {
	return s.retry(ctx, "put contact", func(ctx context.Context) (bool, error) {
		c := &change{}
		c.put(s.contactKey(platform, key), string(data))
		return s.commit(ctx, c)
	})
}

// Contact implements flows.ChatState.
func (s *Store) Contact(ctx context.Context, platform, key string) ([]byte, error) {
	var out []byte
	err := s.read(ctx, "read contact", func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.contactKey(platform, key))
		if err != nil {
			return err
		}
		if kvs[0] == nil {
			return refusal{flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)}
		}
		out = kvs[0].Value
		return nil
	})
	return out, err
}

// DeleteContact implements flows.ChatState: the contact goes and evs join
// the audit chain in one transaction.
func (s *Store) DeleteContact(ctx context.Context, platform, key string, evs ...flows.Event) error {
	k := s.contactKey(platform, key)
	return s.retry(ctx, "delete contact", func(ctx context.Context) (bool, error) {
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil {
			return false, err
		}
		if kvs[0] == nil {
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "no %s contact for %s", platform, key)}
		}
		c := &change{}
		c.unchanged(k, kvs[0])
		c.del(k)
		if err := s.addEvents(c, evs...); err != nil {
			return false, err
		}
		return s.commit(ctx, c)
	})
}

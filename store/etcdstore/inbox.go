package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// The inbox is one record per item (inbox/item/<key>) and three time
// indexes, as in the bbolt store, each key ending in the item's key:
//
//   - inbox/next/<next_at><seq><key>: unfinished items by when they may be
//     taken (TakeInbox reads its front);
//   - inbox/recv/<received_at><seq><key>: unfinished items by arrival
//     (InboxDepth counts it and reads its first);
//   - inbox/done/<finished_at><key>: the tombstones (PurgeInbox).
//
// seq orders items received at the same time (Store.order): not a
// counter, which every webhook of every replica would fight over on the
// ack path, so that a receive is one transaction. Its low 24 bits name
// the replica that received the item (inboxTag): each replica takes the
// items it received, and another one's only once they have waited
// inboxStealAfter (their receiver died, or is behind), so that the
// replicas' takers do not all lease from one front and lose to each
// other (the HA bench found most leases committed one by one after a
// lost chunk).

// inboxStealAfter is how long an item waits for the replica that received
// it before any replica takes it.
const inboxStealAfter = 5 * time.Second

// inboxSeq is the seq of an item this process receives now.
func (s *Store) inboxSeq() uint64 { return s.order()<<24 | s.inboxTag }

// inboxTakes says whether this process takes rec, whose next index entry
// is k (the prefix cut), at now: its own, one taken before (its lease ran
// out: its taker died or gave up), or one that waited long enough for
// the replica that received it.
func (s *Store) inboxTakes(k string, rec record.Inbox, now time.Time) bool {
	return rec.Seq&0xffffff == s.inboxTag || rec.Attempts > 0 || k[:16] <= at(now.Add(-inboxStealAfter))
}

func (s *Store) inboxItemKey(key string) string { return s.p + "inbox/item/" + key }
func (s *Store) inboxNext() string              { return s.p + "inbox/next/" }
func (s *Store) inboxRecv() string              { return s.p + "inbox/recv/" }
func (s *Store) inboxDone() string              { return s.p + "inbox/done/" }

func (s *Store) inboxNextKey(rec record.Inbox) string {
	return s.inboxNext() + at(rec.NextAt) + hex16(rec.Seq) + rec.Key
}
func (s *Store) inboxRecvKey(rec record.Inbox) string {
	return s.inboxRecv() + at(rec.ReceivedAt) + hex16(rec.Seq) + rec.Key
}
func (s *Store) inboxDoneKey(rec record.Inbox) string {
	return s.inboxDone() + at(rec.FinishedAt) + rec.Key
}

func decodeInbox(kv *mvccpb.KeyValue) (record.Inbox, error) {
	var rec record.Inbox
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return rec, fmt.Errorf("decode inbox item %s: %w", kv.Key, err)
	}
	return rec, nil
}

func (s *Store) putInbox(c *change, rec record.Inbox) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode inbox item %q: %w", rec.Key, err)
	}
	c.put(s.inboxItemKey(rec.Key), string(raw))
	return nil
}

// Receive implements flows.Inbox: one transaction, without a marker
// (commitReceive), that stores the item on condition that its key is still
// absent. Of concurrent receives of one key, in any number of processes,
// exactly one is first.
func (s *Store) Receive(ctx context.Context, item flows.InboxItem) (bool, error) {
	if item.Key == "" {
		return false, errors.New("etcdstore: receive: an inbox item needs a key")
	}
	if item.NextAt.IsZero() {
		item.NextAt = item.ReceivedAt
	}
	first := false
	// One record for every attempt: an attempt that finds it stored finds
	// an earlier one's write.
	rec := record.NewInbox(item, s.inboxSeq())
	rec.Nonce = rand.Uint64()
	raw, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("etcdstore: receive: encode inbox item %q: %w", item.Key, err)
	}
	k := s.inboxItemKey(item.Key)
	err = s.retry(ctx, fmt.Sprintf("receive %q", item.Key), func(ctx context.Context) (bool, error) {
		c := &change{}
		c.unchanged(k, nil)
		c.put(k, string(raw))
		c.put(s.inboxNextKey(rec), "")
		c.put(s.inboxRecvKey(rec), "")
		ok, err := s.commitReceive(ctx, c)
		if ok {
			s.inboxFront.wrote(s.inboxNextKey(rec))
		}
		if err != nil || ok {
			first = ok
			return ok, err
		}
		// Not applied: the key was received before (the answer), or by an
		// earlier attempt of this call whose answer was lost.
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil || kvs[0] == nil {
			return false, err
		}
		if bytes.Equal(kvs[0].Value, raw) {
			s.inboxFront.wrote(s.inboxNextKey(rec))
			first = true
			return true, nil
		}
		old, err := decodeInbox(kvs[0])
		if err != nil {
			return false, err
		}
		c = &change{}
		c.unchanged(k, kvs[0])
		switch {
		case old.Dropped:
			// Its receiver refused it and dropped it once committed: this
			// delivery is taken as new.
			c.del(s.inboxDoneKey(old))
			if err := s.putInbox(c, rec); err != nil {
				return false, err
			}
			c.put(s.inboxNextKey(rec), "")
			c.put(s.inboxRecvKey(rec), "")
			ok, err := s.commit(ctx, c)
			if ok {
				s.inboxFront.wrote(s.inboxNextKey(rec))
			}
			first = ok
			return ok, err
		case old.FinishedAt.IsZero() && !old.Redelivered:
			// Acknowledged again now: it must be acted on.
			old.Redelivered = true
			if err := s.putInbox(c, old); err != nil {
				return false, err
			}
			return s.commit(ctx, c)
		}
		return true, nil
	})
	return first, err
}

// commitReceive commits a receive's change without the marker every other
// write carries (marker.go): the item's key is the receive's own marker.
// Its condition is that the key is absent, and its value is this
// receive's alone (its nonce: two webhooks of one delivery may stamp the
// same receipt time), so an attempt after an ambiguous failure, the same
// change again, either applies (and the first can never apply: its
// condition fails) or finds the first's value (Receive). Not settling
// keeps the acknowledgement within its deadline: a write still in flight
// when the deadline passes is the refusal the inbox answers for
// (bot/nottaken.go). One put, one condition and the
// lease's bookkeeping fewer on the path people wait on: at 200 slash
// commands/s on a 3-member etcd sharing 2 cores, the ack's p99 was 72, 73
// and 77 ms against 64, 98 and 102 ms with the marker, the runs
// alternating in one process.
func (s *Store) commitReceive(ctx context.Context, c *change) (bool, error) {
	resp, err := s.cli.Txn(ctx).If(c.cmps...).Then(c.ops...).Commit()
	if err != nil {
		return false, err
	}
	s.saw(resp.Header.Revision)
	return resp.Succeeded, nil
}

// TakeInbox implements flows.Inbox. It reads the next index from its
// front (front.go) up to now, a chunk at a time, and leases the chunk's
// items it takes (inboxTakes: its own, or past their time for another
// replica) in one transaction on condition that none changed since read;
// when a concurrent taker (another worker, another replica) leased one
// first, it leases the chunk's items one by one, each on condition that it
// is unchanged, and goes on with the next chunk.
func (s *Store) TakeInbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]flows.InboxItem, error) {
	var out []flows.InboxItem
	taken := map[string]bool{}
	prefix := s.inboxNext()
	end := prefix + at(now.Add(time.Nanosecond))
	chunk := max(1, (s.maxOps-1)/3)
	err := s.retry(ctx, "take inbox", func(ctx context.Context) (bool, error) {
		read := s.inboxFront.start(prefix, now)
		from, first, looked := read.from, "", false
		for limit <= 0 || len(out) < limit {
			// A whole chunk, even when fewer are wanted: the front may
			// hold items another replica is to take first.
			resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(chunk)), clientv3.WithKeysOnly())
			if err != nil {
				return false, err
			}
			if !looked && len(resp.Kvs) > 0 {
				first = string(resp.Kvs[0].Key)
			}
			looked = true
			var idxKeys, itemKeys []string
			for _, kv := range resp.Kvs {
				k := string(kv.Key)
				if key := k[len(prefix)+32:]; !taken[key] {
					idxKeys, itemKeys = append(idxKeys, k), append(itemKeys, s.inboxItemKey(key))
				}
			}
			items, err := s.getAll(ctx, resp.Header.Revision, itemKeys...)
			if err != nil {
				return false, err
			}
			var leased []record.Inbox
			var alone []*change // each item's lease by itself
			for i, kv := range items {
				if kv == nil {
					return false, fmt.Errorf("the inbox index entry %q names an item that is not stored", idxKeys[i])
				}
				rec, err := decodeInbox(kv)
				if err != nil {
					return false, err
				}
				if limit > 0 && len(out)+len(leased) >= limit {
					break
				}
				if !s.inboxTakes(idxKeys[i][len(prefix):], rec, now) {
					continue
				}
				one, err := s.leaseChange(itemKeys[i], kv, idxKeys[i], &rec, now, lease)
				if err != nil {
					return false, err
				}
				alone = append(alone, one)
				leased = append(leased, rec)
			}
			leased, err = s.commitLeases(ctx, alone, leased)
			if err != nil {
				return false, err
			}
			for _, rec := range leased {
				taken[rec.Key] = true
				out = append(out, rec.Item())
			}
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
		if looked {
			s.inboxFront.found(read, first)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// leaseChange is the change that leases rec, read as kv under itemKey
// with its next index entry at idxKey, until now+lease, on condition that
// it is unchanged; rec becomes the item as leased.
func (s *Store) leaseChange(itemKey string, kv *mvccpb.KeyValue, idxKey string, rec *record.Inbox, now time.Time, lease time.Duration) (*change, error) {
	c := &change{}
	c.unchanged(itemKey, kv)
	c.del(idxKey)
	rec.Attempts++
	rec.NextAt = now.Add(lease)
	c.put(s.inboxNextKey(*rec), "")
	if err := s.putInbox(c, *rec); err != nil {
		return nil, err
	}
	return c, nil
}

// commitLeases commits the leases alone[i] of leased[i] in one transaction
// and returns the items leased, remembered as leased by this process
// (leased.go). When another taker (another replica, whose workers read the
// same front) leased one first, it commits them one at a time, in order,
// rather than all again, which every replica's takers would fight over for
// as long as the inbox is behind, and returns those it got.
func (s *Store) commitLeases(ctx context.Context, alone []*change, leased []record.Inbox) ([]record.Inbox, error) {
	if len(leased) == 0 {
		return nil, nil
	}
	all := &change{}
	for _, one := range alone {
		all.cmps = append(all.cmps, one.cmps...)
		all.merge(one)
	}
	ok, rev, err := s.commitAt(ctx, all)
	if err != nil {
		return nil, err
	}
	revs := make([]int64, len(leased))
	for i := range revs {
		revs[i] = rev
	}
	if !ok {
		var got []record.Inbox
		revs = revs[:0]
		for i, one := range alone {
			ok, rev, err := s.commitAt(ctx, one)
			if err != nil {
				return nil, err
			}
			if ok {
				got = append(got, leased[i])
				revs = append(revs, rev)
			}
		}
		leased = got
	}
	for i, rec := range leased {
		s.leased.add(rec, revs[i])
		s.inboxFront.wrote(s.inboxNextKey(rec))
	}
	return leased, nil
}

// TakeInboxKeys implements flows.Inbox: the items read by key, and those
// due leased as TakeInbox leases a chunk (one transaction, or one by one
// when another taker changed one since read), a chunk of keys at a time.
func (s *Store) TakeInboxKeys(ctx context.Context, now time.Time, lease time.Duration, keys ...string) ([]flows.InboxItem, error) {
	var out []flows.InboxItem
	chunk := max(1, (s.maxOps-1)/3)
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		got, err := s.takeKeys(ctx, now, lease, keys[:n])
		if err != nil {
			return out, err
		}
		out = append(out, got...)
		keys = keys[n:]
	}
	return out, nil
}

func (s *Store) takeKeys(ctx context.Context, now time.Time, lease time.Duration, keys []string) ([]flows.InboxItem, error) {
	var out []flows.InboxItem
	err := s.retry(ctx, fmt.Sprintf("take %d inbox items by key", len(keys)), func(ctx context.Context) (bool, error) {
		out = nil
		itemKeys := make([]string, len(keys))
		for i, key := range keys {
			itemKeys[i] = s.inboxItemKey(key)
		}
		kvs, err := s.getAll(ctx, 0, itemKeys...)
		if err != nil {
			return false, err
		}
		var leased []record.Inbox
		var alone []*change
		seen := map[string]bool{}
		for i, kv := range kvs {
			if kv == nil || seen[keys[i]] {
				continue
			}
			seen[keys[i]] = true
			rec, err := decodeInbox(kv)
			if err != nil {
				return false, err
			}
			if !rec.FinishedAt.IsZero() || rec.NextAt.After(now) {
				continue
			}
			one, err := s.leaseChange(itemKeys[i], kv, s.inboxNextKey(rec), &rec, now, lease)
			if err != nil {
				return false, err
			}
			alone = append(alone, one)
			leased = append(leased, rec)
		}
		leased, err = s.commitLeases(ctx, alone, leased)
		if err != nil {
			return false, err
		}
		for _, rec := range leased {
			out = append(out, rec.Item())
		}
		return true, nil
	})
	return out, err
}

// FinishInbox implements flows.Inbox: the tombstone (payload dropped) and
// the answers, which join the outbox unnumbered (answers.go), in one
// transaction, which the finishes of the other workers of this process
// made meanwhile share (shared_commit.go).
func (s *Store) FinishInbox(ctx context.Context, key string, finished time.Time, answers ...flows.Delivery) ([]flows.Delivery, error) {
	if finished.IsZero() {
		return nil, fmt.Errorf("etcdstore: finish inbox item %q: no finish time", key)
	}
	if err := checkDeliveries("finish inbox item "+key, answers); err != nil {
		return nil, err
	}
	var out []flows.Delivery
	err := s.retry(ctx, fmt.Sprintf("finish inbox item %q", key), func(ctx context.Context) (bool, error) {
		out = nil
		k := s.inboxItemKey(key)
		var kv *mvccpb.KeyValue
		var rec record.Inbox
		if l, ok := s.leased.take(key); ok {
			// As this process leased it: unchanged since, or the
			// transaction fails and the next attempt reads it.
			kv, rec = &mvccpb.KeyValue{Key: []byte(k), ModRevision: l.rev}, l.rec
		} else {
			kvs, err := s.getAll(ctx, 0, k)
			if err != nil {
				return false, err
			}
			if kvs[0] == nil {
				return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)}
			}
			if rec, err = decodeInbox(kvs[0]); err != nil {
				return false, err
			}
			kv = kvs[0]
		}
		if !rec.FinishedAt.IsZero() {
			return true, nil
		}
		c := &change{}
		c.unchanged(k, kv)
		c.del(s.inboxNextKey(rec))
		c.del(s.inboxRecvKey(rec))
		rec.FinishedAt, rec.Payload = finished, nil
		c.put(s.inboxDoneKey(rec), "")
		if err := s.putInbox(c, rec); err != nil {
			return false, err
		}
		stored, err := s.addAnswers(c, answers)
		if err != nil {
			return false, err
		}
		ok, err := s.commitShared(ctx, c)
		if ok {
			out = stored
		}
		return ok, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DropInbox implements flows.Inbox: as FinishInbox without answers, on
// condition that the item is unchanged since read, so that a redelivery
// received meanwhile keeps it.
func (s *Store) DropInbox(ctx context.Context, key string, finished time.Time) (bool, error) {
	if finished.IsZero() {
		return false, fmt.Errorf("etcdstore: drop inbox item %q: no finish time", key)
	}
	dropped := false
	err := s.retry(ctx, fmt.Sprintf("drop inbox item %q", key), func(ctx context.Context) (bool, error) {
		s.leased.take(key) // read afresh: a redelivery changes the item
		k := s.inboxItemKey(key)
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil {
			return false, err
		}
		if kvs[0] == nil {
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)}
		}
		rec, err := decodeInbox(kvs[0])
		if err != nil {
			return false, err
		}
		if !rec.FinishedAt.IsZero() || rec.Redelivered {
			return true, nil
		}
		c := &change{}
		c.unchanged(k, kvs[0])
		c.del(s.inboxNextKey(rec))
		c.del(s.inboxRecvKey(rec))
		rec.FinishedAt, rec.Payload, rec.Dropped = finished, nil, true
		c.put(s.inboxDoneKey(rec), "")
		if err := s.putInbox(c, rec); err != nil {
			return false, err
		}
		ok, err := s.commit(ctx, c)
		dropped = ok
		return ok, err
	})
	return dropped, err
}

// ExtendInbox implements flows.Inbox: a transaction per chunk of keys,
// each item on condition that it is unchanged since this process leased
// it (leased.go) or read it.
func (s *Store) ExtendInbox(ctx context.Context, until time.Time, keys ...string) error {
	chunk := max(1, (s.maxOps-1)/3)
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		if err := s.extendChunk(ctx, until, keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (s *Store) extendChunk(ctx context.Context, until time.Time, keys []string) error {
	return s.retry(ctx, fmt.Sprintf("extend %d inbox leases", len(keys)), func(ctx context.Context) (bool, error) {
		kvs := make([]*mvccpb.KeyValue, len(keys))
		recs := make([]record.Inbox, len(keys))
		var unread []int
		for i, key := range keys {
			if l, ok := s.leased.peek(key); ok {
				kvs[i], recs[i] = &mvccpb.KeyValue{Key: []byte(s.inboxItemKey(key)), ModRevision: l.rev}, l.rec
			} else {
				unread = append(unread, i)
			}
		}
		if len(unread) > 0 {
			itemKeys := make([]string, len(unread))
			for j, i := range unread {
				itemKeys[j] = s.inboxItemKey(keys[i])
			}
			got, err := s.getAll(ctx, 0, itemKeys...)
			if err != nil {
				return false, err
			}
			for j, i := range unread {
				if got[j] == nil {
					continue // unknown, or purged: skipped
				}
				if recs[i], err = decodeInbox(got[j]); err != nil {
					return false, err
				}
				kvs[i] = got[j]
			}
		}
		c := &change{}
		var moved []record.Inbox
		for i, kv := range kvs {
			rec := recs[i]
			if kv == nil || !rec.FinishedAt.IsZero() || !until.After(rec.NextAt) {
				continue
			}
			c.unchanged(string(kv.Key), kv)
			c.del(s.inboxNextKey(rec))
			rec.NextAt = until
			c.put(s.inboxNextKey(rec), "")
			if err := s.putInbox(c, rec); err != nil {
				return false, err
			}
			moved = append(moved, rec)
		}
		ok, rev, err := s.commitAt(ctx, c)
		if err != nil {
			return false, err
		}
		if !ok {
			// One of them changed (finished meanwhile, or taken by
			// another replica after its lease lapsed): read them all.
			for _, key := range keys {
				s.leased.take(key)
			}
			return false, nil
		}
		for _, rec := range moved {
			s.leased.add(rec, rev)
			s.inboxFront.wrote(s.inboxNextKey(rec))
		}
		return true, nil
	})
}

// RetryInbox implements flows.Inbox.
func (s *Store) RetryInbox(ctx context.Context, key string, next time.Time) error {
	s.leased.take(key) // read afresh: rare, and RetryInbox's refusals need the record as stored
	return s.retry(ctx, fmt.Sprintf("retry inbox item %q", key), func(ctx context.Context) (bool, error) {
		k := s.inboxItemKey(key)
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil {
			return false, err
		}
		if kvs[0] == nil {
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no inbox item %s", key)}
		}
		rec, err := decodeInbox(kvs[0])
		switch {
		case err != nil:
			return false, err
		case !rec.FinishedAt.IsZero():
			return false, refusal{flows.Errorf(flows.ECONFLICT, "inbox item %s is finished", key)}
		}
		c := &change{}
		c.unchanged(k, kvs[0])
		c.del(s.inboxNextKey(rec))
		rec.NextAt = next
		c.put(s.inboxNextKey(rec), "")
		if err := s.putInbox(c, rec); err != nil {
			return false, err
		}
		ok, err := s.commit(ctx, c)
		if ok {
			s.inboxFront.wrote(s.inboxNextKey(rec))
		}
		return ok, err
	})
}

// PurgeInbox implements flows.Inbox: it reads the tombstones' index from
// its front up to t, a chunk at a time, so it costs what it removes.
func (s *Store) PurgeInbox(ctx context.Context, t time.Time) (int, error) {
	n := 0
	prefix := s.inboxDone()
	end := prefix + at(t.Add(time.Nanosecond))
	chunk := max(1, s.maxOps/2)
	err := s.retry(ctx, "purge inbox", func(ctx context.Context) (bool, error) {
		for {
			resp, err := s.cli.Get(ctx, prefix, clientv3.WithRange(end), clientv3.WithLimit(int64(chunk)), clientv3.WithKeysOnly())
			if err != nil {
				return false, err
			}
			if len(resp.Kvs) == 0 {
				return true, nil
			}
			var doneKeys, itemKeys []string
			for _, kv := range resp.Kvs {
				k := string(kv.Key)
				doneKeys, itemKeys = append(doneKeys, k), append(itemKeys, s.inboxItemKey(k[len(prefix)+16:]))
			}
			items, err := s.getAll(ctx, resp.Header.Revision, itemKeys...)
			if err != nil {
				return false, err
			}
			c := &change{}
			purged := 0
			for i, kv := range items {
				c.del(doneKeys[i])
				c.unchanged(itemKeys[i], kv)
				if kv == nil {
					continue
				}
				rec, err := decodeInbox(kv)
				if err != nil {
					return false, err
				}
				// Only the tombstone this entry was written for: an item
				// finished, purged, received and finished again has an
				// entry of its own.
				if !rec.FinishedAt.IsZero() && s.inboxDoneKey(rec) == doneKeys[i] {
					c.del(itemKeys[i])
					purged++
				}
			}
			if ok, err := s.commit(ctx, c); !ok || err != nil {
				return false, err
			}
			n += purged
		}
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// InboxDepth implements flows.Inbox: etcd counts the received index, and
// its first entry names the oldest item.
func (s *Store) InboxDepth(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := s.read(ctx, "inbox depth", func(ctx context.Context) error {
		prefix := s.inboxRecv()
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()),
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly()),
		).Commit()
		if err != nil {
			return err
		}
		n, oldest = int(resp.Responses[0].GetResponseRange().Count), time.Time{}
		first := resp.Responses[1].GetResponseRange().Kvs
		if len(first) == 0 {
			return nil
		}
		key := string(first[0].Key)[len(prefix)+32:]
		kvs, err := s.getAll(ctx, resp.Header.Revision, s.inboxItemKey(key))
		if err != nil {
			return err
		}
		if kvs[0] == nil {
			return fmt.Errorf("the inbox index names %q, which is not stored", key)
		}
		rec, err := decodeInbox(kvs[0])
		oldest = rec.ReceivedAt
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, oldest, nil
}

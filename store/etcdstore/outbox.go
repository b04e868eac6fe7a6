package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// The outbox is one record per delivery (outbox/d/<id>) and the bbolt
// store's indexes, as keys:
//
//   - outbox/conv/<conversation> 0 <id>: a conversation's deliveries in
//     order (Pending);
//   - outbox/co/<conversation> 0 <coalesce> -> id: the waiting delivery a
//     new one with the same Coalesce updates;
//   - outbox/created/<created_at><id>: the oldest (OutboxDepth).
//   - outbox/mark/<id>: Sending's mark, beside the delivery so that marking
//     changes neither its revision nor what Waiting cached of it.
//
// outbox/seq is the last id handed out and outbox/cursor the dispatcher's
// audit cursor; both change only in the transactions that read them, so
// ids are unique and increasing and the cursor only moves forward, across
// every replica.

func (s *Store) outboxKey(id uint64) string { return s.p + "outbox/d/" + hex16(id) }
func (s *Store) outboxSeqKey() string       { return s.p + "outbox/seq" }
func (s *Store) outboxCursorKey() string    { return s.p + "outbox/cursor" }
func (s *Store) outboxConv(conv string) string {
	return s.p + "outbox/conv/" + conv + "\x00"
}
func (s *Store) outboxCoKey(conv, coalesce string) string {
	return s.p + "outbox/co/" + conv + "\x00" + coalesce
}
func (s *Store) outboxHeld(holder string) string {
	return s.p + "outbox/held/" + holder + "\x00"
}
func (s *Store) outboxHeldKey(holder string, id uint64) string {
	return s.outboxHeld(holder) + hex16(id)
}
func (s *Store) outboxCreated() string          { return s.p + "outbox/created/" }
func (s *Store) outboxMarkKey(id uint64) string { return s.p + "outbox/mark/" + hex16(id) }
func (s *Store) outboxCreatedKey(rec record.Delivery) string {
	return s.outboxCreated() + at(rec.CreatedAt) + hex16(rec.ID)
}

func decodeUint(kv *mvccpb.KeyValue) (uint64, error) {
	if kv == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(kv.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return n, nil
}

func decodeDelivery(kv *mvccpb.KeyValue) (record.Delivery, error) {
	var rec record.Delivery
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return rec, fmt.Errorf("decode delivery %s: %w", kv.Key, err)
	}
	return rec, nil
}

func (s *Store) putDelivery(c *change, rec record.Delivery) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode delivery %d: %w", rec.ID, err)
	}
	c.put(s.outboxKey(rec.ID), string(raw))
	return nil
}

// checkDeliveries refuses deliveries that could never be sent.
func checkDeliveries(what string, ds []flows.Delivery) error {
	for _, dl := range ds {
		if dl.Conversation == "" {
			return fmt.Errorf("etcdstore: %s: a delivery needs a conversation", what)
		}
	}
	return nil
}

// kv is one key to put.
type kv struct {
	K string `json:"k"`
	V string `json:"v"`
}

// enqueuePlan is what an enqueue writes, decided from one read of the
// outbox: the compares that read justifies (in check), the keys of each
// delivery (puts, one group per delivery), the id sequence after it, and
// the deliveries as they will be stored.
type enqueuePlan struct {
	check  change
	seqKV  *mvccpb.KeyValue
	seq    uint64
	puts   [][]kv
	out    []flows.Delivery
	nbytes int
}

// planEnqueue decides where ds go: new deliveries with the next ids, or
// coalesced into the waiting ones they update. At most maxCoalesce
// coalesce keys are looked up (each costs two conditions in the
// transaction that commits the plan); a delivery past them is added as a
// new one, unindexed for coalescing: one more refresh of a card, never a
// lost one.
func (s *Store) planEnqueue(ctx context.Context, ds []flows.Delivery, maxCoalesce int) (*enqueuePlan, error) {
	p := &enqueuePlan{}
	keys := []string{s.outboxSeqKey()}
	coAt := map[string]int{}
	for _, dl := range ds {
		if dl.Coalesce == "" {
			continue
		}
		k := s.outboxCoKey(dl.Conversation, dl.Coalesce)
		if _, ok := coAt[k]; !ok && len(coAt) < maxCoalesce {
			coAt[k] = len(keys)
			keys = append(keys, k)
		}
	}
	kvs, err := s.getAll(ctx, 0, keys...)
	if err != nil {
		return nil, err
	}
	p.seqKV = kvs[0]
	if p.seq, err = decodeUint(kvs[0]); err != nil {
		return nil, err
	}
	p.check.unchanged(keys[0], kvs[0])
	// The waiting deliveries that coalescing ones update.
	waiting := map[string]*record.Delivery{} // by coalesce key
	for k, i := range coAt {
		kv := kvs[i]
		p.check.unchanged(k, kv)
		if kv == nil {
			continue
		}
		id, err := strconv.ParseUint(string(kv.Value), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		got, err := s.getAll(ctx, 0, s.outboxKey(id))
		if err != nil {
			return nil, err
		}
		if got[0] == nil {
			return nil, fmt.Errorf("the coalesce index names delivery %d, which is not stored", id)
		}
		p.check.unchanged(s.outboxKey(id), got[0])
		rec, err := decodeDelivery(got[0])
		if err != nil {
			return nil, err
		}
		waiting[k] = &rec
	}
	var order []*record.Delivery
	index := map[uint64][]kv{}
	for _, dl := range ds {
		rec := record.NewDelivery(dl)
		var coKey string
		if rec.Coalesce != "" {
			coKey = s.outboxCoKey(rec.Conversation, rec.Coalesce)
			if w := waiting[coKey]; w != nil {
				w.EventSeq, w.Payload, w.What = rec.EventSeq, bytes.Clone(rec.Payload), rec.What
				if _, listed := index[w.ID]; !listed {
					index[w.ID] = nil
					order = append(order, w)
				}
				p.out = append(p.out, w.Delivery())
				continue
			}
		}
		p.seq++
		rec.ID = p.seq
		rec.Payload = bytes.Clone(rec.Payload) // not the caller's own buffer
		idx := []kv{{s.outboxConv(rec.Conversation) + hex16(rec.ID), ""}, {s.outboxCreatedKey(rec), ""}}
		if rec.Holder != "" {
			idx = append(idx, kv{s.outboxHeldKey(rec.Holder, rec.ID), ""})
		}
		if _, looked := coAt[coKey]; looked {
			idx = append(idx, kv{coKey, hex16(rec.ID)})
			waiting[coKey] = &rec
		}
		index[rec.ID] = idx
		order = append(order, &rec)
		d := rec.Delivery()
		d.Payload = bytes.Clone(d.Payload)
		p.out = append(p.out, d)
	}
	for _, rec := range order {
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode delivery %d: %w", rec.ID, err)
		}
		group := append([]kv{{s.outboxKey(rec.ID), string(raw)}}, index[rec.ID]...)
		for _, x := range group {
			p.nbytes += len(x.K) + len(x.V)
		}
		p.puts = append(p.puts, group)
	}
	return p, nil
}

// ops counts the plan's puts.
func (p *enqueuePlan) ops() int {
	n := 0
	for _, g := range p.puts {
		n += len(g)
	}
	return n
}

// apply adds the whole plan to c, to commit in one transaction.
func (s *Store) apply(c *change, p *enqueuePlan) {
	c.cmps = append(c.cmps, p.check.cmps...)
	for _, g := range p.puts {
		for _, x := range g {
			c.put(x.K, x.V)
		}
	}
	if len(p.puts) > 0 {
		c.put(s.outboxSeqKey(), strconv.FormatUint(p.seq, 10))
	}
}

// coalescing reports whether any of ds coalesces.
func coalescing(ds []flows.Delivery) bool {
	for _, d := range ds {
		if d.Coalesce != "" {
			return true
		}
	}
	return false
}

// Enqueue implements flows.Outbox: the deliveries, their indexes, the id
// sequence and the cursor in one transaction when they fit in one, else
// staged first and committed by one transaction (stage.go). A cursor that
// does not move forward is refused (ECONFLICT), nothing written.
func (s *Store) Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error) {
	if err := checkDeliveries("enqueue", ds); err != nil {
		return nil, err
	}
	return s.enq.enqueue(ctx, s, cursor, ds)
}

// enqueueAlone is Enqueue alone: one caller's deliveries (enqueue.go combines
// callers before they get here).
func (s *Store) enqueueAlone(ctx context.Context, cursor uint64, ds []flows.Delivery) ([]flows.Delivery, error) {
	var out []flows.Delivery
	err := s.retry(ctx, "enqueue", func(ctx context.Context) (bool, error) {
		out = nil
		// What a staged enqueue committed and did not store yet: the
		// coalesce index must be whole before it is read.
		if coalescing(ds) {
			if err := s.finishStaged(ctx); err != nil {
				return false, err
			}
		}
		c := &change{}
		var curKV *mvccpb.KeyValue
		if cursor != 0 {
			kvs, err := s.getAll(ctx, 0, s.outboxCursorKey())
			if err != nil {
				return false, err
			}
			cur, err := decodeUint(kvs[0])
			if err != nil {
				return false, err
			}
			if cursor <= cur {
				return false, refusal{flows.Errorf(flows.ECONFLICT, "the outbox cursor is at %d already, not before %d", cur, cursor)}
			}
			curKV = kvs[0]
			c.unchanged(s.outboxCursorKey(), curKV)
			c.put(s.outboxCursorKey(), strconv.FormatUint(cursor, 10))
		}
		p := &enqueuePlan{}
		if len(ds) > 0 {
			var err error
			if p, err = s.planEnqueue(ctx, ds, len(ds)); err != nil {
				return false, err
			}
		}
		// The marker and the fence take a condition each, the marker an
		// operation.
		if len(c.cmps)+len(p.check.cmps)+2 > s.maxOps || p.ops()+len(c.ops)+2 > s.maxOps || p.nbytes > maxRequestBytes {
			stored, ok, err := s.enqueueStaged(ctx, cursor, curKV, ds)
			out = stored
			return ok, err
		}
		s.apply(c, p)
		ok, rev, err := s.commitAt(ctx, c)
		if ok {
			out = p.out
			s.waiting.add(rev, p.out...)
		}
		return ok, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Cursor implements flows.Outbox.
func (s *Store) Cursor(ctx context.Context) (uint64, error) {
	var cur uint64
	err := s.read(ctx, "outbox cursor", func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.outboxCursorKey())
		if err != nil {
			return err
		}
		cur, err = decodeUint(kvs[0])
		return err
	})
	return cur, err
}

// Waiting implements flows.Outbox.
func (s *Store) Waiting(ctx context.Context, id uint64) (flows.Delivery, error) {
	var out flows.Delivery
	err := s.read(ctx, fmt.Sprintf("waiting delivery %d", id), func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.outboxKey(id))
		if err != nil {
			return err
		}
		if kvs[0] == nil {
			return refusal{flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)}
		}
		rec, err := decodeDelivery(kvs[0])
		if err != nil {
			return err
		}
		out = rec.Delivery()
		return nil
	})
	return out, err
}

// Pending implements flows.Outbox, as the bbolt store does (after
// numbering the unnumbered answers): deliveries in id order; the first of a conversation not seen yet brings that
// conversation's, read from its index. Everything is read as of one
// revision.
func (s *Store) Pending(ctx context.Context, limit int) ([]flows.Delivery, error) {
	if limit <= 0 {
		limit = math.MaxInt
	}
	// Unnumbered answers wait too: numbered first, they are read with
	// the rest (answers.go).
	if _, err := s.NumberAnswers(ctx); err != nil {
		return nil, err
	}
	var out []flows.Delivery
	err := s.read(ctx, "pending deliveries", func(ctx context.Context) error {
		out = nil
		if err := s.finishStaged(ctx); err != nil {
			return err
		}
		if limit == math.MaxInt {
			var err error
			out, err = s.allPending(ctx)
			return err
		}
		seen := map[string]bool{}
		prefix := s.p + "outbox/d/"
		from, end := prefix, rangeEnd(prefix)
		var rev int64
		for len(out) < limit {
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
				if len(out) >= limit {
					break
				}
				head, err := decodeDelivery(kv)
				if err != nil {
					return err
				}
				if seen[head.Conversation] {
					continue
				}
				seen[head.Conversation] = true
				conv, err := s.conversation(ctx, rev, head.Conversation, limit-len(out))
				if err != nil {
					return err
				}
				out = append(out, conv...)
			}
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// allPending is every waiting delivery in Pending's order, from one scan
// of the deliveries (paged, as of one revision) grouped by conversation in
// memory: reading each conversation's index in turn costs a round trip per
// conversation, thousands when an outbox is behind (every requester's DM),
// more than one request's timeout (the HA scenario found it).
func (s *Store) allPending(ctx context.Context) ([]flows.Delivery, error) {
	prefix := s.p + "outbox/d/"
	from, end := prefix, rangeEnd(prefix)
	var rev int64
	var order []string
	byConv := map[string][]flows.Delivery{}
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(findPage * 10)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return nil, err
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			rec, err := decodeDelivery(kv)
			if err != nil {
				return nil, err
			}
			if _, ok := byConv[rec.Conversation]; !ok {
				order = append(order, rec.Conversation)
			}
			d := rec.Delivery()
			s.waiting.add(kv.ModRevision, d)
			byConv[rec.Conversation] = append(byConv[rec.Conversation], d)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	var out []flows.Delivery
	for _, conv := range order {
		out = append(out, byConv[conv]...)
	}
	return out, nil
}

// conversation reads up to limit deliveries of conv, in id order, as of
// rev.
func (s *Store) conversation(ctx context.Context, rev int64, conv string, limit int) ([]flows.Delivery, error) {
	var out []flows.Delivery
	prefix := s.outboxConv(conv)
	from, end := prefix, rangeEnd(prefix)
	for len(out) < limit {
		resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithKeysOnly(),
			clientv3.WithLimit(int64(min(findPage, limit-len(out)))))
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			if len(k) != len(prefix)+16 {
				continue // another conversation whose name this one's starts
			}
			keys = append(keys, s.p+"outbox/d/"+k[len(prefix):])
		}
		kvs, err := s.getAll(ctx, rev, keys...)
		if err != nil {
			return nil, err
		}
		got, err := s.waitingOf(kvs, keys, "conversation")
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return out, nil
}

// ManyWaiting reads the deliveries of ids still waiting, as of one
// revision, as many to a transaction as etcd takes (bot.ManyWaiting); the
// others are left out.
func (s *Store) ManyWaiting(ctx context.Context, ids []uint64) ([]flows.Delivery, error) {
	var out []flows.Delivery
	err := s.read(ctx, "waiting deliveries", func(ctx context.Context) error {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.outboxKey(id)
		}
		kvs, err := s.getAll(ctx, 0, keys...)
		if err != nil {
			return err
		}
		out, err = s.waitingOf(kvs, keys, "")
		return err
	})
	return out, err
}

// waitingOf decodes the deliveries read as kvs (at keys), remembering each
// for Delivered. A key not stored is left out when index is "", and is an
// error naming the index that named it otherwise.
func (s *Store) waitingOf(kvs []*mvccpb.KeyValue, keys []string, index string) ([]flows.Delivery, error) {
	out := make([]flows.Delivery, 0, len(kvs))
	for i, kv := range kvs {
		if kv == nil {
			if index == "" {
				continue
			}
			return nil, fmt.Errorf("the %s index names %s, which is not stored", index, keys[i])
		}
		rec, err := decodeDelivery(kv)
		if err != nil {
			return nil, err
		}
		d := rec.Delivery()
		s.waiting.add(kv.ModRevision, d)
		out = append(out, d)
	}
	return out, nil
}

// Held implements flows.Outbox: the deliveries of holder, in id order,
// read from their index as of one revision.
func (s *Store) Held(ctx context.Context, holder string, limit int) ([]flows.Delivery, error) {
	if holder == "" || limit <= 0 {
		return nil, nil
	}
	var out []flows.Delivery
	err := s.read(ctx, "held deliveries", func(ctx context.Context) error {
		prefix := s.outboxHeld(holder)
		resp, err := s.cli.Get(ctx, prefix, clientv3.WithRange(rangeEnd(prefix)), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(limit)))
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			keys = append(keys, s.p+"outbox/d/"+string(kv.Key[len(prefix):]))
		}
		kvs, err := s.getAll(ctx, resp.Header.Revision, keys...)
		if err != nil {
			return err
		}
		out, err = s.waitingOf(kvs, keys, "held")
		return err
	})
	return out, err
}

// removeDelivery reads delivery id and adds its removal, with its index
// entries, to c; found is false when there is none.
func (s *Store) removeDelivery(ctx context.Context, c *change, id uint64) (rec record.Delivery, found bool, err error) {
	k := s.outboxKey(id)
	kvs, err := s.getAll(ctx, 0, k)
	if err != nil || kvs[0] == nil {
		return rec, false, err
	}
	if rec, err = decodeDelivery(kvs[0]); err != nil {
		return rec, false, err
	}
	c.unchanged(k, kvs[0])
	c.del(k)
	c.del(s.outboxConv(rec.Conversation) + hex16(id))
	c.del(s.outboxCreatedKey(rec))
	c.del(s.outboxMarkKey(id))
	if rec.Holder != "" {
		c.del(s.outboxHeldKey(rec.Holder, id))
	}
	if rec.Coalesce != "" {
		co := s.outboxCoKey(rec.Conversation, rec.Coalesce)
		got, err := s.getAll(ctx, 0, co)
		if err != nil {
			return rec, false, err
		}
		// The index names this delivery as long as it waits (a newer one
		// with the same Coalesce is coalesced into it, never indexed
		// beside it), so it goes with it.
		if got[0] != nil && string(got[0].Value) == hex16(id) {
			c.unchanged(co, got[0])
			c.del(co)
		}
	}
	return rec, true, nil
}

// Delivered implements flows.Outbox: the delivery goes, and the message it
// created joins its request's message refs, in one transaction.
func (s *Store) Delivered(ctx context.Context, id uint64, ref *flows.MessageRef) error {
	return s.retry(ctx, fmt.Sprintf("delivered %d", id), func(ctx context.Context) (bool, error) {
		if w, ok := s.waiting.take(id); ok {
			// As this process read or wrote it: unchanged since, or the
			// transaction fails and the next attempt reads it.
			c := &change{}
			k := s.outboxKey(id)
			c.cmps = append(c.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", w.rev))
			c.del(k)
			c.del(s.outboxConv(w.conversation) + hex16(id))
			c.del(s.outboxCreatedKey(record.Delivery{ID: id, CreatedAt: w.createdAt}))
			c.del(s.outboxMarkKey(id))
			if w.holder != "" {
				c.del(s.outboxHeldKey(w.holder, id))
			}
			if w.coalesce != "" {
				co := s.outboxCoKey(w.conversation, w.coalesce)
				c.cmps = append(c.cmps, clientv3.Compare(clientv3.Value(co), "=", hex16(id)))
				c.del(co)
			}
			if ref != nil && w.requestID != "" {
				if err := s.putMessageRef(c, w.requestID, *ref); err != nil {
					return false, err
				}
			}
			return s.commitShared(ctx, c)
		}
		c := &change{}
		rec, found, err := s.removeDelivery(ctx, c, id)
		switch {
		case err != nil:
			return false, err
		case !found:
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)}
		}
		if ref != nil && rec.RequestID != "" {
			if err := s.putMessageRef(c, flows.RequestID(rec.RequestID), *ref); err != nil {
				return false, err
			}
		}
		return s.commit(ctx, c)
	})
}

// Postpone implements flows.Outbox.
func (s *Store) Postpone(ctx context.Context, id uint64, notBefore time.Time) error {
	s.waiting.take(id) // read afresh: its refusals need the record as stored
	return s.retry(ctx, fmt.Sprintf("postpone delivery %d", id), func(ctx context.Context) (bool, error) {
		k := s.outboxKey(id)
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil {
			return false, err
		}
		if kvs[0] == nil {
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)}
		}
		rec, err := decodeDelivery(kvs[0])
		if err != nil {
			return false, err
		}
		rec.Attempts++
		rec.NotBefore = notBefore
		c := &change{}
		c.unchanged(k, kvs[0])
		if err := s.putDelivery(c, rec); err != nil {
			return false, err
		}
		return s.commit(ctx, c)
	})
}

// Sending implements flows.Outbox in one transaction: if the delivery
// waits (and the fence in ctx holds), read its mark and put the new one.
func (s *Store) Sending(ctx context.Context, id uint64, mark flows.SendMark) (*flows.SendMark, error) {
	raw, err := json.Marshal(mark)
	if err != nil {
		return nil, fmt.Errorf("encode the mark of delivery %d: %w", id, err)
	}
	var prev *flows.SendMark
	err = s.retry(ctx, fmt.Sprintf("mark delivery %d as sending", id), func(ctx context.Context) (bool, error) {
		mk := s.outboxMarkKey(id)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.outboxKey(id)), ">", 0)}
		f, fenced := fenceOf(ctx)
		if fenced {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Revision))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpGet(mk), clientv3.OpPut(mk, string(raw))).Commit()
		if err != nil {
			return false, err
		}
		s.saw(resp.Header.Revision)
		if !resp.Succeeded {
			if fenced {
				if ok, err := s.fenceHolds(ctx, f); err != nil {
					return false, err
				} else if !ok {
					return false, ErrFenced
				}
			}
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)}
		}
		prev = nil
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			var m flows.SendMark
			if err := json.Unmarshal(kvs[0].Value, &m); err != nil {
				return false, fmt.Errorf("decode the mark of delivery %d: %w", id, err)
			}
			prev = &m
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// Drop implements flows.Outbox: the delivery goes and evs join the one
// audit chain in the same transaction.
func (s *Store) Drop(ctx context.Context, id uint64, evs ...flows.Event) error {
	s.waiting.take(id) // read afresh: rare
	return s.retry(ctx, fmt.Sprintf("drop delivery %d", id), func(ctx context.Context) (bool, error) {
		c := &change{}
		_, found, err := s.removeDelivery(ctx, c, id)
		switch {
		case err != nil:
			return false, err
		case !found:
			return false, refusal{flows.Errorf(flows.ENOTFOUND, "there is no delivery %d", id)}
		}
		if err := s.addEvents(c, evs...); err != nil {
			return false, err
		}
		return s.commit(ctx, c)
	})
}

// OutboxDepth implements flows.Outbox: etcd counts the created index, and
// its first entry names the oldest delivery; unnumbered answers
// (answers.go) wait too.
func (s *Store) OutboxDepth(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := s.read(ctx, "outbox depth", func(ctx context.Context) error {
		if err := s.finishStaged(ctx); err != nil {
			return err
		}
		prefix := s.outboxCreated()
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()),
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly()),
		).Commit()
		if err != nil {
			return err
		}
		n, oldest = int(resp.Responses[0].GetResponseRange().Count), time.Time{}
		answers, answered, err := s.answersWaiting(ctx, resp.Header.Revision)
		if err != nil {
			return err
		}
		n += answers
		first := resp.Responses[1].GetResponseRange().Kvs
		if len(first) == 0 {
			oldest = answered
			return nil
		}
		k := s.p + "outbox/d/" + string(first[0].Key)[len(prefix)+16:]
		kvs, err := s.getAll(ctx, resp.Header.Revision, k)
		if err != nil {
			return err
		}
		if kvs[0] == nil {
			return fmt.Errorf("the created index names %s, which is not stored", k)
		}
		rec, err := decodeDelivery(kvs[0])
		oldest = rec.CreatedAt
		if !answered.IsZero() && answered.Before(oldest) {
			oldest = answered
		}
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, oldest, nil
}

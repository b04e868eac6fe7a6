package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
)

// A staged enqueue. The dispatcher expands up to 256 audit records into
// deliveries and enqueues them with the cursor in one call, which must be
// all or nothing (flows.Outbox): a crash must neither lose an event's
// messages nor send them twice. Each delivery costs three or four keys, so
// a large enqueue does not fit in one etcd transaction (128 operations,
// 1.5 MiB). It is written in three steps:
//
//  1. stage: the keys to put, in chunks that each fit in a transaction,
//     under outbox/stage/<token>/<i>, invisible to every reader;
//  2. commit: one small transaction moves the cursor and the id sequence
//     and writes outbox/committed/<token>, on condition that what the
//     plan read is unchanged and every chunk is there. This is the moment
//     the deliveries exist;
//  3. store: each chunk's keys are put, and the chunk deleted, in one
//     transaction per chunk, on condition that the chunk is still there:
//     so each is stored exactly once, by the enqueuer or, should it die,
//     by whoever reads the outbox next (finishStaged: Pending, OutboxDepth
//     and every enqueue first finish what was committed).
//
// A stage that never commits (its enqueuer lost a race, or died) is
// dropped: by its enqueuer when its commit fails, else by the next staged
// enqueue once the id sequence has moved since the stage was written (its
// commit, conditioned on the sequence it read, can no longer succeed).

func (s *Store) stagePrefix() string     { return s.p + "outbox/stage/" }
func (s *Store) committedPrefix() string { return s.p + "outbox/committed/" }
func (s *Store) stageKey(token string, i int) string {
	return s.stagePrefix() + token + "/" + strconv.Itoa(i)
}

// stagedChunk is one chunk of a stage: the keys it puts.
type stagedChunk struct {
	Puts []kv `json:"puts"`
}

// chunkBytes bounds a chunk, well under a transaction's size limit.
const chunkBytes = 1 << 20

// enqueueStaged is Enqueue for deliveries that do not fit in one
// transaction. ok is false when the commit lost a race (plan again).
func (s *Store) enqueueStaged(ctx context.Context, cursor uint64, curKV *mvccpb.KeyValue, ds []flows.Delivery) (out []flows.Delivery, ok bool, err error) {
	if err := s.dropDeadStages(ctx); err != nil {
		return nil, false, err
	}
	// The commit's conditions: the cursor, the sequence, each chunk, the
	// marker and the fence, and two per coalesce key looked up.
	p, err := s.planEnqueue(ctx, ds, max(0, (s.maxOps-40)/2))
	if err != nil {
		return nil, false, err
	}
	var chunks []stagedChunk
	var cur stagedChunk
	ops, size := 0, 0
	for _, g := range p.puts {
		gsize := 0
		for _, x := range g {
			gsize += len(x.K) + len(x.V)
		}
		if gsize > chunkBytes {
			return nil, false, fmt.Errorf("%w: a delivery of %d KiB", ErrTooLarge, gsize>>10)
		}
		// A chunk's transaction also deletes the chunk and writes a marker.
		if len(cur.Puts) > 0 && (ops+len(g) > s.maxOps-3 || size+gsize > chunkBytes) {
			chunks, cur, ops, size = append(chunks, cur), stagedChunk{}, 0, 0
		}
		cur.Puts = append(cur.Puts, g...)
		ops, size = ops+len(g), size+gsize
	}
	if len(cur.Puts) > 0 {
		chunks = append(chunks, cur)
	}
	if len(chunks)+len(p.check.cmps)+4 > s.maxOps {
		return nil, false, fmt.Errorf("%w: %d deliveries make %d chunks", ErrTooLarge, len(ds), len(chunks))
	}

	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	token := hex.EncodeToString(b[:])
	for i, ch := range chunks {
		raw, err := json.Marshal(ch)
		if err != nil {
			return nil, false, fmt.Errorf("encode a staged chunk: %w", err)
		}
		c := &change{}
		c.put(s.stageKey(token, i), string(raw))
		if _, err := s.commit(ctx, c); err != nil {
			s.dropStage(ctx, token, i+1)
			return nil, false, err
		}
	}

	c := &change{cmps: p.check.cmps}
	if cursor != 0 {
		c.unchanged(s.outboxCursorKey(), curKV)
		c.put(s.outboxCursorKey(), strconv.FormatUint(cursor, 10))
	}
	for i := range chunks {
		c.cmps = append(c.cmps, clientv3.Compare(clientv3.CreateRevision(s.stageKey(token, i)), ">", 0))
	}
	c.put(s.outboxSeqKey(), strconv.FormatUint(p.seq, 10))
	c.put(s.committedPrefix()+token, strconv.Itoa(len(chunks)))
	if ok, err := s.commit(ctx, c); err != nil || !ok {
		s.dropStage(ctx, token, len(chunks))
		return nil, false, err
	}
	// Committed: whatever happens now, the deliveries are enqueued. An
	// error from here on must not make the caller enqueue them again.
	if s.afterStagedCommit != nil {
		if err := s.afterStagedCommit(); err != nil {
			return nil, true, refusal{err}
		}
	}
	if err := s.storeStage(ctx, token, len(chunks)); err != nil {
		return nil, true, refusal{fmt.Errorf("etcdstore: enqueue: the deliveries are enqueued, but storing them was interrupted (%w); the next read of the outbox finishes it", err)}
	}
	return p.out, true, nil
}

// storeStage puts the keys of each chunk of a committed stage, each chunk
// once, then forgets the stage.
func (s *Store) storeStage(ctx context.Context, token string, n int) error {
	committed := s.committedPrefix() + token
	for i := range n {
		k := s.stageKey(token, i)
		for {
			kvs, err := s.getAll(ctx, 0, k)
			if err != nil {
				return err
			}
			if kvs[0] == nil {
				break // stored already, by us or by a helper
			}
			var ch stagedChunk
			if err := json.Unmarshal(kvs[0].Value, &ch); err != nil {
				return fmt.Errorf("decode staged chunk %s: %w", k, err)
			}
			c := &change{}
			c.cmps = append(c.cmps, clientv3.Compare(clientv3.CreateRevision(committed), ">", 0))
			c.unchanged(k, kvs[0])
			for _, x := range ch.Puts {
				c.put(x.K, x.V)
			}
			c.del(k)
			ok, err := s.commit(ctx, c)
			if err != nil {
				return err
			}
			if ok {
				break
			}
		}
	}
	c := &change{}
	c.del(committed)
	_, err := s.commit(ctx, c)
	return err
}

// finishStaged stores what committed stages left unstored (their
// enqueuer died between the commit and the end): before anything reads or
// extends the outbox.
func (s *Store) finishStaged(ctx context.Context) error {
	resp, err := s.cli.Get(ctx, s.committedPrefix(), clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		token := strings.TrimPrefix(string(kv.Key), s.committedPrefix())
		n, err := strconv.Atoi(string(kv.Value))
		if err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if err := s.storeStage(ctx, token, n); err != nil {
			return fmt.Errorf("finish the staged enqueue %s: %w", token, err)
		}
	}
	return nil
}

// dropStage deletes the first n chunks of a stage that did not commit, as
// well as it can: what it misses, dropDeadStages finds.
func (s *Store) dropStage(ctx context.Context, token string, n int) {
	c := &change{}
	for i := range n {
		c.del(s.stageKey(token, i))
	}
	_, _ = s.commit(context.WithoutCancel(ctx), c)
}

// dropDeadStages deletes the chunks of stages that can no longer commit:
// written before the id sequence last moved, and not committed.
func (s *Store) dropDeadStages(ctx context.Context) error {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.stagePrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(s.maxOps-2))),
		clientv3.OpGet(s.committedPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(s.outboxSeqKey()),
	).Commit()
	if err != nil {
		return err
	}
	stages := resp.Responses[0].GetResponseRange().Kvs
	if len(stages) == 0 {
		return nil
	}
	committed := map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		committed[strings.TrimPrefix(string(kv.Key), s.committedPrefix())] = true
	}
	var seqRev int64
	if seq := resp.Responses[2].GetResponseRange().Kvs; len(seq) > 0 {
		seqRev = seq[0].ModRevision
	}
	c := &change{}
	for _, kv := range stages {
		token, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), s.stagePrefix()), "/")
		if !committed[token] && kv.CreateRevision < seqRev {
			c.del(string(kv.Key))
		}
	}
	if len(c.ops) == 0 {
		return nil
	}
	_, err = s.commit(ctx, c)
	return err
}

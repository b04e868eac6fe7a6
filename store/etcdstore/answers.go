package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// Unnumbered answers. Every inbox item's finish answers its sender
// through the outbox, and a delivery's id comes from the outbox's one
// sequence key: were the finish to number its answers, every inbox worker
// of every replica would condition its transaction on that key, and the
// leader's dispatcher, whose enqueues are the large ones, would lose
// nearly every race to them (the HA scenario at 100 requests/s: the outbox
// stalled). So a finish writes its answers unnumbered, outbox/p/<writer>/<n>
// (a key nobody else writes, as the audit log's pending records), and the
// dispatcher numbers them (NumberAnswers), in the order etcd committed
// them, each batch in one transaction that adds them to the outbox as
// Enqueue would and deletes their unnumbered keys. Only the dispatcher
// writes the sequence, so only it meets itself there.
//
// That is also how the leader hears of answers another replica's inbox
// added: its dispatcher numbers them every time it looks for work, and
// schedules what it numbered.

func (s *Store) answerPrefix() string { return s.p + "outbox/p/" }

// addAnswers adds ds to c unnumbered, and returns them as stored (ID 0).
func (s *Store) addAnswers(c *change, ds []flows.Delivery) ([]flows.Delivery, error) {
	out := make([]flows.Delivery, 0, len(ds))
	for _, dl := range ds {
		rec := record.NewDelivery(dl)
		rec.ID = 0
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode an answer for %s: %w", dl.Conversation, err)
		}
		c.put(s.ownKey(s.answerPrefix()), string(raw))
		d := rec.Delivery()
		d.Payload = bytes.Clone(d.Payload)
		out = append(out, d)
	}
	return out, nil
}

// unnumbered reads the keys of the answers committed at or before until
// (0: now, which it returns) in the order they were committed.
func (s *Store) unnumbered(ctx context.Context, until int64) (rev, upTo int64, keys []*mvccpb.KeyValue, err error) {
	resp, err := s.cli.Get(ctx, s.answerPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return 0, 0, nil, err
	}
	if until == 0 {
		until = resp.Header.Revision
	}
	return resp.Header.Revision, until, inCommitOrder(resp.Kvs, until), nil
}

// NumberAnswers adds to the outbox, numbered, every answer unnumbered when
// it starts, and returns them as stored (bot's dispatcher calls it each
// time it looks for work). An answer that coalesces into a waiting
// delivery comes back as that delivery, updated. It works in rounds of a
// few transactions, each round within one request's time, so that a
// backlog (a change of leader leaves thousands) goes through.
func (s *Store) NumberAnswers(ctx context.Context) ([]flows.Delivery, error) {
	var out []flows.Delivery
	var until int64
	for {
		more := false
		err := s.retry(ctx, "number the answers", func(ctx context.Context) (bool, error) {
			ds, ok, left, err := s.numberRound(ctx, &until)
			out, more = append(out, ds...), left
			return ok, err
		})
		if err != nil || !more {
			return out, err
		}
	}
}

// answerRounds bounds the transactions of one round of NumberAnswers.
const answerRounds = 8

// numberRound numbers up to answerRounds transactions' worth of answers
// and returns them. ok is false when the outbox moved under it (read
// again); more says that answers are left for another round.
func (s *Store) numberRound(ctx context.Context, until *int64) (out []flows.Delivery, ok, more bool, err error) {
	rev, upTo, keys, err := s.unnumbered(ctx, *until)
	if err != nil {
		return nil, false, false, err
	}
	*until = upTo
	n := min(len(keys), maxCombinedDeliveries)
	for round := 0; len(keys) > 0; {
		if round == answerRounds {
			return out, true, true, nil
		}
		n = min(n, len(keys))
		batch := make([]string, n)
		for i, kv := range keys[:n] {
			batch[i] = string(kv.Key)
		}
		kvs, err := s.getAll(ctx, rev, batch...)
		if err != nil {
			return out, false, false, err
		}
		ds := make([]flows.Delivery, n)
		for i, kv := range kvs {
			if kv == nil {
				return out, false, false, fmt.Errorf("the answer %s vanished from revision %d", batch[i], rev)
			}
			rec, err := decodeDelivery(kv)
			if err != nil {
				return out, false, false, err
			}
			ds[i] = rec.Delivery()
		}
		if coalescing(ds) {
			if err := s.finishStaged(ctx); err != nil {
				return out, false, false, err
			}
		}
		p, err := s.planEnqueue(ctx, ds, n)
		if err != nil {
			return out, false, false, err
		}
		// Each answer's delete and condition, the marker's, the
		// sequence's put.
		if n > 1 && (p.ops()+n+2 > s.maxOps || len(p.check.cmps)+n+1 > s.maxOps || p.nbytes > maxRequestBytes) {
			n /= 2
			continue
		}
		c := &change{}
		s.apply(c, p)
		for i, kv := range kvs {
			c.unchanged(batch[i], kv)
			c.del(batch[i])
		}
		ok, rev, err := s.commitAt(ctx, c)
		if err != nil || !ok {
			return out, false, false, err // numbered by another, or the outbox moved: read again
		}
		s.waiting.add(rev, p.out...)
		out = append(out, p.out...)
		keys = keys[n:]
		round++
	}
	return out, true, false, nil
}

// answersWaiting counts the unnumbered answers as of rev and finds the
// oldest one's CreatedAt (OutboxDepth: they wait as the numbered ones do).
func (s *Store) answersWaiting(ctx context.Context, rev int64) (n int, oldest time.Time, err error) {
	resp, err := s.cli.Get(ctx, s.answerPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, kv := range resp.Kvs {
		rec, err := decodeDelivery(kv)
		if err != nil {
			return 0, time.Time{}, err
		}
		if oldest.IsZero() || rec.CreatedAt.Before(oldest) {
			oldest = rec.CreatedAt
		}
	}
	return len(resp.Kvs), oldest, nil
}

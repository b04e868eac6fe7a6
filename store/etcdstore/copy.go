package etcdstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// Export calls fn with every piece of the store's state, kind by kind in
// record.Kinds' order, as of one revision (`jitbot store copy`; see
// record.Piece). Indexes are left out: they follow from the records; so
// are the markers of settled transactions and the election's keys. A
// staged enqueue that committed is stored first, as any reader of the
// outbox does, and pending audit records are chained first, as any reader
// of the log does. Counters at zero are left out, so an empty prefix
// exports nothing.
func (s *Store) Export(ctx context.Context, fn func(record.Piece) error) error {
	if err := s.read(ctx, "finish staged enqueues", s.finishStaged); err != nil {
		return err
	}
	if err := s.seal(ctx, 0); err != nil {
		return err
	}
	rev, err := s.Revision(ctx)
	if err != nil {
		return err
	}
	scan := func(prefix string, f func(key string, kv *mvccpb.KeyValue) error) error {
		return s.scan(ctx, "export "+prefix, s.p+prefix, rev, func(kv *mvccpb.KeyValue) error {
			return f(string(kv.Key[len(s.p)+len(prefix):]), kv)
		})
	}
	hexSeq := func(k string) (uint64, error) { return strconv.ParseUint(k, 16, 64) }
	steps := []func() error{
		func() error {
			return scan("req/", func(k string, kv *mvccpb.KeyValue) error {
				return fn(record.Piece{Kind: record.KindRequest, Key: k, Value: kv.Value})
			})
		},
		func() error {
			return scan("idem/", func(k string, kv *mvccpb.KeyValue) error {
				return fn(record.Piece{Kind: record.KindIdempotency, Key: k, Value: kv.Value})
			})
		},
		func() error {
			return scan("audit/r/", func(k string, kv *mvccpb.KeyValue) error {
				seq, err := hexSeq(k)
				if err != nil {
					return fmt.Errorf("audit record key %q: %w", kv.Key, err)
				}
				return fn(record.Piece{Kind: record.KindAudit, Seq: seq, Value: kv.Value})
			})
		},
		func() error {
			// A request's refs in the order etcd created them (their keys'
			// suffixes are random).
			type ref struct {
				id  string
				rev int64
				v   []byte
			}
			var refs []ref
			if err := scan("msgref/", func(k string, kv *mvccpb.KeyValue) error {
				id, _, ok := strings.Cut(k, "\x00")
				if !ok {
					return fmt.Errorf("message ref key %q", kv.Key)
				}
				refs = append(refs, ref{id, kv.CreateRevision, kv.Value})
				return nil
			}); err != nil {
				return err
			}
			slices.SortStableFunc(refs, func(a, b ref) int { return cmp.Or(strings.Compare(a.id, b.id), cmp.Compare(a.rev, b.rev)) })
			for _, r := range refs {
				if err := fn(record.Piece{Kind: record.KindMessageRef, Key: r.id, Value: r.v}); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			return scan("contact/", func(k string, kv *mvccpb.KeyValue) error {
				return fn(record.Piece{Kind: record.KindContact, Key: k, Value: kv.Value})
			})
		},
		func() error {
			return scan("inbox/item/", func(k string, kv *mvccpb.KeyValue) error {
				return fn(record.Piece{Kind: record.KindInbox, Key: k, Value: kv.Value})
			})
		},
		func() error {
			return scan("outbox/d/", func(k string, kv *mvccpb.KeyValue) error {
				id, err := hexSeq(k)
				if err != nil {
					return fmt.Errorf("delivery key %q: %w", kv.Key, err)
				}
				return fn(record.Piece{Kind: record.KindDelivery, Seq: id, Value: kv.Value})
			})
		},
		func() error {
			return scan("outbox/co/", func(k string, kv *mvccpb.KeyValue) error {
				id, err := hexSeq(string(kv.Value))
				if err != nil {
					return fmt.Errorf("coalesce index %q: %w", kv.Key, err)
				}
				return fn(record.Piece{Kind: record.KindCoalesce, Key: k, Seq: id})
			})
		},
		func() error {
			var kvs []*mvccpb.KeyValue
			if err := s.read(ctx, "export the outbox's counters", func(ctx context.Context) error {
				var err error
				kvs, err = s.getAll(ctx, rev, s.outboxSeqKey(), s.outboxCursorKey())
				return err
			}); err != nil {
				return err
			}
			for i, kind := range []record.Kind{record.KindOutboxSeq, record.KindOutboxCursor} {
				n, err := decodeUint(kvs[i])
				if err != nil || n == 0 {
					if err != nil {
						return err
					}
					continue
				}
				if err := fn(record.Piece{Kind: kind, Seq: n}); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			return scan("signin/", func(k string, kv *mvccpb.KeyValue) error {
				return fn(record.Piece{Kind: record.KindSignIn, Key: k, Value: kv.Value})
			})
		},
		func() error {
			return scan("auditsink/", func(k string, kv *mvccpb.KeyValue) error {
				sink, err := url.PathUnescape(k)
				if err != nil {
					return fmt.Errorf("audit sink cursor key %q: %w", kv.Key, err)
				}
				n, err := decodeUint(kv)
				if err != nil {
					return err
				}
				return fn(record.Piece{Kind: record.KindSinkCursor, Key: sink, Seq: n})
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Import writes pieces (another store's Export) under the store's prefix,
// with the indexes they imply and the audit head after the last record,
// in transactions as large as the cluster takes. It is for an empty
// prefix nobody else writes to (`jitbot store copy` checks both); what it
// writes is verified by the caller against the source. A request's
// message refs are written one round per position, so that etcd creates
// them in their order (MessageRefs reads them by creation).
func (s *Store) Import(ctx context.Context, pieces iter.Seq[record.Piece]) error {
	b := &importBatch{s: s, c: &change{}}
	var head auditHead
	refs := map[string][]string{}
	for p := range pieces {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.add(ctx, p, &head, refs); err != nil {
			return fmt.Errorf("etcdstore: import %s %q %d: %w", p.Kind, p.Key, p.Seq, err)
		}
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(refs))
	for id := range refs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i := 0; ; i++ {
		any := false
		for _, id := range ids {
			if i < len(refs[id]) {
				b.put(ctx, s.msgRefPrefix(flows.RequestID(id))+hex16(uint64(i)), refs[id][i])
				any = true
			}
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		if !any {
			break
		}
	}
	if head.Seq > 0 {
		s.putHead(b.c, head)
	}
	return b.flush(ctx)
}

// importBatch gathers puts into transactions that fit.
type importBatch struct {
	s   *Store
	c   *change
	err error
}

func (b *importBatch) put(ctx context.Context, k, v string) {
	// One operation and one condition are the marker's.
	if len(b.c.ops)+2 > b.s.maxOps || b.c.bytes+len(k)+len(v) > chunkBytes {
		_ = b.flush(ctx)
	}
	b.c.put(k, v)
}

func (b *importBatch) flush(ctx context.Context) error {
	if b.err != nil || len(b.c.ops) == 0 {
		return b.err
	}
	c := b.c
	b.c = &change{}
	b.err = b.s.retry(ctx, fmt.Sprintf("import %d keys", len(c.ops)), func(ctx context.Context) (bool, error) {
		return b.s.commit(ctx, c)
	})
	return b.err
}

func (b *importBatch) add(ctx context.Context, p record.Piece, head *auditHead, refs map[string][]string) error {
	s := b.s
	switch p.Kind {
	case record.KindRequest:
		r, err := record.DecodeRequest(p.Value)
		if err != nil {
			return err
		}
		if string(r.ID) != p.Key {
			return fmt.Errorf("the record is request %q", r.ID)
		}
		b.put(ctx, s.reqKey(r.ID), string(p.Value))
		for _, k := range s.indexKeys(r) {
			b.put(ctx, k, "")
		}
	case record.KindIdempotency:
		b.put(ctx, s.idemKey(p.Key), string(p.Value))
	case record.KindAudit:
		var rec record.Audit
		if err := json.Unmarshal(p.Value, &rec); err != nil {
			return err
		}
		b.put(ctx, s.auditKey(p.Seq), string(p.Value))
		if p.Seq > head.Seq {
			*head = auditHead{Seq: p.Seq, Hash: rec.Hash}
		}
	case record.KindMessageRef:
		refs[p.Key] = append(refs[p.Key], string(p.Value))
	case record.KindContact:
		b.put(ctx, s.p+"contact/"+p.Key, string(p.Value))
	case record.KindInbox:
		var rec record.Inbox
		if err := json.Unmarshal(p.Value, &rec); err != nil {
			return err
		}
		b.put(ctx, s.inboxItemKey(p.Key), string(p.Value))
		if !rec.FinishedAt.IsZero() {
			b.put(ctx, s.inboxDoneKey(rec), "")
		} else {
			b.put(ctx, s.inboxNextKey(rec), "")
			b.put(ctx, s.inboxRecvKey(rec), "")
		}
	case record.KindDelivery:
		var rec record.Delivery
		if err := json.Unmarshal(p.Value, &rec); err != nil {
			return err
		}
		b.put(ctx, s.outboxKey(p.Seq), string(p.Value))
		b.put(ctx, s.outboxConv(rec.Conversation)+hex16(p.Seq), "")
		b.put(ctx, s.outboxCreatedKey(rec), "")
		if rec.Holder != "" {
			b.put(ctx, s.outboxHeldKey(rec.Holder, p.Seq), "")
		}
	case record.KindCoalesce:
		b.put(ctx, s.p+"outbox/co/"+p.Key, hex16(p.Seq))
	case record.KindOutboxSeq:
		b.put(ctx, s.outboxSeqKey(), strconv.FormatUint(p.Seq, 10))
	case record.KindOutboxCursor:
		b.put(ctx, s.outboxCursorKey(), strconv.FormatUint(p.Seq, 10))
	case record.KindSignIn:
		b.put(ctx, s.signInPrefix()+p.Key, string(p.Value))
	case record.KindSinkCursor:
		b.put(ctx, s.sinkCursorKey(p.Key), strconv.FormatUint(p.Seq, 10))
	default:
		return errors.New("a piece of a kind this jitbot does not know")
	}
	return b.err
}

// Serving reports whether a jitbot runs on the store: a replica's
// campaign key is under the election's prefix while it lives (its lease
// lasts 10 s past its death).
func (s *Store) Serving(ctx context.Context) (bool, error) {
	var n int
	err := s.read(ctx, "look for running replicas", func(ctx context.Context) error {
		var err error
		n, err = s.count(ctx, s.p+"election/")
		return err
	})
	return n > 0, err
}

// Clear deletes every key under the store's prefix and writes the schema
// version again: an empty store (`jitbot store copy -force`).
func (s *Store) Clear(ctx context.Context) error {
	err := s.read(ctx, "clear "+s.p, func(ctx context.Context) error {
		_, err := s.cli.Delete(ctx, s.p, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return err
	}
	return s.checkSchema(ctx)
}

package etcdstore

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/jitbot/jitbot/flows"
)

// Keys, all under the configured prefix (p):
//
//	p schema                                the layout version (SchemaVersion)
//	p req/<id>                              a request (requestRecord, JSON)
//	p idx/requester/<email> 0 <created><id> every request of a person
//	p idx/live/<email> 0 <created><id>      the ones not over yet
//	p idx/approver/<email> 0 <id>           awaiting that person's decision
//	p idx/state/<state> 0 <created><id>     by state (CountByState counts them)
//	p idx/due/<due><id>                     by when the sweep must look at it
//	p idx/expiry/<expires><id>              active grants by expiry
//	p idem/<key>                            idempotency key -> request id
//	p audit/head                            the last record's seq and hash
//	p audit/r/<seq>                         one audit record (record.Audit)
//	p audit/p/<writer>/<n>                  a record not chained yet (audit.go)
//	p msgref/<request id> 0 <random>        a message sent about a request
//	p contact/<platform> 0 <key>            a platform's contact data
//	p idxwork/<id>                          approver index still to write (indexwork.go)
//	p txn/<random>                          a transaction's marker (marker.go)
//	p inbox/..., p outbox/...               inbox.go, outbox.go, stage.go
//
// Times and numbers are 16 hex digits, so keys sort as they do. Every
// change is one transaction that compares the revisions of the keys it
// read (compare-and-swap) and is tried again, from a fresh read, when
// another writer changed them first. Counters that every write would
// touch (how many requests per state, how many items wait) are not kept:
// etcd counts a key range itself (WithCountOnly), so no key becomes a spot
// every writer fights over. The chain's head would be one, so transitions
// leave their events pending and the log's reader chains them (audit.go).
//
// Limits: a transaction holds at most MaxTxnOps operations (128 unless the
// cluster was told otherwise) and a request is at most 1.5 MiB (etcd's
// --max-request-bytes). A request's change (its indexes, its audit events)
// that would exceed either is refused whole with ErrTooLarge, never split,
// but for its approver index, as large as a flow's group of approvers,
// which follows it (indexwork.go). An enqueue larger than a transaction
// is staged and committed by one small transaction (stage.go).
// Concurrent transitions of one process share transactions, as many as
// one holds (combine.go): UpdateMany's requests too, each standing alone.

// SchemaVersion is the key layout this jitbot writes.
const SchemaVersion = 1

// maxRequestBytes stays under etcd's default --max-request-bytes (1.5
// MiB), with room for the transaction's framing.
const maxRequestBytes = 1400 << 10

// ErrTooLarge says a change would not fit in one etcd transaction.
var ErrTooLarge = errors.New("etcdstore: the change does not fit in one etcd transaction")

// ErrFenced says a write was conditioned on a fence (WithFence) that no
// longer holds: the replica that made it is no longer the leader.
var ErrFenced = errors.New("etcdstore: the write was refused: the fence it was made under no longer holds (leadership was lost)")

// Options tune New.
type Options struct {
	// Prefix is put before every key (DefaultPrefix).
	Prefix string
	// RequestTimeout bounds each operation, retries included
	// (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// MaxTxnOps is the cluster's --max-txn-ops (DefaultMaxTxnOps).
	MaxTxnOps int
}

// Store is jitbot's etcd store.
type Store struct {
	cli     *clientv3.Client
	own     bool      // Close closes cli
	leader  *leaderKV // cli's KV, aimed at etcd's leader (Open's; leaderkv.go)
	p       string
	timeout time.Duration
	maxOps  int
	marks   markers  // marker.go
	comb    combiner // combine.go
	enq     enqueuer // enqueue.go
	// inboxFront is where the inbox's next index begins (front.go).
	inboxFront front
	// inboxTag names this process in the seq of the inbox items it
	// receives (inbox.go).
	inboxTag uint64
	// leased are the inbox items this process leased, as committed, so
	// that finishing one need not read it first (inbox.go).
	leased leasedItems
	// waiting remembers the deliveries read or written, to remove them
	// without a read (waiting.go).
	waiting waitingDeliveries
	// writer names this process's pending audit records, pendingSeq
	// orders them (audit.go).
	writer     string
	pendingSeq atomic.Uint64
	// seen is the highest revision the store has been told of (order).
	seen atomic.Int64
	// shared shares the commits of concurrent Delivered and FinishInbox
	// calls (shared_commit.go).
	shared sharedBatcher
	// afterStagedCommit, when set (tests), runs between the commit of a
	// staged enqueue and the storing of its deliveries: its error stands
	// for a crash there.
	afterStagedCommit func() error
	// beforeSharedBatch, when set (tests), runs before each batch of
	// Delivered's changes is committed, with its size.
	beforeSharedBatch func(n int)
}

var (
	_ flows.Store       = (*Store)(nil)
	_ flows.AuditLog    = (*Store)(nil)
	_ flows.ChatState   = (*Store)(nil)
	_ flows.Inbox       = (*Store)(nil)
	_ flows.Outbox      = (*Store)(nil)
	_ flows.AuditReader = (*Store)(nil)
)

// Open connects to the cluster cfg names and opens the store on it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	ccfg := clientv3.Config{
		Endpoints: cfg.Endpoints, DialTimeout: set.dialTimeout, Username: cfg.Username, Password: cfg.Password,
		// A dead connection is noticed within seconds, not when the OS
		// gives up on it.
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
		Context: context.WithoutCancel(ctx),
		// The client's own retries and reconnections are its business;
		// what fails reaches jitbot's log as the store's error.
		LogConfig: &zap.Config{Level: zap.NewAtomicLevelAt(zap.ErrorLevel), Encoding: "json",
			EncoderConfig: zap.NewProductionEncoderConfig(), OutputPaths: []string{"stderr"}, ErrorOutputPaths: []string{"stderr"}},
	}
	if cfg.TLS != nil {
		if ccfg.TLS, err = cfg.TLS.config(); err != nil {
			return nil, fmt.Errorf("etcdstore: %w", err)
		}
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("etcdstore: connect to %v: %w", cfg.Endpoints, err)
	}
	var follow *leaderKV
	if len(cfg.Endpoints) > 0 {
		lead, err := clientv3.New(ccfg)
		if err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("etcdstore: connect to %v: %w", cfg.Endpoints, err)
		}
		follow = followLeader(cli, lead, cfg.Endpoints)
	}
	s, err := New(ctx, cli, Options{Prefix: set.prefix, RequestTimeout: set.requestTimeout, MaxTxnOps: set.maxOps})
	if err != nil {
		if follow != nil {
			_ = follow.close()
		}
		_ = cli.Close()
		return nil, err
	}
	s.own, s.leader = true, follow
	return s, nil
}

// New opens the store on a client the caller keeps (and closes): the
// tests, and a replica that shares its client with leader election.
func New(ctx context.Context, cli *clientv3.Client, opts Options) (*Store, error) {
	var w [8]byte
	_, _ = crand.Read(w[:]) // never fails (crypto/rand)
	s := &Store{cli: cli, p: opts.Prefix, timeout: opts.RequestTimeout, maxOps: opts.MaxTxnOps, writer: hex.EncodeToString(w[:]),
		inboxTag: uint64(w[0])<<16 | uint64(w[1])<<8 | uint64(w[2])}
	if s.p == "" {
		s.p = DefaultPrefix
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.maxOps <= 0 {
		s.maxOps = DefaultMaxTxnOps
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSchema writes the layout version into an empty prefix, and refuses
// one written by a later jitbot.
func (s *Store) checkSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	k := s.p + "schema"
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, strconv.Itoa(SchemaVersion))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return fmt.Errorf("etcdstore: read the schema version under %s: %w", s.p, err)
	}
	s.saw(resp.Header.Revision)
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return fmt.Errorf("etcdstore: the schema version under %s vanished while read", s.p)
	}
	v, err := strconv.Atoi(string(kvs[0].Value))
	switch {
	case err != nil || v < 1:
		return fmt.Errorf("etcdstore: %s holds schema version %q, which jitbot did not write", s.p, kvs[0].Value)
	case v > SchemaVersion:
		return fmt.Errorf("etcdstore: %s holds schema version %d; this jitbot reads version %d and earlier", s.p, v, SchemaVersion)
	}
	return nil
}

// Close closes the client when Open made it.
func (s *Store) Close() error {
	if !s.own {
		return nil
	}
	var err error
	if s.leader != nil {
		err = s.leader.close()
	}
	return errors.Join(err, s.cli.Close())
}

// Client is the store's etcd client (for leader election on the same
// connection).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the prefix of every key the store writes.
func (s *Store) Prefix() string { return s.p }

// Fence is a condition every write must meet: that Key was created at
// Revision. An etcd election's leader key is created when a candidate
// wins, so a write under the leader's fence fails once another leads.
type Fence struct {
	Key      string // the full key, not under the store's prefix
	Revision int64  // its CreateRevision
}

type fenceKey struct{}

// WithFence returns a context under which every write of the store is
// also conditioned on f; a write that finds f broken fails with ErrFenced
// and writes nothing.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

func fenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// saw records that the cluster has reached revision rev.
func (s *Store) saw(rev int64) {
	for {
		cur := s.seen.Load()
		if rev <= cur || s.seen.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// order is a number that orders what this store writes after what it
// has seen written, by it or by anyone: the highest revision it was told
// of. A write made after another one's answer came back orders after it
// (the answer carried that write's revision); between writes that nobody
// waited on, any order is true. It breaks ties between inbox items
// received at the same instant; nothing else depends on it.
func (s *Store) order() uint64 { return uint64(s.seen.Load()) }

// hex16 is n as 16 hex digits: numbers in keys sort as numbers.
func hex16(n uint64) string { return fmt.Sprintf("%016x", n) }

// at is t as a key: nanoseconds since 1970, clamped to what fits.
func at(t time.Time) string {
	switch {
	case t.Before(time.Unix(0, 0)):
		return hex16(0)
	case t.After(time.Unix(0, math.MaxInt64)):
		return hex16(math.MaxInt64)
	}
	return hex16(uint64(t.UnixNano()))
}

// change is one attempt's transaction: the compares that what it read
// justifies, and its operations.
type change struct {
	cmps  []clientv3.Cmp
	ops   []clientv3.Op
	at    map[string]int // the op of each key: etcd refuses a key twice in one transaction
	bytes int
}

// set makes op the one operation on k (the last one asked for wins, as
// it would if they ran in turn).
func (c *change) set(k string, op clientv3.Op, size int) {
	if c.at == nil {
		c.at = map[string]int{}
	}
	c.bytes += size
	if i, ok := c.at[k]; ok {
		c.ops[i] = op
		return
	}
	c.at[k] = len(c.ops)
	c.ops = append(c.ops, op)
}

func (c *change) put(k, v string) { c.set(k, clientv3.OpPut(k, v), len(k)+len(v)) }

// merge adds the operations of o to c (its compares are the caller's).
func (c *change) merge(o *change) {
	keys := make([]string, len(o.ops))
	for k, i := range o.at {
		keys[i] = k
	}
	for i, op := range o.ops {
		c.set(keys[i], op, 0)
	}
	c.bytes += o.bytes
}

func (c *change) del(k string) { c.set(k, clientv3.OpDelete(k), len(k)) }

// unchanged compares kv's revision: the key is as it was read (absent
// when kv is nil).
func (c *change) unchanged(k string, kv *mvccpb.KeyValue) {
	if kv == nil {
		c.cmps = append(c.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		return
	}
	c.cmps = append(c.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision))
}

// commit sends c; applied is false when a compare failed (someone wrote
// first: read again and retry). A fence in ctx joins the compares; a
// broken fence is ErrFenced.
func (s *Store) commit(ctx context.Context, c *change) (applied bool, err error) {
	applied, _, err = s.commitAt(ctx, c)
	return applied, err
}

// commitAt is commit that also says the revision c was applied at (each
// key it put was modified at it), 0 when not known (a commit whose
// outcome was settled afterwards).
func (s *Store) commitAt(ctx context.Context, c *change) (applied bool, rev int64, err error) {
	if len(c.ops) == 0 && len(c.cmps) == 0 {
		return true, 0, nil
	}
	cmps := c.cmps
	f, fenced := fenceOf(ctx)
	if fenced {
		cmps = append(cmps[:len(cmps):len(cmps)], clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Revision))
	}
	// One operation and one condition are the marker's (marker.go).
	if len(c.ops)+1 > s.maxOps || len(cmps)+1 > s.maxOps {
		return false, 0, fmt.Errorf("%w: %d operations and %d conditions, more than the cluster's %d (max_txn_ops)", ErrTooLarge, len(c.ops), len(cmps), s.maxOps)
	}
	if c.bytes > maxRequestBytes {
		return false, 0, fmt.Errorf("%w: %d KiB, more than etcd takes in one request", ErrTooLarge, c.bytes>>10)
	}
	lease, err := s.markerLease(ctx)
	if err != nil {
		return false, 0, err
	}
	marker := s.newMarker()
	cmps = append(cmps[:len(cmps):len(cmps)], clientv3.Compare(clientv3.CreateRevision(marker), "=", 0))
	ops := append(c.ops[:len(c.ops):len(c.ops)], clientv3.OpPut(marker, "", clientv3.WithLease(lease)))
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err == nil {
		s.saw(resp.Header.Revision)
	}
	switch {
	case err != nil && leaseGone(err):
		s.forgetLease(lease)
		return false, 0, nil // refused as a whole: again, with a new lease
	case err != nil:
		applied, err := s.settle(ctx, marker, lease)
		return applied, 0, err
	}
	if !resp.Succeeded && fenced {
		if ok, err := s.fenceHolds(ctx, f); err != nil {
			return false, 0, err
		} else if !ok {
			return false, 0, ErrFenced
		}
	}
	if !resp.Succeeded {
		return false, 0, nil
	}
	return true, resp.Header.Revision, nil
}

func (s *Store) fenceHolds(ctx context.Context, f Fence) (bool, error) {
	resp, err := s.cli.Get(ctx, f.Key)
	if err != nil {
		return false, err
	}
	return len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == f.Revision, nil
}

// refusal carries an answer for people (a conflict, a request not found)
// out of an attempt: it ends the retries and is returned as it is.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// retry runs attempt until it reports done, within the store's request
// timeout. attempt reads afresh every time and returns done=false when its
// transaction lost a race (commit's applied=false). Its errors are wrapped
// with what; a refusal is returned as it is.
func (s *Store) retry(ctx context.Context, what string, attempt func(ctx context.Context) (done bool, err error)) error {
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for i := 0; ; i++ {
		done, err := attempt(ctx)
		var r refusal
		switch {
		case errors.As(err, &r):
			return r.err
		case errors.Is(err, ErrFenced) || errors.Is(err, ErrTooLarge):
			return err
		case err != nil && transient(err) && ctx.Err() == nil:
			// etcd had no leader for a moment, or a member went away:
			// the same attempt, after a pause.
		case err != nil:
			return unreachable(caller, err, fmt.Errorf("etcdstore: %s: %w", what, err))
		case done:
			return nil
		}
		if err != nil {
			if werr := s.pause(ctx, i); werr != nil {
				return unreachable(caller, err, fmt.Errorf("etcdstore: %s: %w (gave up: %w)", what, err, werr))
			}
			continue
		}
		// Lost a race: at once the first times, then with a growing,
		// jittered pause so that writers fighting over one key (the audit
		// head) spread out.
		if i < 2 {
			continue
		}
		if err := s.pause(ctx, i); err != nil {
			return fmt.Errorf("etcdstore: %s: gave up after %d attempts lost to other writers: %w", what, i+1, err)
		}
	}
}

// pause waits a jittered time that grows with the attempt, or until ctx
// ends (its error).
func (s *Store) pause(ctx context.Context, attempt int) error {
	if s.leader != nil {
		s.leader.nudge() // a change of etcd's leader shows as a failure
	}
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// read runs fn under the request timeout (a read has no race to retry).
func (s *Store) read(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for i := 0; ; i++ {
		err := fn(ctx)
		var r refusal
		switch {
		case err == nil:
			return nil
		case errors.As(err, &r):
			return r.err
		case transient(err) && ctx.Err() == nil:
			if werr := s.pause(ctx, i+2); werr == nil {
				continue
			}
		}
		return unreachable(caller, err, fmt.Errorf("etcdstore: %s: %w", what, err))
	}
}

// getAll reads keys in one snapshot (one transaction of gets, in chunks of
// what a transaction holds when there are many); a missing key is nil.
// rev, when not 0, reads as of that revision.
func (s *Store) getAll(ctx context.Context, rev int64, keys ...string) ([]*mvccpb.KeyValue, error) {
	out := make([]*mvccpb.KeyValue, 0, len(keys))
	for start := 0; start < len(keys); start += s.maxOps {
		chunk := keys[start:min(start+s.maxOps, len(keys))]
		ops := make([]clientv3.Op, len(chunk))
		for i, k := range chunk {
			if rev > 0 {
				ops[i] = clientv3.OpGet(k, clientv3.WithRev(rev))
			} else {
				ops[i] = clientv3.OpGet(k)
			}
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		s.saw(resp.Header.Revision)
		if rev == 0 && len(keys) > s.maxOps {
			rev = resp.Header.Revision // the later chunks as of the first
		}
		for _, r := range resp.Responses {
			var kv *mvccpb.KeyValue
			if kvs := r.GetResponseRange().Kvs; len(kvs) > 0 {
				kv = kvs[0]
			}
			out = append(out, kv)
		}
	}
	return out, nil
}

// rangeEnd is the end of the range of keys that start with prefix.
func rangeEnd(prefix string) string { return clientv3.GetPrefixRangeEnd(prefix) }

// ownKey is a new key under prefix that only this process writes, later
// keys of the process sorting after earlier ones (pending audit records,
// unnumbered answers).
func (s *Store) ownKey(prefix string) string {
	return prefix + s.writer + "/" + hex16(s.pendingSeq.Add(1))
}

// inCommitOrder keeps the keys of kvs (own keys, read sorted by revision)
// committed at or before until, in the order they were committed: by
// revision, then, within one transaction, by key, the order its writer
// gave them (etcd's sort by revision is not stable).
func inCommitOrder(kvs []*mvccpb.KeyValue, until int64) []*mvccpb.KeyValue {
	kvs = slices.DeleteFunc(kvs, func(kv *mvccpb.KeyValue) bool { return kv.ModRevision > until })
	slices.SortStableFunc(kvs, func(a, b *mvccpb.KeyValue) int {
		return cmp.Or(cmp.Compare(a.ModRevision, b.ModRevision), bytes.Compare(a.Key, b.Key))
	})
	return kvs
}

// count counts the keys that start with prefix, without reading them.
func (s *Store) count(ctx context.Context, prefix string) (int, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return int(resp.Count), nil
}

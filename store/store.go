package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

var (
	bucketMeta      = []byte("meta")
	bucketRequests  = []byte("requests")
	bucketRequester = []byte("idx_requester") // email 0 created id
	bucketLive      = []byte("idx_live")      // email 0 created id, while the request is not over (v2)
	bucketApprover  = []byte("idx_approver")  // email 0 id, while a decision is awaited
	bucketState     = []byte("idx_state")     // state 0 created id
	bucketDue       = []byte("idx_due")       // due id
	bucketExpiry    = []byte("idx_expiry")    // expires id, active grants only
	bucketIdem      = []byte("idempotency")   // key -> id
	bucketAudit     = []byte("audit")         // seq -> record.Audit
	bucketMsgRefs   = []byte("message_refs")  // request id 0 seq -> record.MessageRef
	bucketContacts  = []byte("contacts")      // platform 0 key -> opaque bytes
	bucketCounts    = []byte("counts")        // state -> number of requests

	keySchema    = []byte("schema")
	keyAuditHead = []byte("audit_head") // hash of the last audit record
)

var allBuckets = [][]byte{
	bucketMeta, bucketRequests, bucketRequester, bucketApprover, bucketState, bucketDue, bucketExpiry,
	bucketIdem, bucketAudit, bucketMsgRefs, bucketContacts, bucketCounts, bucketLive,
	bucketInbox, bucketInboxNext, bucketInboxRecv, bucketInboxDone,
	bucketOutbox, bucketOutboxConv, bucketOutboxCoalesce, bucketOutboxCreated,
}

// Options tune Open.
type Options struct {
	// LockTimeout is how long to wait for another process to release the file
	// (1s). bbolt holds an exclusive lock, so a second jitbot fails fast.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only. Its shared lock still conflicts
	// with a running server's exclusive one: Open waits LockTimeout, then
	// fails with ErrLocked.
	ReadOnly bool
	// NoSync skips fsync. Unsafe: for benchmarks that load fixtures only.
	NoSync bool
}

// DB is jitbot's bbolt store.
type DB struct {
	bolt *bolt.DB
	path string
	// version is the file's layout version: SchemaVersion once a writable
	// Open migrated it, possibly earlier for a read-only one.
	version  int
	migrated []int
	// commit runs Create, Update, UpdateMany, AppendEvents and Receive:
	// concurrent writers share its commits (commit.go).
	commit *committer
}

var (
	_ flows.Store     = (*DB)(nil)
	_ flows.AuditLog  = (*DB)(nil)
	_ flows.ChatState = (*DB)(nil)
)

// ErrLocked says another process holds the store file.
var ErrLocked = errors.New("the store file is in use by another process (is another jitbot running on it?)")

// initialMmapSize is the address space bbolt maps at open. A file that
// outgrows its map is remapped inside a commit, which first waits for every
// read transaction to end and holds back new ones meanwhile: a stall of the
// webhooks waiting to ack, at each doubling of a growing store. Mapping
// 1 GiB at once (address space, not memory: pages are read in as they are
// touched) leaves no remap below that size; etcd maps 10 GiB for the same
// reason.
const initialMmapSize = 1 << 30

// Open opens (creating if needed) the store at path, with mode 0600.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly, NoSync: opts.NoSync, InitialMmapSize: initialMmapSize})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !opts.ReadOnly {
		// bbolt applies the mode only when it creates the file.
		if err := os.Chmod(path, 0o600); err != nil {
			_ = bdb.Close()
			return nil, fmt.Errorf("store: restrict %s to its owner: %w", path, err)
		}
	}
	d := &DB{bolt: bdb, path: path}
	if err := d.checkSchema(opts.ReadOnly); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	d.commit = newCommitter(bdb)
	return d, nil
}

// Close lets the writes already handed to the committer commit, then closes
// the file. Writes after Close fail.
func (d *DB) Close() error {
	d.commit.close()
	return d.bolt.Close()
}

// Path is the file's path.
func (d *DB) Path() string { return d.path }

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func timeKey(t time.Time) []byte { return be64(uint64(t.UnixNano())) }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var sep = []byte{0}

// indexEntries lists the index keys of a request, per bucket: the
// entries record.Entries decides, spelled as bbolt keys in the bucket
// idx_<index>.
func indexEntries(r *flows.Request) map[string][][]byte {
	idx := map[string][][]byte{}
	for _, e := range record.Entries(r) {
		var k []byte
		if e.Index.Grouped() {
			k = join([]byte(e.Group), sep)
		}
		if e.Index.Timed() {
			k = join(k, timeKey(e.At))
		}
		name := "idx_" + string(e.Index)
		idx[name] = append(idx[name], join(k, []byte(r.ID)))
	}
	return idx
}

// reindex replaces the index entries of old (nil for a new request) by
// those of r, and keeps the per-state counts.
func reindex(tx *bolt.Tx, old, r *flows.Request) error {
	var before map[string][][]byte
	if old != nil {
		before = indexEntries(old)
	}
	after := indexEntries(r)
	for _, name := range [][]byte{bucketRequester, bucketLive, bucketApprover, bucketState, bucketDue, bucketExpiry} {
		b := tx.Bucket(name)
		for _, k := range before[string(name)] {
			if !slices.ContainsFunc(after[string(name)], func(n []byte) bool { return bytes.Equal(n, k) }) {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		for _, k := range after[string(name)] {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	counts := tx.Bucket(bucketCounts)
	if old != nil && old.State != r.State {
		if err := addCount(counts, old.State, -1); err != nil {
			return err
		}
	}
	if old == nil || old.State != r.State {
		return addCount(counts, r.State, 1)
	}
	return nil
}

func addCount(b *bolt.Bucket, s flows.State, delta int64) error {
	var n int64
	if v := b.Get([]byte(s)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return b.Put([]byte(s), be64(uint64(n+delta)))
}

func putRequest(tx *bolt.Tx, r *flows.Request) error {
	raw, err := record.EncodeRequest(r)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return tx.Bucket(bucketRequests).Put([]byte(r.ID), raw)
}

func getRequest(tx *bolt.Tx, id flows.RequestID) (*flows.Request, error) {
	raw := tx.Bucket(bucketRequests).Get([]byte(id))
	if raw == nil {
		return nil, flows.Errorf(flows.ENOTFOUND, "there is no request %s", id)
	}
	r, err := record.DecodeRequest(raw)
	if err != nil {
		return nil, fmt.Errorf("store: decode request %s: %w", id, err)
	}
	return r, nil
}

// appendAudit adds events to the hash chain.
func appendAudit(tx *bolt.Tx, evs ...flows.Event) error {
	b := tx.Bucket(bucketAudit)
	meta := tx.Bucket(bucketMeta)
	prev := string(meta.Get(keyAuditHead))
	for _, ev := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec := record.NewAudit(ev, seq, prev)
		raw, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("store: encode audit record: %w", err)
		}
		if err := b.Put(be64(seq), raw); err != nil {
			return err
		}
		prev = rec.Hash
	}
	return meta.Put(keyAuditHead, []byte(prev))
}

// Create implements flows.Store.
func (d *DB) Create(ctx context.Context, r *flows.Request, ev flows.Event, key string) (*flows.Request, bool, error) {
	return d.CreateChecked(ctx, r, ev, key, nil)
}

// CreateChecked implements flows.Store: check reads the requester's live
// requests in the transaction that writes r, which no other writer
// interleaves.
func (d *DB) CreateChecked(ctx context.Context, r *flows.Request, ev flows.Event, key string, check func(live []*flows.Request) error) (*flows.Request, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var out *flows.Request
	created := false
	err := d.write(func(tx *bolt.Tx) error {
		// The committer may run this more than once: nothing carries over.
		out, created = nil, false
		idem := tx.Bucket(bucketIdem)
		if key != "" {
			if id := idem.Get([]byte(key)); id != nil {
				prior, err := getRequest(tx, flows.RequestID(id))
				out = prior
				if err != nil {
					return refuse(err)
				}
				return nil
			}
		}
		if tx.Bucket(bucketRequests).Get([]byte(r.ID)) != nil {
			return refuse(flows.Errorf(flows.ECONFLICT, "request %s exists", r.ID))
		}
		if check != nil {
			live, err := d.findIn(tx, flows.Query{Requester: r.Requester, States: flows.LiveStates()})
			if err != nil {
				return err
			}
			if err := check(live); err != nil {
				return refuse(err)
			}
		}
		if err := putRequest(tx, r); err != nil {
			return err
		}
		if err := reindex(tx, nil, r); err != nil {
			return err
		}
		if key != "" {
			if err := idem.Put([]byte(key), []byte(r.ID)); err != nil {
				return err
			}
		}
		out, created = r.Clone(), true
		return appendAudit(tx, ev)
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// Update implements flows.Store.
func (d *DB) Update(ctx context.Context, id flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *flows.Request
	err := d.write(func(tx *bolt.Tx) error {
		var err error
		out, err = updateOne(tx, id, fn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateMany implements flows.Store: one write (one commit, shared with
// whatever else is queued) for all of ids. A request that is missing or
// that fn refuses is refused before anything of it is written, so the
// others stand.
func (d *DB) UpdateMany(ctx context.Context, ids []flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) ([]*flows.Request, []error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out, errs := make([]*flows.Request, len(ids)), make([]error, len(ids))
	if len(ids) == 0 {
		return out, errs, nil
	}
	err := d.write(func(tx *bolt.Tx) error {
		for i, id := range ids {
			r, err := updateOne(tx, id, fn)
			var ref refusal
			switch {
			case errors.As(err, &ref):
				out[i], errs[i] = nil, ref.err
			case err != nil:
				return err
			default:
				out[i], errs[i] = r, nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// updateOne applies fn to request id in tx. Everything that refuses does so
// before the first write and is a refusal (commit.go); an error after a
// write is not.
func updateOne(tx *bolt.Tx, id flows.RequestID, fn func(*flows.Request) ([]flows.Event, error)) (*flows.Request, error) {
	r, err := getRequest(tx, id)
	if err != nil {
		return nil, refuse(err)
	}
	old := r.Clone()
	evs, err := fn(r)
	if err != nil {
		return nil, refuse(err)
	}
	if r.ID != id {
		return nil, refuse(fmt.Errorf("store: update %s: the id must not change", id))
	}
	if err := putRequest(tx, r); err != nil {
		return nil, err
	}
	if err := reindex(tx, old, r); err != nil {
		return nil, err
	}
	if err := appendAudit(tx, evs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Get implements flows.Store.
func (d *DB) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *flows.Request
	err := d.bolt.View(func(tx *bolt.Tx) error {
		r, err := getRequest(tx, id)
		out = r
		return err
	})
	return out, err
}

// Find implements flows.Store.
func (d *DB) Find(ctx context.Context, q flows.Query) ([]*flows.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*flows.Request
	err := d.bolt.View(func(tx *bolt.Tx) error {
		var err error
		out, err = d.findIn(tx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if q.IdempotencyKey == "" && q.Approver == "" && q.Requester == "" && len(q.States) == 0 {
		sortNewestFirst(out)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// findIn is Find's walk of the indexes within tx (Find then sorts and
// cuts what it returns).
func (d *DB) findIn(tx *bolt.Tx, q flows.Query) ([]*flows.Request, error) {
	var out []*flows.Request
	err := func() error {
		keep := func(r *flows.Request) bool {
			return (len(q.States) == 0 || slices.Contains(q.States, r.State)) &&
				(q.Requester == "" || r.Requester == q.Requester)
		}
		full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
		load := func(id flows.RequestID) error {
			r, err := getRequest(tx, flows.RequestID(id))
			if err != nil {
				return err
			}
			if keep(r) {
				out = append(out, r)
			}
			return nil
		}
		switch {
		case q.IdempotencyKey != "":
			if id := tx.Bucket(bucketIdem).Get([]byte(q.IdempotencyKey)); id != nil {
				return load(flows.RequestID(id))
			}
			return nil
		case q.Approver != "":
			prefix := join([]byte(q.Approver), sep)
			c := tx.Bucket(bucketApprover).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if err := load(flows.RequestID(k[len(prefix):])); err != nil {
					return err
				}
			}
			sortNewestFirst(out)
		case q.Requester != "":
			// Keys end in creation time then id: walking backwards is newest first.
			// Live requests have an index of their own, so asking for them
			// costs the same whatever the requester's history.
			prefix := join([]byte(q.Requester), sep)
			idx := bucketRequester
			if onlyLive(q.States) && d.version >= 2 {
				idx = bucketLive
			}
			c := tx.Bucket(idx).Cursor()
			k, _ := c.Seek(join(prefix, be64(^uint64(0))))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && !full(); k, _ = c.Prev() {
				if err := load(flows.RequestID(k[len(prefix)+8:])); err != nil {
					return err
				}
			}
		case len(q.States) > 0:
			c := tx.Bucket(bucketState).Cursor()
			for _, s := range q.States {
				prefix := join([]byte(s), sep)
				for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
					if err := load(flows.RequestID(k[len(prefix)+8:])); err != nil {
						return err
					}
				}
			}
			sortNewestFirst(out)
		default:
			return tx.Bucket(bucketRequests).ForEach(func(k, _ []byte) error { return load(flows.RequestID(k)) })
		}
		return nil
	}()
	return out, err
}

func sortNewestFirst(rs []*flows.Request) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].CreatedAt.Equal(rs[j].CreatedAt) {
			return rs[i].CreatedAt.After(rs[j].CreatedAt)
		}
		return rs[i].ID > rs[j].ID
	})
}

// Due implements flows.Store. It reads only the due index entries up to t.
func (d *DB) Due(ctx context.Context, t time.Time, limit int) ([]flows.RequestID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ids []flows.RequestID
	upto := timeKey(t)
	err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], upto) <= 0; k, _ = c.Next() {
			if limit > 0 && len(ids) == limit {
				break
			}
			ids = append(ids, flows.RequestID(k[8:]))
		}
		return nil
	})
	return ids, err
}

// Expiring implements flows.Store.
func (d *DB) Expiring(ctx context.Context, t time.Time, limit int) ([]*flows.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*flows.Request
	upto := timeKey(t)
	err := d.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], upto) <= 0; k, _ = c.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			r, err := getRequest(tx, flows.RequestID(k[8:]))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// AppendEvents implements flows.Store.
func (d *DB) AppendEvents(ctx context.Context, evs ...flows.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.write(func(tx *bolt.Tx) error { return appendAudit(tx, evs...) })
}

// CountByState returns how many requests are in each state, from counters
// kept with every write (so a metrics scrape costs no scan).
func (d *DB) CountByState(ctx context.Context) (map[flows.State]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[flows.State]int{}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[flows.State(k)] = int(int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	return out, err
}

// onlyLive reports whether states names live states only (none terminal).
func onlyLive(states []flows.State) bool {
	return len(states) > 0 && !slices.ContainsFunc(states, flows.State.Terminal)
}

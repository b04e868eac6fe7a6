package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/storecopy"
)

// StoreEnd names one end of `jitbot store copy`: the store a jitbot.yaml
// configures (bbolt or etcd), or a bbolt file by its path.
type StoreEnd struct {
	Config *config.Config // nil: Path is a bbolt file
	Path   string
}

// String names the store for people.
func (e StoreEnd) String() string {
	if e.Config != nil && e.Config.StoreEtcd != nil {
		prefix := cmp.Or(e.Config.StoreEtcd.Prefix, etcdstore.DefaultPrefix)
		return "etcd at " + strings.Join(e.Config.StoreEtcd.Endpoints, ", ") + " (prefix " + prefix + ")"
	}
	return "bbolt store " + e.path()
}

func (e StoreEnd) etcd() *etcdstore.Config {
	if e.Config == nil {
		return nil
	}
	return e.Config.StoreEtcd
}

func (e StoreEnd) path() string {
	if e.Config != nil {
		return e.Config.StorePath
	}
	return e.Path
}

// CopyReport is what CopyStore moved.
type CopyReport struct {
	// Records and Head are the audit chain's length and last hash, the
	// same on both sides.
	Records uint64
	Head    string
	Counts  []storecopy.Count
	// Previous is where a bbolt destination replaced with -force was kept.
	Previous string
}

// The reasons CopyStore refuses.
var (
	// ErrStoreInUse says a jitbot runs on one end: bbolt's lock is held,
	// or an etcd replica campaigns under the prefix.
	ErrStoreInUse = errors.New("a jitbot is running on it")
	// ErrCopyNotEmpty says the destination holds state already and force
	// was not given.
	ErrCopyNotEmpty = storecopy.ErrNotEmpty
)

// lockWait is how long a copy waits for bbolt's lock before saying a
// jitbot holds the file.
const lockWait = 2 * time.Second

// CopyStore copies all of jitbot's state from one store to the other
// (storecopy.Copy: the source's audit chain verified before, the copy's
// after, the same head), with no jitbot running on either. A destination
// that holds state is refused unless force: a bbolt file is then kept
// beside as <path>.before-copy, an etcd prefix is emptied.
func CopyStore(ctx context.Context, from, to StoreEnd, force bool) (rep CopyReport, err error) {
	if same(from, to) {
		return rep, fmt.Errorf("the source and the destination are the same store (%s)", from)
	}
	src, closeSrc, err := openCopySource(ctx, from)
	if err != nil {
		return rep, err
	}
	defer closeSrc()
	made := false // a bbolt destination this copy creates goes if it fails
	if to.etcd() == nil {
		_, statErr := os.Stat(to.path())
		made = errors.Is(statErr, os.ErrNotExist)
	}
	dst, closeDst, previous, err := openCopyDestination(ctx, to, force)
	if err != nil {
		return rep, err
	}
	r, err := storecopy.Copy(ctx, src, dst)
	closeDst()
	if err != nil && made {
		_ = os.Remove(to.path())
	}
	if err != nil {
		if errors.Is(err, storecopy.ErrNotEmpty) {
			return rep, fmt.Errorf("%s: %w", to, err)
		}
		return rep, err
	}
	return CopyReport{Records: r.Audit.Records, Head: r.Audit.Head, Counts: r.Counts, Previous: previous}, nil
}

// same reports whether both ends name one store (or, on etcd, overlap).
func same(a, b StoreEnd) bool {
	ea, eb := a.etcd(), b.etcd()
	switch {
	case ea != nil && eb != nil:
		// One cluster, and one prefix within the other's keys: the copy
		// would read what it writes.
		pa, pb := cmp.Or(ea.Prefix, etcdstore.DefaultPrefix), cmp.Or(eb.Prefix, etcdstore.DefaultPrefix)
		return (strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)) &&
			slices.ContainsFunc(ea.Endpoints, func(e string) bool { return slices.Contains(eb.Endpoints, e) })
	case ea == nil && eb == nil:
		pa, errA := filepath.Abs(a.path())
		pb, errB := filepath.Abs(b.path())
		return errA == nil && errB == nil && pa == pb
	}
	return false
}

func openEtcd(ctx context.Context, end StoreEnd) (*etcdstore.Store, error) {
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	s, err := etcdstore.Open(octx, *end.etcd())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", end, err)
	}
	serving, err := s.Serving(ctx)
	if err == nil && serving {
		err = fmt.Errorf("%s: %w (a replica campaigns for leadership under the prefix): stop every replica (scale the Deployment to 0) before a copy", end, ErrStoreInUse)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func openBolt(end StoreEnd, readOnly bool) (*store.DB, error) {
	db, err := store.Open(end.path(), store.Options{ReadOnly: readOnly, LockTimeout: lockWait})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s: %w (it holds the file's lock): stop it (scale the Deployment to 0) before a copy", end, ErrStoreInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", end, err)
	}
	return db, nil
}

func openCopySource(ctx context.Context, end StoreEnd) (storecopy.Store, func(), error) {
	if end.etcd() != nil {
		s, err := openEtcd(ctx, end)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	}
	if _, err := os.Stat(end.path()); err != nil {
		return nil, nil, fmt.Errorf("the source, %s: %w", end, err)
	}
	db, err := openBolt(end, true)
	if err != nil {
		return nil, nil, err
	}
	if v := db.Version(); v < store.SchemaVersion {
		// An older file lacks what its migration derives (the outbox's
		// cursor at the log's head): copied as it is, the dispatcher would
		// announce the whole history again.
		_ = db.Close()
		return nil, nil, fmt.Errorf("%s is of schema version %d, which this jitbot copies once migrated to version %d: run this jitbot's serve on it once (it migrates the file at start), stop it, then copy", end, v, store.SchemaVersion)
	}
	return db, func() { _ = db.Close() }, nil
}

func openCopyDestination(ctx context.Context, end StoreEnd, force bool) (dst storecopy.Destination, closeFn func(), previous string, err error) {
	if end.etcd() != nil {
		s, err := openEtcd(ctx, end)
		if err != nil {
			return nil, nil, "", err
		}
		if force {
			if err := s.Clear(ctx); err != nil {
				_ = s.Close()
				return nil, nil, "", fmt.Errorf("%s: empty it: %w", end, err)
			}
		}
		return s, func() { _ = s.Close() }, "", nil
	}
	db, err := openBolt(end, false)
	if err != nil {
		return nil, nil, "", err
	}
	if force {
		empty, err := storecopy.Empty(ctx, db)
		if err == nil && !empty {
			// Kept beside, as restore keeps what it replaces.
			previous = end.path() + ".before-copy"
			if err = db.Close(); err == nil {
				err = os.Rename(end.path(), previous)
			}
			if err == nil {
				db, err = openBolt(end, false)
			}
			if err != nil {
				return nil, nil, "", fmt.Errorf("%s: set it aside: %w", end, err)
			}
		} else if err != nil {
			_ = db.Close()
			return nil, nil, "", err
		}
	}
	return db, func() { _ = db.Close() }, previous, nil
}

package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// Backend is the storage jitbot runs on, as the wiring, the admin API and
// the CLI use it: flows' storage ports, the per-state counts /metrics reads,
// and Close. The bbolt store implements it, and the etcd store (several
// replicas), both passing flows/flowstest's suites. Nothing in cmd names a
// backend's concrete type but OpenBackend.
type Backend interface {
	flows.Store
	flows.AuditLog
	flows.ChatState
	flows.Inbox
	flows.Outbox
	flows.AuditReader
	CountByState(ctx context.Context) (map[flows.State]int, error)
	// Backup writes a consistent snapshot of the whole backend to w while
	// it serves (GET /admin/backup, jitbot backup), and returns its size.
	Backup(w io.Writer) (int64, error)
	Close() error
}

// The outbox's dispatcher runs on the backend.
var _ bot.DispatchStore = Backend(nil)

var (
	_ Backend = (*store.DB)(nil)
	_ Backend = etcdBackend{}
	// Replicas lock the targets their grants share through etcd (New).
	_ flows.Locks = etcdBackend{}
)

// etcdBackend is the etcd store as a Backend.
type etcdBackend struct{ *etcdstore.Store }

// ErrNoBackupOnEtcd says jitbot's own backup (a bbolt snapshot) is not
// taken of an etcd store.
var ErrNoBackupOnEtcd = errors.New("jitbot backup and restore work on a bbolt store; on etcd, take an etcd snapshot (etcdctl snapshot save), which holds jitbot's keys with the rest")

// Backup refuses: etcd has snapshots of its own, of the whole cluster.
func (etcdBackend) Backup(io.Writer) (int64, error) { return 0, ErrNoBackupOnEtcd }

// openTimeout bounds connecting to etcd and reading its schema version
// when jitbot starts (the client's dial timeout and the request timeout
// bound each step).
const openTimeout = time.Minute

// ErrBackendLocked says another process holds the backend (bbolt's file
// lock: a running jitbot).
var ErrBackendLocked = store.ErrLocked

// OpenBackend opens the configured storage: the etcd cluster store.etcd
// names, or else the bbolt file at store.path. readOnly opens a bbolt file
// for reading only (the CLI's verbs that change nothing); lockTimeout
// bounds the wait for another process to let go of it (0: the store's
// default). On etcd, which many processes share, neither applies.
func OpenBackend(cfg *config.Config, readOnly bool, lockTimeout time.Duration) (Backend, error) {
	if cfg.StoreEtcd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		s, err := etcdstore.Open(ctx, *cfg.StoreEtcd)
		if err != nil {
			return nil, err
		}
		return etcdBackend{s}, nil
	}
	db, err := store.Open(cfg.StorePath, store.Options{ReadOnly: readOnly, LockTimeout: lockTimeout})
	if err != nil {
		return nil, err // not a nil *store.DB in a non-nil Backend
	}
	return db, nil
}

// BackupInfo is what a backup holds, as VerifyBackup and RestoreBackend
// found it.
type BackupInfo struct {
	// SchemaVersion is the layout the backup was written in (an earlier
	// one is migrated when jitbot next serves on it).
	SchemaVersion int
	// Records and Head are its audit chain's length and last hash.
	Records uint64
	Head    string
	// Size is its size in bytes.
	Size int64
	// Previous is where RestoreBackend kept the store it replaced (empty
	// when there was none).
	Previous string
}

// ErrBackendExists says RestoreBackend found a store where the
// configuration puts it, and was not told to replace it.
var ErrBackendExists = store.ErrStoreExists

// VerifyBackup proves the backup at path is one jitbot can run on: a store
// of a schema version this jitbot reads, consistent, whose audit chain is
// whole.
func VerifyBackup(ctx context.Context, path string) (BackupInfo, error) {
	s, err := store.VerifySnapshot(ctx, path)
	return BackupInfo{SchemaVersion: s.Version, Records: s.Records, Head: s.Head, Size: s.Size}, err
}

// RestoreBackend puts the backup src in place of the configured store,
// which no jitbot may be running on (ErrBackendLocked): it verifies src
// first (VerifyBackup), and replaces a store already there only when
// force, keeping it beside (BackupInfo.Previous); else ErrBackendExists.
func RestoreBackend(ctx context.Context, cfg *config.Config, src string, force bool) (BackupInfo, error) {
	if cfg.StoreEtcd != nil {
		return BackupInfo{}, fmt.Errorf("the configuration puts the store on etcd: %w", ErrNoBackupOnEtcd)
	}
	r, err := store.Restore(ctx, src, cfg.StorePath, store.RestoreOptions{Force: force, LockTimeout: 2 * time.Second})
	return BackupInfo{SchemaVersion: r.Version, Records: r.Records, Head: r.Head, Size: r.Size, Previous: r.Previous}, err
}

// KeptBeforeRestore is where RestoreBackend keeps the store it replaces.
func KeptBeforeRestore(cfg *config.Config) string { return store.BeforeRestore(cfg.StorePath) }

// CheckBackend proves the configured store can be reached (`jitbot check
// -online`): on etcd, that a quorum answers, or an error naming the
// endpoints. A bbolt file is not opened: a running jitbot holds its lock.
func CheckBackend(ctx context.Context, cfg *config.Config) (string, error) {
	if cfg.StoreEtcd == nil {
		return "", nil
	}
	eps := strings.Join(cfg.StoreEtcd.Endpoints, ", ")
	db, err := OpenBackend(cfg, true, 0)
	if err != nil {
		return "", fmt.Errorf("store: etcd at %s cannot be reached: %w", eps, err)
	}
	defer db.Close()
	if err := db.(pinger).Ping(ctx); err != nil {
		return "", fmt.Errorf("store: etcd at %s does not answer: %w", eps, err)
	}
	return "store: OK (etcd at " + eps + ", prefix " + db.(etcdBackend).Prefix() + ")", nil
}

package app

import (
	"context"
	"io"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// Backend is the storage jitbot runs on, as the wiring, the admin API and
// the CLI use it: flows' storage ports, the per-state counts /metrics reads,
// and Close. The bbolt store implements it; a replicated backend would too,
// passing flows/flowstest's suites. Nothing in cmd names a backend's
// concrete type but OpenBackend.
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

var _ Backend = (*store.DB)(nil)

// ErrBackendLocked says another process holds the backend (bbolt's file
// lock: a running jitbot).
var ErrBackendLocked = store.ErrLocked

// OpenBackend opens the configured storage. readOnly opens it for reading
// only (the CLI's verbs that change nothing); lockTimeout bounds the wait
// for another process to let go (0: the store's default).
func OpenBackend(cfg *config.Config, readOnly bool, lockTimeout time.Duration) (Backend, error) {
	db, err := store.Open(cfg.StorePath, store.Options{ReadOnly: readOnly, LockTimeout: lockTimeout})
	if err != nil {
		return nil, err // not a nil *store.DB in a non-nil Backend
	}
	return db, nil
}

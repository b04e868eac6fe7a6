package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Temporary: the tests of cmd/jitbot reach these until they move here.

// ExpireReadiness drops the cached readiness answer.
func (m *Main) ExpireReadiness() {
	m.readyMu.Lock()
	m.readyAt = time.Time{}
	m.readyMu.Unlock()
}

// SyncGroups runs the Slack user group sync now.
func (m *Main) SyncGroups() { m.syncGroups() }

// SyncUserGroups is syncUserGroups.
func SyncUserGroups(ctx context.Context, policy *flows.Policy, members func(ctx context.Context, handle string) ([]string, error), log *slog.Logger) error {
	return syncUserGroups(ctx, policy, members, log)
}

package app

import "context"

// What the tests in package app_test (which run jitbot in a rig, and rig
// imports app) reach inside.

// SyncGroups runs the Slack user group sync now.
func (m *Main) SyncGroups() { m.syncGroups() }

var SyncUserGroups = syncUserGroups

// StatusNow is what GET /admin/status answers.
func (m *Main) StatusNow(ctx context.Context) Status { return m.status(ctx) }

// MonthlyReview sends last month's access review now, as its schedule does.
func (m *Main) MonthlyReview(ctx context.Context) error {
	return monthlyReview(ctx, m.db, m.clock, m.log)
}

// IdentitySweep re-verifies bindings now, as its schedule does.
func (m *Main) IdentitySweep(ctx context.Context) error { return m.identity.Sweep(ctx) }

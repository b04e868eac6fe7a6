package app

import "time"

// What the tests in package app_test (which run jitbot in a rig, and rig
// imports app) reach inside.

// ExpireReadiness drops the cached readiness answer, so the next probe
// checks again.
func (m *Main) ExpireReadiness() {
	m.readyMu.Lock()
	m.readyAt = time.Time{}
	m.readyMu.Unlock()
}

// SyncGroups runs the Slack user group sync now.
func (m *Main) SyncGroups() { m.syncGroups() }

var SyncUserGroups = syncUserGroups

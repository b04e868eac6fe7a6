package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/store/auditsink"
)

// Status is what GET /admin/status answers (and `jitbot status` prints):
// whether this replica takes webhooks, and the health of everything it
// depends on, as the background checks last found it.
type Status struct {
	// Ready is what /readyz says: the store is open and the listener up.
	Ready bool `json:"ready"`
	// At is when the status was taken, on jitbot's clock.
	At    time.Time   `json:"at"`
	Store StoreStatus `json:"store"`
	// Integrations are the Atlas integrations, in configuration order.
	Integrations []IntegrationStatus `json:"integrations"`
	// Slack and Teams are nil when not configured.
	Slack    *DependencyStatus `json:"slack,omitempty"`
	Teams    *DependencyStatus `json:"teams,omitempty"`
	Watchers WatcherStatus     `json:"watchers"`
	// Policy is the access policy in force, and the last reload's outcome.
	Policy PolicyStatus `json:"policy"`
	// Pipeline is what waits in the inbox and the outbox.
	Pipeline PipelineStatus `json:"pipeline"`
	// AuditSinks are where the audit log streams, each sink's progress.
	AuditSinks []auditsink.Stats `json:"audit_sinks,omitempty"`
}

// PipelineStatus counts what was acknowledged and not finished yet (the
// inbox) and what was decided and not sent yet (the outbox's deliveries):
// both empty means jitbot has caught up with everything it took and said.
type PipelineStatus struct {
	Inbox  int    `json:"inbox"`
	Outbox int    `json:"outbox"`
	Error  string `json:"error,omitempty"` // the store could not say
}

// StoreStatus says whether the store answers.
type StoreStatus struct {
	State string `json:"state"` // up or down
	Error string `json:"error,omitempty"`
}

// IntegrationStatus is one Atlas integration: up, degraded (its last check
// failed; retried in the background with backoff) or unknown (not checked
// yet).
type IntegrationStatus struct {
	Integration string `json:"integration"`
	DependencyStatus
}

// WatcherStatus is the Atlas change-status watchers' state.
type WatcherStatus struct {
	Watchers int   `json:"watchers"` // clusters being polled now
	Waiting  int   `json:"waiting"`  // waits for APPLIED not yet answered
	Applied  int64 `json:"applied"`
	TimedOut int64 `json:"timed_out"`
	Failed   int64 `json:"failed"`
}

func watcherStatusOf(s atlas.WatchStats) WatcherStatus {
	return WatcherStatus{Watchers: s.Watchers, Waiting: s.Waiting, Applied: s.Applied, TimedOut: s.TimedOut, Failed: s.Failed}
}

// status is the status now.
func (m *Main) status(ctx context.Context) Status {
	s := Status{At: m.clock.Now(), Store: StoreStatus{State: DepUp}, Watchers: watcherStatusOf(m.atlas.WatchStats())}
	if err := m.checkStore(ctx); err != nil {
		s.Store = StoreStatus{State: "down", Error: err.Error()}
	}
	s.Ready = m.ready(ctx) == nil
	s.Policy, _ = m.policy.snapshot()
	var ierr, oerr error
	s.Pipeline.Inbox, _, ierr = m.db.InboxDepth(ctx)
	s.Pipeline.Outbox, _, oerr = m.db.OutboxDepth(ctx)
	if err := errors.Join(ierr, oerr); err != nil {
		s.Pipeline.Error = err.Error()
	}
	s.AuditSinks = m.audit.Stats()
	for _, d := range m.health.snapshot() {
		switch d.Name {
		case "slack":
			s.Slack = &d
		case "teams":
			s.Teams = &d
		default:
			if in, ok := integrationOf(d.Name); ok {
				s.Integrations = append(s.Integrations, IntegrationStatus{Integration: in, DependencyStatus: d})
			}
		}
	}
	return s
}

func (a *adminAPI) showStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.status(r.Context()))
}

package app

import (
	"fmt"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/bot/identity"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// Both stores keep the sign-in state: bbolt, and etcd for several
// replicas (any of them finishes a sign-in another started).
var (
	_ identity.Records = (*store.DB)(nil)
	_ identity.Records = etcdBackend{}
)

// identitySweepSchedule re-verifies bindings and purges expired sign-in
// state.
const identitySweepSchedule = "@every 5m"

// newIdentity binds chat accounts through the configured identity
// provider (nil without an identity section: people are who their chat
// profile says). It is the engine's gate, renders the sign-in links the
// dispatcher sends, and serves /id/ on the public listener.
func (m *Main) newIdentity() (*identity.Identities, error) {
	if m.cfg.Identity == nil {
		return nil, nil
	}
	records, ok := m.db.(identity.Records)
	if !ok {
		return nil, fmt.Errorf("identity: the store (%T) keeps no sign-in state", m.db)
	}
	ids, err := identity.New(m.cfg.Identity, identity.Deps{
		Records: records, Outbox: m.db, Events: m.db, Revoker: m.svc, Decider: m.svc, Submitter: m.svc, Guests: m.svc,
		Schedule: func(ds []flows.Delivery) { m.outbox.Schedule(ds) },
		IsAdmin:  func(email string) bool { return m.svc.Policy().IsAdmin(email) },
		Clock:    m.clock, HTTPClient: &http.Client{Timeout: 30 * time.Second}, Log: m.log,
	})
	if err != nil {
		return nil, named("identity", err)
	}
	m.engine.SetGate(ids)
	return ids, nil
}

package flows

import (
	"context"
	"fmt"
)

// ReconcileReport says what a reconcile found of one kind in one integration.
type ReconcileReport struct {
	Integration    string
	Kind           Kind
	Managed        int         // what Atlas holds of the kind labelled as jitbot's
	OrphansDeleted []string    // principals no live grant holds, deleted
	Missing        []RequestID // request ids of active grants whose principal is gone
	Errors         []string
}

// Reconcile compares Atlas with the store, kind by kind, for every kind
// whose provisioner keeps an Inventory. What is labelled as jitbot's and
// belongs to no request holding access is deleted and reported; active
// grants whose principal has disappeared are reported.
func (s *Service) Reconcile(ctx context.Context) ([]ReconcileReport, error) {
	type inventory struct {
		kind Kind
		inv  Inventory
	}
	policy := s.Policy()
	var invs []inventory
	for _, k := range policy.kinds {
		if inv, ok := s.provs[k.Kind].(Inventory); ok {
			invs = append(invs, inventory{k.Kind, inv})
		}
	}
	if len(invs) == 0 {
		return nil, fmt.Errorf("flows: reconcile: no provisioner keeps an inventory")
	}
	active, err := s.store.Find(ctx, Query{States: []State{StateActive}})
	if err != nil {
		return nil, fmt.Errorf("flows: reconcile: %w", err)
	}
	var reports []ReconcileReport
	for _, in := range policy.integrations {
		for _, iv := range invs {
			reports = append(reports, s.reconcile(ctx, in.Name, iv.kind, iv.inv, active))
		}
	}
	return reports, nil
}

// reconcile compares one kind in one integration.
func (s *Service) reconcile(ctx context.Context, integration string, kind Kind, inv Inventory, active []*Request) ReconcileReport {
	rep := ReconcileReport{Integration: integration, Kind: kind}
	listedAt := s.clock.Now()
	held, err := inv.ManagedGrants(ctx, integration)
	if err != nil {
		rep.Errors = append(rep.Errors, ErrorMessage(err))
		s.log.WarnContext(ctx, "reconcile: could not list what jitbot manages", "integration", integration, "kind", string(kind), "err", err)
		return rep
	}
	// A target grants share is explained by any request holding it, not
	// only by the one that made it (shared.go).
	var shared map[string]bool
	if s.sharesTarget(kind) {
		if shared, err = s.heldPrincipals(ctx, kind, integration); err != nil {
			rep.Errors = append(rep.Errors, ErrorMessage(err))
			return rep
		}
	}
	known := s.readHeld(ctx, held)
	present := map[string]bool{}
	for _, m := range held {
		present[m.Principal] = true
		if m.Foreign || shared[m.Principal] {
			// Not jitbot's (never deleted), or held by a live grant.
			rep.Managed += btoi(!m.Foreign)
			continue
		}
		rep.Managed++
		if m.RequestID == "" && m.Person != "" {
			s.reconcilePerson(ctx, integration, kind, m, listedAt, &rep)
			continue
		}
		r, read := known[m.RequestID]
		var err error
		if !read {
			r, err = s.store.Get(ctx, m.RequestID)
		}
		if err != nil && ErrorCode(err) != ENOTFOUND {
			rep.Errors = append(rep.Errors, ErrorMessage(err))
			continue
		}
		if r != nil && r.Kind.orDefault() != kind {
			r = nil // the label names a request of another kind: nothing of this one explains it
		}
		if r != nil && r.State.HoldsAccess() && r.Principal == m.Principal {
			continue
		}
		if r != nil && r.EndedAt.After(listedAt) {
			continue // it ended after the listing: its own revocation removed it
		}
		s.deleteOrphan(ctx, integration, kind, m, r, &rep)
	}
	for _, r := range active {
		if r.Kind.orDefault() == kind && r.Resource.Integration == integration && !present[r.Principal] {
			rep.Missing = append(rep.Missing, r.ID)
			ev := Event{Type: EventGrantMissing, RequestID: r.ID, Actor: SystemActor, At: s.clock.Now(), From: r.State, To: r.State, Principal: r.Principal,
				Message: "the " + atlasThing(kind) + " of this active grant is gone"}
			if err := s.store.AppendEvents(ctx, ev); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
			s.announce(ctx, ev, r)
		}
	}
	return rep
}

// readHeld reads the requests that what jitbot holds names, together when
// the store can (on etcd, a read each took a round trip: thousands at
// every change of leader): nil for one not stored. It returns nothing
// when it cannot, and each is then read alone, whose failure reconcile
// tells from absence.
func (s *Service) readHeld(ctx context.Context, held []ManagedGrant) map[RequestID]*Request {
	var ids []RequestID
	for _, m := range held {
		if m.RequestID != "" && !m.Foreign {
			ids = append(ids, m.RequestID)
		}
	}
	known, err := GetManyByID(ctx, s.store, ids)
	if err != nil {
		s.log.WarnContext(ctx, "reconcile: could not read the requests together; reading them one at a time", "requests", len(ids), "err", err)
	}
	return known
}

func (s *Service) deleteOrphan(ctx context.Context, integration string, kind Kind, m ManagedGrant, r *Request, rep *ReconcileReport) {
	g := Grant{RequestID: m.RequestID, Kind: kind, Integration: integration, Principal: m.Principal, Resource: m.Where, Auth: m.Auth}
	if r != nil {
		g = s.grant(r)
		g.Principal = m.Principal
		if m.Where.ProjectID != "" {
			// Delete it where it is (its request may name another place).
			g.Resource.Project, g.Resource.ProjectID = m.Where.Project, m.Where.ProjectID
		}
	}
	name := KindName(kind)
	if err := s.provs[kind].Delete(ctx, g); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("delete %s: %s", m.Principal, ErrorMessage(err)))
		s.log.WarnContext(ctx, "reconcile: could not delete an orphan", "kind", string(kind), "principal", m.Principal, "err", err)
		return
	}
	rep.OrphansDeleted = append(rep.OrphansDeleted, m.Principal)
	why := "no request holds this " + name
	if r != nil {
		why = "its request is " + string(r.State)
	}
	ev := Event{Type: EventOrphanDeleted, RequestID: m.RequestID, Actor: SystemActor, At: s.clock.Now(), Principal: m.Principal,
		Message: "deleted an Atlas " + name + " labelled managed-by=jitbot: " + why}
	if r != nil {
		ev.From, ev.To = r.State, r.State
	}
	if err := s.store.AppendEvents(ctx, ev); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	s.log.WarnContext(ctx, "reconcile: deleted an orphan", "integration", integration, "kind", string(kind), "principal", m.Principal, "request_id", m.RequestID)
	s.announce(ctx, ev, r)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

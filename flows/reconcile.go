package flows

import (
	"context"
	"fmt"
)

// ReconcileReport says what a reconcile found in one integration.
type ReconcileReport struct {
	Integration    string
	Users          int      // jitbot-managed users in Atlas
	OrphansDeleted []string // usernames with no live grant, deleted
	Missing        []string // request ids of active grants whose user is gone
	Errors         []string
}

// Reconcile compares Atlas with the store. Users labelled as jitbot's that
// belong to no request holding access are deleted and reported; active
// grants whose user has disappeared are reported.
func (s *Service) Reconcile(ctx context.Context) ([]ReconcileReport, error) {
	if s.inv == nil {
		return nil, fmt.Errorf("flows: reconcile: no inventory configured")
	}
	active, err := s.store.Find(ctx, Query{States: []State{StateActive}})
	if err != nil {
		return nil, fmt.Errorf("flows: reconcile: %w", err)
	}
	var reports []ReconcileReport
	for _, in := range s.policy.integrations {
		rep := ReconcileReport{Integration: in.Name}
		listedAt := s.clock.Now()
		users, err := s.inv.ManagedUsers(ctx, in.Name)
		if err != nil {
			rep.Errors = append(rep.Errors, ErrorMessage(err))
			s.log.WarnContext(ctx, "reconcile: could not list users", "integration", in.Name, "err", err)
			reports = append(reports, rep)
			continue
		}
		rep.Users = len(users)
		present := map[string]bool{}
		for _, u := range users {
			present[u.Username] = true
			r, err := s.store.Get(ctx, u.RequestID)
			if err != nil && ErrorCode(err) != ENOTFOUND {
				rep.Errors = append(rep.Errors, ErrorMessage(err))
				continue
			}
			if r != nil && r.State.HoldsAccess() && r.Username == u.Username {
				continue
			}
			if r != nil && r.EndedAt.After(listedAt) {
				continue // it ended after the listing: its own revocation removed the user
			}
			s.deleteOrphan(ctx, in.Name, u, r, &rep)
		}
		for _, r := range active {
			if r.Resource.Integration == in.Name && !present[r.Username] {
				rep.Missing = append(rep.Missing, r.ID)
				ev := Event{Type: EventGrantMissing, RequestID: r.ID, Actor: SystemActor, At: s.clock.Now(), From: r.State, To: r.State, Username: r.Username,
					Message: "the Atlas user of this active grant is gone"}
				if err := s.store.AppendEvents(ctx, ev); err != nil {
					rep.Errors = append(rep.Errors, err.Error())
				}
				s.announce(ctx, ev, r, nil)
			}
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func (s *Service) deleteOrphan(ctx context.Context, integration string, u ManagedUser, r *Request, rep *ReconcileReport) {
	g := Grant{RequestID: u.RequestID, Integration: integration, Username: u.Username}
	if r != nil {
		g = s.grant(r)
		g.Username = u.Username
	}
	if err := s.prov.Delete(ctx, g); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("delete %s: %s", u.Username, ErrorMessage(err)))
		s.log.WarnContext(ctx, "reconcile: could not delete an orphan", "username", u.Username, "err", err)
		return
	}
	rep.OrphansDeleted = append(rep.OrphansDeleted, u.Username)
	why := "no request holds this user"
	if r != nil {
		why = "its request is " + string(r.State)
	}
	ev := Event{Type: EventOrphanDeleted, RequestID: u.RequestID, Actor: SystemActor, At: s.clock.Now(), Username: u.Username,
		Message: "deleted an Atlas user labelled managed-by=jitbot: " + why}
	if r != nil {
		ev.From, ev.To = r.State, r.State
	}
	if err := s.store.AppendEvents(ctx, ev); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	s.log.WarnContext(ctx, "reconcile: deleted an orphaned user", "integration", integration, "username", u.Username, "request_id", u.RequestID)
	s.announce(ctx, ev, r, nil)
}

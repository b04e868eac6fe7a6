package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// reconcilePerson settles roles jitbot gave a person's own Atlas account (a
// ManagedGrant with Person and no request id: Atlas keeps no label on a
// role). A role is explained by a grant of the person's, of the kind, in
// the integration, at the same place, that asked for it and holds access
// (or ended after the listing: its own removal is under way). The roles no
// grant explains are removed through the provisioner, as orphans, and the
// admins are told.
func (s *Service) reconcilePerson(ctx context.Context, integration string, kind Kind, m ManagedGrant, listedAt time.Time, rep *ReconcileReport) {
	rs, err := s.store.Find(ctx, Query{Requester: m.Person})
	if err != nil {
		rep.Errors = append(rep.Errors, ErrorMessage(err))
		return
	}
	var orphans []string
	for _, role := range m.Roles {
		explained := slices.ContainsFunc(rs, func(r *Request) bool {
			return r.Kind.orDefault() == kind && r.Resource.Integration == integration && samePlace(r.Resource, m.Where) &&
				(r.State.HoldsAccess() || r.EndedAt.After(listedAt)) && slices.Contains(r.Roles, role)
		})
		if !explained {
			orphans = append(orphans, role)
		}
	}
	if len(orphans) == 0 {
		return
	}
	where := "the organization"
	if m.Where.Project != "" {
		where = "project " + m.Where.Project
	}
	g := Grant{Kind: kind, Integration: integration, Requester: m.Person, Principal: m.Principal, Resource: m.Where, Roles: orphans}
	what := fmt.Sprintf("%s of %s in %s", FormatRoles(orphans), m.Principal, where)
	if err := s.provs[kind].Delete(ctx, g); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %s", what, ErrorMessage(err)))
		s.log.WarnContext(ctx, "reconcile: could not remove roles no grant explains", "kind", string(kind), "principal", m.Principal,
			"roles", FormatRoles(orphans), "where", where, "err", err)
		return
	}
	rep.OrphansDeleted = append(rep.OrphansDeleted, what)
	ev := Event{Type: EventOrphanDeleted, Actor: SystemActor, At: s.clock.Now(), Principal: m.Principal,
		Message: "removed " + what + ": Atlas's event log says jitbot gave " + pronoun(len(orphans)) + ", and no live grant explains " + pronoun(len(orphans))}
	if err := s.store.AppendEvents(ctx, ev); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	s.log.WarnContext(ctx, "reconcile: removed roles no grant explains", "integration", integration, "kind", string(kind),
		"principal", m.Principal, "roles", FormatRoles(orphans), "where", where)
	s.announce(ctx, ev, nil)
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// samePlace reports whether two targets of a kind above the clusters are
// held at the same place: the same project (by id where both say it) or,
// with no project, the organization or the integration's one project.
func samePlace(a, b Resource) bool {
	if a.ProjectID != "" && b.ProjectID != "" {
		return a.ProjectID == b.ProjectID
	}
	return strings.EqualFold(a.Project, b.Project)
}

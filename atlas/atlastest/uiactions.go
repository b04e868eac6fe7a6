package atlastest

import (
	"fmt"
	"slices"
)

// --- changes people make in the Atlas UI, as the event logs record them ---

// AsUser changes an Atlas user's roles in a project as a person does in the Atlas UI: by is
// that person's username, which the project's event log records as the change's actor
// (username, userId), not an API key. add gives roles (adding the user to the project when
// they are not a member: JOINED_GROUP), remove takes them away (REMOVED_FROM_GROUP when none
// is left). Atlas's rules hold: unknown roles, the last owner and unknown users are refused.
func (s *Server) AsUser(by, projectID, username string, add, remove []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return fmt.Errorf("atlastest: AsUser: no project %s", projectID)
	}
	o := s.orgLocked(p.orgID)
	u := o.userByName(username)
	if u == nil {
		return fmt.Errorf("atlastest: AsUser: %s is not in organization %s", username, o.id)
	}
	for _, r := range append(slices.Clone(add), remove...) {
		if !projectRoles[r] {
			return fmt.Errorf("atlastest: AsUser: %q is not a project role", r)
		}
	}
	if u.user.ProjectRoles == nil {
		u.user.ProjectRoles = map[string][]string{}
	}
	roles := u.user.ProjectRoles[projectID]
	member := len(roles) > 0
	var added, removed []string
	for _, r := range add {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
			added = append(added, r)
		}
	}
	for _, r := range remove {
		if slices.Contains(roles, r) {
			if r == RoleProjectOwner && o.owners(projectID, RoleProjectOwner) == 1 {
				return fmt.Errorf("atlastest: AsUser: project %s must keep an owner", projectID)
			}
			roles = slices.DeleteFunc(roles, func(x string) bool { return x == r })
			removed = append(removed, r)
		}
	}
	u.user.ProjectRoles[projectID] = roles
	typ := EventUserRolesChanged
	switch {
	case !member && len(roles) > 0:
		typ = EventJoinedGroup
	case member && len(roles) == 0:
		typ = EventRemovedFromGroup
		delete(u.user.ProjectRoles, projectID)
	case len(added) == 0 && len(removed) == 0:
		return nil
	}
	s.recordEvent(o, p, typ, "", u.user.Username, added, removed)
	p.events[len(p.events)-1].Username = by
	return nil
}

// UserEvent is something a person did in the Atlas UI, for RecordUserEvent: a database user,
// an access-list entry or an API key they created, or any other event type.
type UserEvent struct {
	// ProjectID is the project whose log records it; empty: the organization's (OrgID).
	ProjectID, OrgID                string
	Type                            string // MONGODB_USER_ADDED, NETWORK_PERMISSION_ENTRY_ADDED, API_KEY_CREATED...
	Username                        string // the person
	DBUser, AccessListEntry, APIKey string
}

// Event types of what a person may create in the Atlas UI (Atlas's names).
const (
	EventDatabaseUserAdded    = "MONGODB_USER_ADDED"
	EventAccessListEntryAdded = "NETWORK_PERMISSION_ENTRY_ADDED"
	EventAPIKeyCreated        = "API_KEY_CREATED"
	EventAPIKeyAddedToGroup   = "API_KEY_ADDED_TO_GROUP"
	EventGroupCreated         = "GROUP_CREATED"
)

// RecordUserEvent appends to a project's or an organization's event log an event of a person's
// making, as if they had acted in the Atlas UI. It changes nothing else: the simulator keeps
// no database user, entry or key for it.
func (s *Server) RecordUserEvent(e UserEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p *project
	orgID := e.OrgID
	if e.ProjectID != "" {
		var ok bool
		if p, ok = s.projects[e.ProjectID]; !ok {
			return fmt.Errorf("atlastest: RecordUserEvent: no project %s", e.ProjectID)
		}
		orgID = p.orgID
	}
	if orgID == "" {
		return fmt.Errorf("atlastest: RecordUserEvent: name a project or an organization")
	}
	o := s.orgLocked(orgID)
	s.recordEvent(o, p, e.Type, "", "", nil, nil)
	evs := o.events
	if p != nil {
		evs = p.events
	}
	last := evs[len(evs)-1]
	last.Username, last.DBUser, last.AccessListEntry, last.APIKey = e.Username, e.DBUser, e.AccessListEntry, e.APIKey
	return nil
}

// RemoveOrgUser takes an Atlas user out of an organization and every project of it, as an
// organization owner does in the Atlas UI; it reports whether there was one.
func (s *Server) RemoveOrgUser(orgID, username string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return false
	}
	u := o.userByName(username)
	if u == nil {
		return false
	}
	delete(o.users, u.user.ID)
	s.recordEvent(o, nil, EventRemovedFromOrg, "", u.user.Username, nil, nil)
	return true
}

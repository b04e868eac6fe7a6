package atlastest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// --- Atlas (UI) users: organization membership, project membership, roles, event logs ---
//
// The refusals below follow Atlas's rules as its documentation states them ("a user must have
// at least one role at all times", an organization keeps an owner). Checked against the SDK's
// spec (openapi/atlas-api-transformed.yaml):
//
//   - Statuses are Atlas's: each refusal's status is one the operation declares (400, 404 and
//     409 for addGroupUsers, addGroupUserRole, removeGroupUserRole and addOrgRole; no 409 for
//     removeGroupUser and removeOrgRole), and the response validation enforces it.
//   - Codes are not: the spec names no error code for these operations (its shared 400, 404
//     and 409 examples, VALIDATION_ERROR, RESOURCE_NOT_FOUND and a migration code, say "just
//     an example, may not be related"). So the codes below are the simulator's, in Atlas's
//     style, and jitbot must not depend on them: atlas/uiaccess.go decides by status (a 404
//     that does not name the project or organization means the account is gone or no member;
//     a 409 from addGroupUsers means a member already), and INVALID_ROLE only words a message.
//   - addGroupUsers for a username the organization does not know invites it (PENDING), as
//     the operation's description says; it is not refused.
//   - Event types (JOINED_GROUP, INVITED_TO_GROUP, REMOVED_FROM_GROUP, USER_ROLES_CHANGED_AUDIT,
//     JOINED_ORG, INVITED_TO_ORG, REMOVED_FROM_ORG, MONGODB_USER_ADDED, GROUP_CREATED,
//     API_KEY_CREATED, ...) are Atlas's documented event and alert types; the transformed spec
//     types eventTypeName as a plain string, so it cannot check them.
//   - The raw document (includeRaw) has the spec's fields (_t, cre, description, orgId,
//     orgName, ...), but the spec says its fields may change and are not to be relied on. The
//     roles a change gave or took are in its description in the simulator's own wording
//     ("USER_ROLES_CHANGED_AUDIT +GROUP_READ_ONLY"); atlas/uievents.go reads a change that
//     names no role as possibly giving every role, keeps them and tells the admins.
//
//	USER_NOT_FOUND            404  no user with that id in the organization
//	USER_NOT_IN_GROUP         404  the user has no role in the project
//	USER_ALREADY_IN_GROUP     409  addGroupUsers for a member of the project
//	INVALID_ROLE              400  a role name Atlas does not have at that level
//	CANNOT_REMOVE_LAST_OWNER  400  taking the last owner's ownership (organization or project)
//	CANNOT_REMOVE_LAST_ROLE   400  removing a user's only role
//
// Adding a role the user holds, or removing one it does not, changes nothing and answers 200.

// invitationTTL is how long an invitation stays open (Atlas: 30 days).
const invitationTTL = 30 * 24 * time.Hour

type orgRolesJSON struct {
	GroupRoleAssignments []groupRolesJSON `json:"groupRoleAssignments"`
	OrgRoles             []string         `json:"orgRoles"`
}

type groupRolesJSON struct {
	GroupID    string   `json:"groupId"`
	GroupRoles []string `json:"groupRoles"`
}

// memberJSON carries the fields of OrgUserResponse and GroupUserResponse: Roles is an
// orgRolesJSON for the first, a list of project roles for the second.
type memberJSON struct {
	ID                  string   `json:"id"`
	OrgMembershipStatus string   `json:"orgMembershipStatus"`
	Roles               any      `json:"roles"`
	TeamIDs             []string `json:"teamIds,omitempty"`
	Username            string   `json:"username"`
	CreatedAt           string   `json:"createdAt,omitempty"`
	FirstName           string   `json:"firstName,omitempty"`
	LastName            string   `json:"lastName,omitempty"`
	InvitationCreatedAt string   `json:"invitationCreatedAt,omitempty"`
	InvitationExpiresAt string   `json:"invitationExpiresAt,omitempty"`
	InviterUsername     string   `json:"inviterUsername,omitempty"`
}

type eventJSON struct {
	ID             string         `json:"id"`
	Created        string         `json:"created"`
	EventTypeName  string         `json:"eventTypeName"`
	GroupID        string         `json:"groupId,omitempty"`
	OrgID          string         `json:"orgId"`
	IsGlobalAdmin  bool           `json:"isGlobalAdmin"`
	APIKeyID       string         `json:"apiKeyId,omitempty"`
	PublicKey      string         `json:"publicKey,omitempty"`
	TargetUsername string         `json:"targetUsername,omitempty"`
	Username       string         `json:"username,omitempty"`
	UserID         string         `json:"userId,omitempty"`
	DBUserUsername string         `json:"dbUserUsername,omitempty"`
	WhitelistEntry string         `json:"whitelistEntry,omitempty"`
	TargetKey      string         `json:"targetPublicKey,omitempty"`
	Raw            map[string]any `json:"raw,omitempty"`
	Links          []link         `json:"links"`
}

func (u *cloudUser) status() string {
	if u.user.Pending {
		return "PENDING"
	}
	return "ACTIVE"
}

// fill sets the fields that depend on the membership status.
func (u *cloudUser) fill(m *memberJSON) {
	if u.user.Pending {
		m.InvitationCreatedAt = u.invitedAt.Format(time.RFC3339)
		m.InvitationExpiresAt = u.invitedAt.Add(invitationTTL).Format(time.RFC3339)
		if strings.Contains(u.invitedBy, "@") {
			m.InviterUsername = u.invitedBy
		}
		return
	}
	m.CreatedAt = u.created.Format(time.RFC3339)
	m.FirstName, m.LastName = u.user.FirstName, u.user.LastName
}

func orgMemberJSON(u *cloudUser) memberJSON {
	roles := orgRolesJSON{OrgRoles: slices.Clone(u.user.OrgRoles), GroupRoleAssignments: []groupRolesJSON{}}
	for _, g := range sortedKeys(u.user.ProjectRoles) {
		roles.GroupRoleAssignments = append(roles.GroupRoleAssignments, groupRolesJSON{GroupID: g, GroupRoles: slices.Clone(u.user.ProjectRoles[g])})
	}
	m := memberJSON{ID: u.user.ID, OrgMembershipStatus: u.status(), Roles: roles, TeamIDs: []string{}, Username: u.user.Username}
	u.fill(&m)
	return m
}

func groupMemberJSON(u *cloudUser, groupID string) memberJSON {
	m := memberJSON{ID: u.user.ID, OrgMembershipStatus: u.status(), Roles: slices.Clone(u.user.ProjectRoles[groupID]), Username: u.user.Username}
	u.fill(&m)
	return m
}

// membershipFilter reads orgMembershipStatus(es): which statuses to list (ACTIVE and PENDING
// by default).
func membershipFilter(q *request) func(*cloudUser) bool {
	query := q.r.URL.Query()
	want := query["orgMembershipStatuses"]
	if s := query.Get("orgMembershipStatus"); s != "" {
		want = append(want, s)
	}
	if len(want) == 0 {
		return func(*cloudUser) bool { return true }
	}
	return func(u *cloudUser) bool { return slices.Contains(want, u.status()) }
}

// projectOrg returns the request's project and its organization. Called with s.mu held.
func (s *Server) projectOrg(q *request) (*project, *org, *reply) {
	p, fail := s.project(q)
	if fail != nil {
		return nil, nil, fail
	}
	return p, s.orgLocked(p.orgID), nil
}

func userNotFoundByID(id string) reply {
	return errReply(http.StatusNotFound, "USER_NOT_FOUND", fmt.Sprintf("No user with ID %s exists.", id), id)
}

func userNotInGroup(u *cloudUser, p *project) reply {
	return errReply(http.StatusNotFound, "USER_NOT_IN_GROUP",
		fmt.Sprintf("The user %s is not a member of the project %s.", u.user.Username, p.id), u.user.Username, p.id)
}

func invalidRole(level, role string) reply {
	return errReply(http.StatusBadRequest, "INVALID_ROLE", fmt.Sprintf("%s is not a valid %s role.", role, level), role)
}

func lastOwner(what, id string) reply {
	return errReply(http.StatusBadRequest, "CANNOT_REMOVE_LAST_OWNER",
		fmt.Sprintf("The %s %s must keep at least one owner.", what, id), id)
}

func lastRole(u *cloudUser) reply {
	return errReply(http.StatusBadRequest, "CANNOT_REMOVE_LAST_ROLE",
		fmt.Sprintf("The user %s must have at least one role at all times: add the new role before removing the old one.", u.user.Username), u.user.Username)
}

// --- organization users ---

func (s *Server) listOrgUsers(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	keep := membershipFilter(q)
	name := q.r.URL.Query().Get("username")
	all := []memberJSON{}
	for _, u := range o.sortedUsers() {
		if keep(u) && (name == "" || strings.EqualFold(u.user.Username, name)) {
			all = append(all, orgMemberJSON(u))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getOrgUser(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	u, ok := o.users[q.param("userId")]
	if !ok || !membershipFilter(q)(u) {
		return userNotFoundByID(q.param("userId"))
	}
	return reply{status: http.StatusOK, body: orgMemberJSON(u)}
}

type orgRoleBody struct {
	OrgRole string `json:"orgRole"`
}

type groupRoleBody struct {
	GroupRole string `json:"groupRole"`
}

func (s *Server) addOrgRole(q *request) reply    { return s.changeOrgRole(q, true) }
func (s *Server) removeOrgRole(q *request) reply { return s.changeOrgRole(q, false) }

func (s *Server) changeOrgRole(q *request, add bool) reply {
	var b orgRoleBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	u, ok := o.users[q.param("userId")]
	if !ok {
		return userNotFoundByID(q.param("userId"))
	}
	if !orgRoles[b.OrgRole] {
		return invalidRole("organization", b.OrgRole)
	}
	has := slices.Contains(u.user.OrgRoles, b.OrgRole)
	switch {
	case add && !has:
		u.user.OrgRoles = append(u.user.OrgRoles, b.OrgRole)
		s.recordEvent(o, nil, EventUserRolesChanged, q.principal.name, u.user.Username, []string{b.OrgRole}, nil)
	case !add && has:
		if len(u.user.OrgRoles) == 1 {
			return lastRole(u)
		}
		if b.OrgRole == RoleOrgOwner && o.owners("", RoleOrgOwner) == 1 {
			return lastOwner("organization", o.id)
		}
		u.user.OrgRoles = slices.DeleteFunc(u.user.OrgRoles, func(r string) bool { return r == b.OrgRole })
		s.recordEvent(o, nil, EventUserRolesChanged, q.principal.name, u.user.Username, nil, []string{b.OrgRole})
	}
	return reply{status: http.StatusOK, body: orgMemberJSON(u)}
}

// --- project users ---

func (s *Server) listGroupUsers(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, o, fail := s.projectOrg(q)
	if fail != nil {
		return *fail
	}
	keep := membershipFilter(q)
	name := q.r.URL.Query().Get("username")
	all := []memberJSON{}
	for _, u := range o.sortedUsers() {
		if len(u.user.ProjectRoles[p.id]) == 0 || !keep(u) || (name != "" && !strings.EqualFold(u.user.Username, name)) {
			continue
		}
		all = append(all, groupMemberJSON(u, p.id))
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

// member finds the request's user among the project's members. Called with s.mu held.
func (s *Server) member(q *request) (*project, *org, *cloudUser, *reply) {
	p, o, fail := s.projectOrg(q)
	if fail != nil {
		return nil, nil, nil, fail
	}
	u, ok := o.users[q.param("userId")]
	if !ok {
		r := userNotFoundByID(q.param("userId"))
		return nil, nil, nil, &r
	}
	if len(u.user.ProjectRoles[p.id]) == 0 {
		r := userNotInGroup(u, p)
		return nil, nil, nil, &r
	}
	return p, o, u, nil
}

func (s *Server) getGroupUser(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, u, fail := s.member(q)
	if fail != nil {
		return *fail
	}
	if !membershipFilter(q)(u) {
		return userNotFoundByID(u.user.ID)
	}
	return reply{status: http.StatusOK, body: groupMemberJSON(u, p.id)}
}

type groupUserBody struct {
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
}

// addGroupUsers gives an Atlas user roles in a project. A user the organization does not know
// is invited to it (PENDING), as Atlas does.
func (s *Server) addGroupUsers(q *request) reply {
	var b groupUserBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, o, fail := s.projectOrg(q)
	if fail != nil {
		return *fail
	}
	for _, r := range b.Roles {
		if !projectRoles[r] {
			return invalidRole("project", r)
		}
	}
	roles := dedupeRoles(b.Roles)
	u := o.userByName(b.Username)
	if u != nil && len(u.user.ProjectRoles[p.id]) > 0 {
		return errReply(http.StatusConflict, "USER_ALREADY_IN_GROUP",
			fmt.Sprintf("The user %s is already a member of the project %s.", u.user.Username, p.id), u.user.Username, p.id)
	}
	if u == nil {
		now := q.now.UTC()
		local, domain, _ := strings.Cut(b.Username, "@")
		s.seq++
		u = &cloudUser{seq: s.seq, created: now, invitedAt: now, invitedBy: q.principal.name, user: OrgUser{
			ID: stableID("user", o.id, strings.ToLower(b.Username)), Username: b.Username, FirstName: local, LastName: domain,
			Pending: true, OrgRoles: []string{RoleOrgMember}, ProjectRoles: map[string][]string{},
		}}
		o.users[u.user.ID] = u
		s.recordEvent(o, nil, EventInvitedToOrg, q.principal.name, u.user.Username, u.user.OrgRoles, nil)
	}
	if u.user.ProjectRoles == nil {
		u.user.ProjectRoles = map[string][]string{}
	}
	u.user.ProjectRoles[p.id] = roles
	typ := EventJoinedGroup
	if u.user.Pending {
		typ = EventInvitedToGroup
	}
	s.recordEvent(o, p, typ, q.principal.name, u.user.Username, roles, nil)
	return reply{status: http.StatusCreated, body: groupMemberJSON(u, p.id)}
}

func (s *Server) removeGroupUser(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, o, u, fail := s.member(q)
	if fail != nil {
		return *fail
	}
	roles := u.user.ProjectRoles[p.id]
	if slices.Contains(roles, RoleProjectOwner) && o.owners(p.id, RoleProjectOwner) == 1 {
		return lastOwner("project", p.id)
	}
	delete(u.user.ProjectRoles, p.id)
	s.recordEvent(o, p, EventRemovedFromGroup, q.principal.name, u.user.Username, nil, roles)
	return reply{status: http.StatusNoContent}
}

func (s *Server) addGroupUserRole(q *request) reply    { return s.changeGroupRole(q, true) }
func (s *Server) removeGroupUserRole(q *request) reply { return s.changeGroupRole(q, false) }

func (s *Server) changeGroupRole(q *request, add bool) reply {
	var b groupRoleBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, o, u, fail := s.member(q)
	if fail != nil {
		return *fail
	}
	if !projectRoles[b.GroupRole] {
		return invalidRole("project", b.GroupRole)
	}
	roles := u.user.ProjectRoles[p.id]
	has := slices.Contains(roles, b.GroupRole)
	switch {
	case add && !has:
		u.user.ProjectRoles[p.id] = append(roles, b.GroupRole)
		s.recordEvent(o, p, EventUserRolesChanged, q.principal.name, u.user.Username, []string{b.GroupRole}, nil)
	case !add && has:
		if len(roles) == 1 {
			return lastRole(u)
		}
		if b.GroupRole == RoleProjectOwner && o.owners(p.id, RoleProjectOwner) == 1 {
			return lastOwner("project", p.id)
		}
		u.user.ProjectRoles[p.id] = slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == b.GroupRole })
		s.recordEvent(o, p, EventUserRolesChanged, q.principal.name, u.user.Username, nil, []string{b.GroupRole})
	}
	return reply{status: http.StatusOK, body: groupMemberJSON(u, p.id)}
}

// --- event logs ---

// eventFilter reads eventType, excludedEventType, minDate and maxDate.
func eventFilter(q *request) (func(*Event) bool, *reply) {
	query := q.r.URL.Query()
	include, exclude := query["eventType"], query["excludedEventType"]
	var bounds [2]time.Time
	for i, name := range []string{"minDate", "maxDate"} {
		if v := query.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				r := errReply(http.StatusBadRequest, "INVALID_QUERY_PARAMETER", fmt.Sprintf("Invalid query parameter %s: %s.", name, v), name)
				return nil, &r
			}
			bounds[i] = t
		}
	}
	return func(e *Event) bool {
		switch {
		case len(include) > 0 && !slices.Contains(include, e.Type),
			slices.Contains(exclude, e.Type),
			!bounds[0].IsZero() && e.Created.Before(bounds[0]),
			!bounds[1].IsZero() && e.Created.After(bounds[1]):
			return false
		}
		return true
	}, nil
}

// eventsJSON lists events newest first, as Atlas does.
func (q *request) eventsJSON(o *org, p *project, evs []*Event, keep func(*Event) bool) []eventJSON {
	raw := q.r.URL.Query().Get("includeRaw") == "true"
	out := []eventJSON{}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if !keep(e) {
			continue
		}
		href := q.base + "/api/atlas/v2/orgs/" + o.id + "/events/" + e.ID
		if p != nil {
			href = q.base + "/api/atlas/v2/groups/" + p.id + "/events/" + e.ID
		}
		ej := eventJSON{
			ID: e.ID, Created: e.Created.Format(time.RFC3339), EventTypeName: e.Type, GroupID: e.ProjectID, OrgID: e.OrgID,
			TargetUsername: e.TargetUsername, Links: []link{{Href: href, Rel: "self"}},
		}
		if e.Actor != "" {
			ej.APIKeyID, ej.PublicKey = stableID("apiKey", e.Actor), e.Actor
		}
		if e.Username != "" {
			ej.Username, ej.UserID = e.Username, stableID("user", o.id, strings.ToLower(e.Username))
		}
		ej.DBUserUsername, ej.WhitelistEntry, ej.TargetKey = e.DBUser, e.AccessListEntry, e.APIKey
		if raw {
			ej.Raw = map[string]any{"_t": "USER_AUDIT", "id": e.ID, "cre": ej.Created, "orgId": o.id, "orgName": o.name,
				"description": describeRoles(e), "severity": "INFO"}
			if p != nil {
				ej.Raw["cid"], ej.Raw["gn"] = p.id, p.name
			}
		}
		out = append(out, ej)
	}
	return out
}

func describeRoles(e *Event) string {
	var parts []string
	for _, r := range e.Added {
		parts = append(parts, "+"+r)
	}
	for _, r := range e.Removed {
		parts = append(parts, "-"+r)
	}
	if len(parts) == 0 {
		return e.Type
	}
	return e.Type + " " + strings.Join(parts, " ")
}

func (s *Server) listGroupEvents(q *request) reply {
	keep, fail := eventFilter(q)
	if fail != nil {
		return *fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, o, fail := s.projectOrg(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: paginate(q, q.eventsJSON(o, p, p.events, keep))}
}

func (s *Server) listOrgEvents(q *request) reply {
	keep, fail := eventFilter(q)
	if fail != nil {
		return *fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: paginate(q, q.eventsJSON(o, nil, o.events, keep))}
}

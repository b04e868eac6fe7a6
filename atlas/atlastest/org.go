package atlastest

import (
	"crypto/sha1" //nolint:gosec // only derives stable fake object ids.
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// org is a simulated organization: its projects point at it, and it holds the Atlas (UI)
// users and the organization's event log.
type org struct {
	id, name string
	created  time.Time
	users    map[string]*cloudUser // by user id
	events   []*Event
}

// cloudUser is an Atlas user's membership of one organization.
type cloudUser struct {
	seq  int64
	user OrgUser
	// invitedBy and invitedAt describe the invitation of a pending user.
	invitedBy string
	invitedAt time.Time
	created   time.Time
}

// stableID derives a 24-hex-digit id from parts, so that the simulator's ids are the same on
// every run.
func stableID(parts ...string) string {
	sum := sha1.Sum([]byte(strings.Join(parts, "\x00"))) //nolint:gosec // not security relevant.
	return hex.EncodeToString(sum[:12])
}

// AddOrganization creates an organization, or renames an existing one.
func (s *Server) AddOrganization(o Organization) {
	if !hex24.MatchString(o.ID) {
		s.log.Warn("atlas simulator: organization id is not 24 hex digits; requests for it will fail validation", "org_id", o.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgLocked(o.ID).name = orDefault(o.Name, "org-"+o.ID)
}

// orgLocked returns the organization, creating it if needed. Called with s.mu held.
func (s *Server) orgLocked(id string) *org {
	o, ok := s.orgs[id]
	if !ok {
		o = &org{id: id, name: "org-" + id, created: s.clock.Now().UTC(), users: map[string]*cloudUser{}}
		s.orgs[id] = o
	}
	return o
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// SetProject creates a project or changes an existing one: its name (a rename keeps the id,
// as in Atlas), its tags and its organization. Empty fields of p leave an existing project's
// values alone, except Tags, which p replaces when not nil.
func (s *Server) SetProject(p Project) {
	if !hex24.MatchString(p.ID) {
		s.log.Warn("atlas simulator: project id is not 24 hex digits; requests for it will fail validation", "project_id", p.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.addProjectLocked(p.ID, "")
	if p.Name != "" {
		pr.name = p.Name
	}
	if p.OrgID != "" {
		pr.orgID = p.OrgID
		s.orgLocked(p.OrgID)
	}
	if p.Tags != nil {
		pr.tags = slices.Clone(p.Tags)
	}
}

// RenameProject renames a project; its id stays. It fails for an unknown project.
func (s *Server) RenameProject(id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[id]
	if !ok {
		return fmt.Errorf("atlastest: RenameProject: no project %s", id)
	}
	p.name = name
	return nil
}

// RemoveProject deletes a project and every membership of it.
func (s *Server) RemoveProject(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[id]
	if !ok {
		return
	}
	delete(s.projects, id)
	if o := s.orgs[p.orgID]; o != nil {
		for _, u := range o.users {
			delete(u.user.ProjectRoles, id)
		}
	}
}

// RemoveCluster deletes a cluster of a project; it reports whether there was one.
func (s *Server) RemoveCluster(projectID, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return false
	}
	for i, c := range p.clusters {
		if c.Name == name {
			p.clusters = slices.Delete(p.clusters, i, i+1)
			return true
		}
	}
	return false
}

// AddProcessDatabases adds databases to a dedicated cluster, as if created through a driver:
// listDatabases then answers them for each of its processes. It fails for an unknown cluster
// and for a shared-tier or Flex one, which has no process the monitoring API shows.
func (s *Server) AddProcessDatabases(projectID, clusterName string, dbs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return fmt.Errorf("atlastest: AddProcessDatabases: no project %s", projectID)
	}
	c := p.cluster(clusterName)
	if c == nil {
		return fmt.Errorf("atlastest: AddProcessDatabases: no cluster %s in project %s", clusterName, projectID)
	}
	if c.shared() {
		return fmt.Errorf("atlastest: AddProcessDatabases: %s is a %s cluster: the monitoring API shows no process of it", clusterName, c.Tier)
	}
	for _, db := range dbs {
		if !slices.Contains(c.Databases, db) {
			c.Databases = append(c.Databases, db)
		}
	}
	return nil
}

// Projects lists the ids of an organization's projects, sorted.
func (s *Server) Projects(orgID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, p := range s.projects {
		if p.orgID == orgID {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// AddOrgUser adds an Atlas user to an organization (created if needed) with its organization
// and project roles, as if invited and (unless Pending) accepted earlier. It returns the
// user's id. Unknown role names and projects of another organization are refused; so is a
// username already in the organization.
func (s *Server) AddOrgUser(orgID string, u OrgUser) (string, error) {
	if u.Username == "" {
		return "", fmt.Errorf("atlastest: AddOrgUser: username is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgLocked(orgID)
	if o.userByName(u.Username) != nil {
		return "", fmt.Errorf("atlastest: AddOrgUser: %s is already in organization %s", u.Username, orgID)
	}
	if len(u.OrgRoles) == 0 {
		u.OrgRoles = []string{RoleOrgMember}
	}
	for _, r := range u.OrgRoles {
		if !orgRoles[r] {
			return "", fmt.Errorf("atlastest: AddOrgUser: %q is not an organization role", r)
		}
	}
	for g, roles := range u.ProjectRoles {
		p, ok := s.projects[g]
		if !ok || p.orgID != orgID {
			return "", fmt.Errorf("atlastest: AddOrgUser: project %s is not in organization %s", g, orgID)
		}
		for _, r := range roles {
			if !projectRoles[r] {
				return "", fmt.Errorf("atlastest: AddOrgUser: %q is not a project role", r)
			}
		}
	}
	if u.ID == "" {
		u.ID = stableID("user", orgID, strings.ToLower(u.Username))
	}
	if _, dup := o.users[u.ID]; dup {
		return "", fmt.Errorf("atlastest: AddOrgUser: user id %s is taken", u.ID)
	}
	local, domain, _ := strings.Cut(u.Username, "@")
	u.FirstName = orDefault(u.FirstName, local)
	u.LastName = orDefault(u.LastName, orDefault(domain, "user"))
	u = u.clone()
	u.OrgRoles = dedupeRoles(u.OrgRoles)
	for g, roles := range u.ProjectRoles {
		u.ProjectRoles[g] = dedupeRoles(roles)
	}
	now := s.clock.Now().UTC()
	s.seq++
	o.users[u.ID] = &cloudUser{seq: s.seq, user: u, created: now, invitedAt: now}
	return u.ID, nil
}

// OrgUser returns a snapshot of an organization's Atlas user, looked up by username.
func (s *Server) OrgUser(orgID, username string) (OrgUser, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return OrgUser{}, false
	}
	u := o.userByName(username)
	if u == nil {
		return OrgUser{}, false
	}
	return u.user.clone(), true
}

// ProjectRoles returns the roles the Atlas user holds in a project (nil when not a member).
func (s *Server) ProjectRoles(projectID, username string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	o := s.orgs[p.orgID]
	if o == nil {
		return nil
	}
	u := o.userByName(username)
	if u == nil {
		return nil
	}
	return slices.Clone(u.user.ProjectRoles[projectID])
}

// OrgRoles returns the organization roles of an Atlas user (nil when not in the organization).
func (s *Server) OrgRoles(orgID, username string) []string {
	u, ok := s.OrgUser(orgID, username)
	if !ok {
		return nil
	}
	return u.OrgRoles
}

// Events returns a project's event log, oldest first.
func (s *Server) Events(projectID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	return cloneEvents(p.events)
}

// OrgEvents returns an organization's event log, oldest first.
func (s *Server) OrgEvents(orgID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil
	}
	return cloneEvents(o.events)
}

func cloneEvents(evs []*Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = *e
		out[i].Added = slices.Clone(e.Added)
		out[i].Removed = slices.Clone(e.Removed)
	}
	return out
}

func (o *org) userByName(username string) *cloudUser {
	for _, u := range o.users {
		if strings.EqualFold(u.user.Username, username) {
			return u
		}
	}
	return nil
}

// sortedUsers lists the organization's users in the order they joined.
func (o *org) sortedUsers() []*cloudUser {
	out := make([]*cloudUser, 0, len(o.users))
	for _, u := range o.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// owners counts the users holding role in the organization (project "") or in a project.
func (o *org) owners(project, role string) int {
	n := 0
	for _, u := range o.users {
		roles := u.user.OrgRoles
		if project != "" {
			roles = u.user.ProjectRoles[project]
		}
		if slices.Contains(roles, role) {
			n++
		}
	}
	return n
}

// recordEvent appends an event to a project's log (p not nil) or to the organization's. Called with
// s.mu held.
func (s *Server) recordEvent(o *org, p *project, typ, actor, target string, added, removed []string) {
	s.seq++
	e := &Event{
		ID: stableID("event", fmt.Sprint(s.seq)), Type: typ, Created: s.clock.Now().UTC(), OrgID: o.id,
		Actor: actor, TargetUsername: target, Added: slices.Clone(added), Removed: slices.Clone(removed),
	}
	if p != nil {
		e.ProjectID = p.id
		p.events = append(p.events, e)
		return
	}
	o.events = append(o.events, e)
}

func dedupeRoles(roles []string) []string {
	var out []string
	for _, r := range roles {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// projectRoles are the project roles Atlas knows (the spec leaves them open: it documents
// them in the Atlas user roles page).
var projectRoles = map[string]bool{
	"GROUP_OWNER": true, "GROUP_CLUSTER_MANAGER": true, "GROUP_STREAM_PROCESSING_OWNER": true,
	"GROUP_DATA_ACCESS_ADMIN": true, "GROUP_DATA_ACCESS_READ_WRITE": true, "GROUP_DATA_ACCESS_READ_ONLY": true,
	"GROUP_READ_ONLY": true, "GROUP_SEARCH_INDEX_EDITOR": true, "GROUP_BACKUP_MANAGER": true,
	"GROUP_OBSERVABILITY_VIEWER": true, "GROUP_DATABASE_ACCESS_ADMIN": true,
}

// orgRoles are the organization roles of the raw spec's AddOrRemoveOrgRole enum.
var orgRoles = map[string]bool{
	"ORG_OWNER": true, "ORG_GROUP_CREATOR": true, "ORG_BILLING_ADMIN": true, "ORG_BILLING_READ_ONLY": true,
	"ORG_STREAM_PROCESSING_ADMIN": true, "ORG_READ_ONLY": true, "ORG_MEMBER": true,
}

package atlastest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDeleteAfter is how far ahead Atlas accepts a deleteAfterDate: "a future date that falls
// within one week of making the API request".
const maxDeleteAfter = 7 * 24 * time.Hour

func (s *Server) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"listGroups":         s.listGroups,
		"getGroup":           s.getGroup,
		"getGroupByName":     s.getGroupByName,
		"listClusters":       s.listClusters,
		"getCluster":         s.getCluster,
		"getClusterStatus":   s.getClusterStatus,
		"listDatabaseUsers":  s.listDatabaseUsers,
		"createDatabaseUser": s.createDatabaseUser,
		"getDatabaseUser":    s.getDatabaseUser,
		"updateDatabaseUser": s.updateDatabaseUser,
		"deleteDatabaseUser": s.deleteDatabaseUser,

		"listOrgs":            s.listOrgs,
		"getOrg":              s.getOrg,
		"getOrgGroups":        s.getOrgGroups,
		"listFlexClusters":    s.listFlexClusters,
		"getFlexCluster":      s.getFlexCluster,
		"listGroupProcesses":  s.listGroupProcesses,
		"listDatabases":       s.listDatabases,
		"listOrgUsers":        s.listOrgUsers,
		"getOrgUser":          s.getOrgUser,
		"addOrgRole":          s.addOrgRole,
		"removeOrgRole":       s.removeOrgRole,
		"listGroupUsers":      s.listGroupUsers,
		"getGroupUser":        s.getGroupUser,
		"addGroupUsers":       s.addGroupUsers,
		"removeGroupUser":     s.removeGroupUser,
		"addGroupUserRole":    s.addGroupUserRole,
		"removeGroupUserRole": s.removeGroupUserRole,
		"listGroupEvents":     s.listGroupEvents,
		"listOrgEvents":       s.listOrgEvents,
		// The project IP access list (accesslist.go).
		"listAccessListEntries": s.listAccessListEntries,
		"createAccessListEntry": s.createAccessListEntry,
		"getAccessListEntry":    s.getAccessListEntry,
		"getAccessListStatus":   s.getAccessListStatus,
		"deleteAccessListEntry": s.deleteAccessListEntry,
		// Service accounts, in a project or the organization (serviceaccounts.go).
		"listGroupServiceAccounts":  s.listServiceAccounts,
		"createGroupServiceAccount": s.createServiceAccount,
		"getGroupServiceAccount":    s.getServiceAccount,
		"deleteGroupServiceAccount": s.deleteServiceAccount,
		"listAccessList":            s.listServiceAccountAccess,
		"createAccessList":          s.createServiceAccountAccess,
		"deleteGroupAccessEntry":    s.deleteServiceAccountAccess,
		"createGroupSecret":         s.createServiceAccountSecret,
		"deleteGroupSecret":         s.deleteServiceAccountSecret,
		"listOrgServiceAccounts":    s.listServiceAccounts,
		"createOrgServiceAccount":   s.createServiceAccount,
		"getOrgServiceAccount":      s.getServiceAccount,
		"deleteOrgServiceAccount":   s.deleteServiceAccount,
		"listOrgAccessList":         s.listServiceAccountAccess,
		"createOrgAccessList":       s.createServiceAccountAccess,
		"deleteOrgAccessEntry":      s.deleteServiceAccountAccess,
		"createOrgSecret":           s.createServiceAccountSecret,
		"deleteOrgSecret":           s.deleteServiceAccountSecret,
		"getOrgSettings":            s.getOrgSettings,
		// Programmatic API keys (apikeys.go).
		"listGroupApiKeys":     s.listAPIKeys,
		"createGroupApiKey":    s.createAPIKey,
		"removeGroupApiKey":    s.deleteAPIKey,
		"listOrgApiKeys":       s.listAPIKeys,
		"createOrgApiKey":      s.createAPIKey,
		"getOrgApiKey":         s.getAPIKey,
		"deleteOrgApiKey":      s.deleteAPIKey,
		"listOrgAccessEntries": s.listAPIKeyAccess,
		"createOrgAccessEntry": s.createAPIKeyAccess,
		"deleteAccessEntry":    s.deleteAPIKeyAccess,
	}
}

// --- wire types (what Atlas sends; groupId and password are write-only, never sent back) ---

type groupJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	OrgID        string    `json:"orgId"`
	ClusterCount int64     `json:"clusterCount"`
	Created      string    `json:"created"`
	Tags         []tagJSON `json:"tags"`
	Links        []link    `json:"links"`
}

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type connectionStringsJSON struct {
	Standard        string                `json:"standard,omitempty"`
	StandardSrv     string                `json:"standardSrv,omitempty"`
	Private         string                `json:"private,omitempty"`
	PrivateSrv      string                `json:"privateSrv,omitempty"`
	PrivateEndpoint []privateEndpointJSON `json:"privateEndpoint,omitempty"`
}

type privateEndpointJSON struct {
	ConnectionString    string         `json:"connectionString,omitempty"`
	SrvConnectionString string         `json:"srvConnectionString,omitempty"`
	Type                string         `json:"type"`
	Endpoints           []endpointJSON `json:"endpoints"`
}

type endpointJSON struct {
	EndpointID   string `json:"endpointId"`
	ProviderName string `json:"providerName"`
	Region       string `json:"region"`
}

// connectionStrings are a dedicated cluster's connection strings: the public ones always,
// the peering and private-endpoint ones only where the cluster has them.
func connectionStrings(c *cluster) connectionStringsJSON {
	out := connectionStringsJSON{Standard: c.Standard, StandardSrv: c.StandardSrv, Private: c.Private, PrivateSrv: c.PrivateSrv}
	for _, pe := range c.PrivateEndpoints {
		pj := privateEndpointJSON{ConnectionString: pe.ConnectionString, SrvConnectionString: pe.SrvConnectionString, Type: "MONGOD", Endpoints: []endpointJSON{}}
		for _, id := range pe.EndpointIDs {
			pj.Endpoints = append(pj.Endpoints, endpointJSON{EndpointID: id, ProviderName: cmp.Or(pe.Provider, c.Provider), Region: cmp.Or(pe.Region, c.Region)})
		}
		out.PrivateEndpoint = append(out.PrivateEndpoint, pj)
	}
	return out
}

type clusterJSON struct {
	ID                  string                `json:"id"`
	GroupID             string                `json:"groupId"`
	Name                string                `json:"name"`
	ClusterType         string                `json:"clusterType"`
	StateName           string                `json:"stateName"`
	Paused              bool                  `json:"paused"`
	MongoDBMajorVersion string                `json:"mongoDBMajorVersion"`
	MongoDBVersion      string                `json:"mongoDBVersion"`
	Tags                []tagJSON             `json:"tags"`
	ConnectionStrings   connectionStringsJSON `json:"connectionStrings"`
	ReplicationSpecs    []replicationSpecJSON `json:"replicationSpecs"`
	CreateDate          string                `json:"createDate"`
	Links               []link                `json:"links"`
}

type roleJSON struct {
	RoleName       string `json:"roleName"`
	DatabaseName   string `json:"databaseName"`
	CollectionName string `json:"collectionName,omitempty"`
}

type scopeJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type labelJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type userJSON struct {
	DatabaseName    string      `json:"databaseName"`
	Username        string      `json:"username"`
	Roles           []roleJSON  `json:"roles"`
	Scopes          []scopeJSON `json:"scopes"`
	Labels          []labelJSON `json:"labels"`
	Description     string      `json:"description,omitempty"`
	DeleteAfterDate string      `json:"deleteAfterDate,omitempty"`
	AWSIAMType      string      `json:"awsIAMType"`
	LDAPAuthType    string      `json:"ldapAuthType"`
	OIDCAuthType    string      `json:"oidcAuthType"`
	X509Type        string      `json:"x509Type"`
	Links           []link      `json:"links"`
}

// userBody is a create or update request; pointers tell absent fields from empty ones, which
// PATCH semantics need.
type userBody struct {
	DatabaseName    *string      `json:"databaseName"`
	GroupID         *string      `json:"groupId"`
	Username        *string      `json:"username"`
	Password        *string      `json:"password"`
	Roles           *[]roleJSON  `json:"roles"`
	Scopes          *[]scopeJSON `json:"scopes"`
	Labels          *[]labelJSON `json:"labels"`
	Description     *string      `json:"description"`
	DeleteAfterDate *string      `json:"deleteAfterDate"`
	AWSIAMType      *string      `json:"awsIAMType"`
	LDAPAuthType    *string      `json:"ldapAuthType"`
	OIDCAuthType    *string      `json:"oidcAuthType"`
	X509Type        *string      `json:"x509Type"`
}

type page[T any] struct {
	Links      []link `json:"links"`
	Results    []T    `json:"results"`
	TotalCount *int   `json:"totalCount,omitempty"`
}

func paginate[T any](q *request, all []T) page[T] {
	query := q.r.URL.Query()
	per := intParam(query.Get("itemsPerPage"), 100)
	num := intParam(query.Get("pageNum"), 1)
	out := page[T]{Links: q.selfLink(), Results: []T{}}
	if start := (num - 1) * per; start < len(all) {
		out.Results = all[start:min(start+per, len(all))]
	}
	if query.Get("includeCount") != "false" {
		n := len(all)
		out.TotalCount = &n
	}
	return out
}

func intParam(v string, def int) int {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n
	}
	return def
}

// groupJSON describes a project. Its clusterCount counts every cluster, Flex ones included.
func (q *request) groupJSON(p *project, orgID string) groupJSON {
	return groupJSON{
		ID: p.id, Name: p.name, OrgID: orgID, ClusterCount: int64(len(p.clusters)),
		Created: p.created.Format(time.RFC3339), Tags: tagsJSON(p.tags),
		Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id, Rel: "self"}},
	}
}

func (q *request) clusterJSON(p *project, c *cluster) clusterJSON {
	major := c.MongoDBVersion
	if parts := strings.SplitN(major, ".", 3); len(parts) >= 2 {
		major = parts[0] + "." + parts[1]
	}
	return clusterJSON{
		ID: c.id, GroupID: p.id, Name: c.Name, ClusterType: "REPLICASET", StateName: c.StateName,
		Paused: c.Paused, MongoDBMajorVersion: major, MongoDBVersion: c.MongoDBVersion, Tags: tagsJSON(c.Tags),
		ConnectionStrings: connectionStrings(c),
		ReplicationSpecs:  q.replicationSpecs(p, c),
		CreateDate:        c.created.Format(time.RFC3339),
		Links:             []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id + "/clusters/" + c.Name, Rel: "self"}},
	}
}

func (q *request) userJSON(p *project, u User) userJSON {
	out := userJSON{
		DatabaseName: u.DatabaseName, Username: u.Username,
		Roles: []roleJSON{}, Scopes: []scopeJSON{}, Labels: []labelJSON{},
		Description: u.Description,
		AWSIAMType:  u.AWSIAMType, LDAPAuthType: u.LDAPAuthType, OIDCAuthType: u.OIDCAuthType, X509Type: u.X509Type,
		Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id + "/databaseUsers/" + u.DatabaseName + "/" + u.Username, Rel: "self"}},
	}
	for _, r := range u.Roles {
		out.Roles = append(out.Roles, roleJSON(r))
	}
	for _, sc := range u.Scopes {
		out.Scopes = append(out.Scopes, scopeJSON(sc))
	}
	for _, l := range u.Labels {
		out.Labels = append(out.Labels, labelJSON(l))
	}
	if !u.DeleteAfterDate.IsZero() {
		out.DeleteAfterDate = u.DeleteAfterDate.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// project returns the request's project. Called with s.mu held.
func (s *Server) project(q *request) (*project, *reply) {
	id := q.param("groupId")
	p, ok := s.projects[id]
	if !ok {
		r := errReply(http.StatusNotFound, "GROUP_NOT_FOUND", fmt.Sprintf("No group with ID %s exists.", id), id)
		return nil, &r
	}
	return p, nil
}

// --- projects ---

func (s *Server) listGroups(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]groupJSON, 0, len(s.projects))
	for _, id := range sortedKeys(s.projects) {
		if p := s.projects[id]; q.principal.seesProject(p.id) {
			all = append(all, q.groupJSON(p, p.orgID))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getGroup(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: q.groupJSON(p, p.orgID)}
}

func (s *Server) getGroupByName(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := q.param("groupName")
	for _, id := range sortedKeys(s.projects) {
		if p := s.projects[id]; p.name == name {
			return reply{status: http.StatusOK, body: q.groupJSON(p, p.orgID)}
		}
	}
	return errReply(http.StatusNotFound, "GROUP_NAME_NOT_FOUND", fmt.Sprintf("No group with name %s exists.", name), name)
}

// --- clusters ---

func (s *Server) listClusters(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	all := make([]clusterJSON, 0, len(p.clusters))
	for _, c := range p.clusters {
		if !c.flex() { // Flex clusters are listed by listFlexClusters only
			all = append(all, q.clusterJSON(p, c))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func clusterNotFound(p *project, name string) reply {
	return errReply(http.StatusNotFound, "CLUSTER_NOT_FOUND",
		fmt.Sprintf("No cluster named %s exists in group %s.", name, p.id), name, p.id)
}

func (s *Server) getCluster(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	c := p.cluster(q.param("clusterName"))
	if c == nil {
		return clusterNotFound(p, q.param("clusterName"))
	}
	if c.flex() {
		return flexInClusterAPI(c.Name)
	}
	return reply{status: http.StatusOK, body: q.clusterJSON(p, c)}
}

// getClusterStatus reports PENDING while the project's last user change is being applied.
// Each call counts as one poll.
func (s *Server) getClusterStatus(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	c := p.cluster(q.param("clusterName"))
	if c == nil {
		return clusterNotFound(p, q.param("clusterName"))
	}
	if c.flex() {
		return flexInClusterAPI(c.Name)
	}
	status := "APPLIED"
	if p.pendingPolls > 0 {
		p.pendingPolls--
		status = "PENDING"
	} else if s.clock.Now().Before(p.pendingUntil) {
		status = "PENDING"
	}
	return reply{status: http.StatusOK, body: map[string]any{"changeStatus": status, "links": q.selfLink()}}
}

// --- database users ---

func userNotFound(db, name string) reply {
	return errReply(http.StatusNotFound, "USERNAME_NOT_FOUND",
		fmt.Sprintf("No user with username %s exists in database %s.", name, db), name)
}

func (s *Server) listDatabaseUsers(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	all := []userJSON{}
	for _, u := range p.sortedUsers() {
		all = append(all, q.userJSON(p, u.user))
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getDatabaseUser(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	db, name := q.param("databaseName"), q.param("username")
	u, ok := p.users[userKey{db, name}]
	if !ok {
		return userNotFound(db, name)
	}
	return reply{status: http.StatusOK, body: q.userJSON(p, u.user)}
}

func (s *Server) deleteDatabaseUser(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	db, name := q.param("databaseName"), q.param("username")
	if _, ok := p.users[userKey{db, name}]; !ok {
		return userNotFound(db, name)
	}
	delete(p.users, userKey{db, name})
	s.markChanged(p)
	return reply{status: http.StatusNoContent}
}

func (s *Server) createDatabaseUser(q *request) reply {
	var b userBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	if b.GroupID != nil && *b.GroupID != p.id {
		return errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE",
			fmt.Sprintf("Invalid attribute groupId specified: %s does not match the project in the URL (%s).", *b.GroupID, p.id), "groupId")
	}
	u := User{
		Username: deref(b.Username), DatabaseName: deref(b.DatabaseName),
		AWSIAMType: orNone(b.AWSIAMType), LDAPAuthType: orNone(b.LDAPAuthType),
		OIDCAuthType: orNone(b.OIDCAuthType), X509Type: orNone(b.X509Type),
		Description: deref(b.Description), Created: q.now, Updated: q.now,
	}
	if u.DatabaseName == "" {
		u.DatabaseName = "admin"
	}
	if r := checkAuthTypes(u); r != nil {
		return *r
	}
	if r := checkExternalUser(u, b.Password != nil); r != nil { // external_users.go
		return *r
	}
	scram := u.AWSIAMType == "NONE" && u.LDAPAuthType == "NONE" && u.OIDCAuthType == "NONE" && u.X509Type == "NONE"
	if scram && b.Password == nil {
		return errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attribute password was not specified.", "password")
	}
	if r := s.applyBody(q, p, &u, &b); r != nil {
		return *r
	}
	key := userKey{u.DatabaseName, u.Username}
	if _, dup := p.users[key]; dup {
		return errReply(http.StatusConflict, "USER_ALREADY_EXISTS",
			fmt.Sprintf("The specified user %s already exists in database %s.", u.Username, u.DatabaseName), u.Username)
	}
	if len(p.users) >= s.userCap {
		return errReply(http.StatusForbidden, "GROUP_USERS_LIMIT_EXCEEDED",
			fmt.Sprintf("Exceeded maximum number of database users. This group can have at most %d database users.", s.userCap), s.userCap)
	}
	s.seq++
	su := &storedUser{seq: s.seq, user: u}
	if b.Password != nil {
		su.setPassword(*b.Password)
	}
	p.users[key] = su
	s.countCreateLocked(p.id, u.Username)
	s.markChanged(p)
	return reply{status: http.StatusCreated, body: q.userJSON(p, su.user)}
}

func (s *Server) updateDatabaseUser(q *request) reply {
	var b userBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	db, name := q.param("databaseName"), q.param("username")
	su, ok := p.users[userKey{db, name}]
	if !ok {
		return userNotFound(db, name)
	}
	if b.Username != nil && *b.Username != name {
		return errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE",
			fmt.Sprintf("Invalid attribute username specified: a user cannot be renamed (%s to %s).", name, *b.Username), "username")
	}
	if r := checkExternalUpdate(su.user, &b); r != nil { // external_users.go
		return *r
	}
	u := su.user.clone()
	if r := s.applyBody(q, p, &u, &b); r != nil {
		return *r
	}
	if b.Password != nil {
		su.setPassword(*b.Password)
		u.HasPassword = true
		u.PasswordChanges++
	}
	u.Updated = q.now
	su.user = u
	s.markChanged(p)
	return reply{status: http.StatusOK, body: q.userJSON(p, su.user)}
}

// applyBody copies the optional fields of a create or update body onto u after checking the
// rules the spec states only in prose. Called with s.mu held.
func (s *Server) applyBody(q *request, p *project, u *User, b *userBody) *reply {
	if b.Roles != nil {
		u.Roles = make([]Role, 0, len(*b.Roles))
		for _, r := range *b.Roles {
			u.Roles = append(u.Roles, Role(r))
		}
	}
	if b.Scopes != nil {
		scopes := make([]Scope, 0, len(*b.Scopes))
		for _, sc := range *b.Scopes {
			switch sc.Type {
			case "CLUSTER":
				if p.cluster(sc.Name) == nil {
					r := clusterNotFound(p, sc.Name)
					return &r
				}
			case "DATA_LAKE", "STREAM":
				// Not simulated: accepted as given.
			default:
				r := invalidEnum("scopes.type", sc.Type)
				return &r
			}
			scopes = append(scopes, Scope(sc))
		}
		u.Scopes = scopes
	}
	if b.Labels != nil {
		u.Labels = make([]Label, 0, len(*b.Labels))
		for _, l := range *b.Labels {
			u.Labels = append(u.Labels, Label(l))
		}
	}
	if b.Description != nil {
		u.Description = *b.Description
	}
	if b.DeleteAfterDate != nil {
		d, err := time.Parse(time.RFC3339Nano, *b.DeleteAfterDate)
		if err != nil {
			r := errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE",
				"Invalid attribute deleteAfterDate specified: "+err.Error(), "deleteAfterDate")
			return &r
		}
		if r := checkDeleteAfter(q.now, d); r != nil {
			return r
		}
		u.DeleteAfterDate = d.UTC()
	}
	return nil
}

func checkDeleteAfter(now, d time.Time) *reply {
	latest := now.Add(maxDeleteAfter)
	var why string
	switch {
	case !d.After(now):
		why = "it is not in the future"
	case d.After(latest):
		why = "it is more than one week after the request"
	default:
		return nil
	}
	r := errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE",
		fmt.Sprintf("Invalid attribute deleteAfterDate specified: %s is rejected because %s; it must be a future date within one week of the request (now %s, latest %s).",
			d.UTC().Format(time.RFC3339), why, now.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339)),
		"deleteAfterDate")
	return &r
}

// checkAuthTypes enforces the enums the transformed spec dropped.
func checkAuthTypes(u User) *reply {
	for _, f := range []struct {
		name, value string
		allowed     []string
	}{
		{"awsIAMType", u.AWSIAMType, []string{"NONE", "USER", "ROLE"}},
		{"ldapAuthType", u.LDAPAuthType, []string{"NONE", "USER", "GROUP"}},
		{"oidcAuthType", u.OIDCAuthType, []string{"NONE", "IDP_GROUP", "USER"}},
		{"x509Type", u.X509Type, []string{"NONE", "CUSTOMER", "MANAGED"}},
	} {
		ok := false
		for _, a := range f.allowed {
			ok = ok || f.value == a
		}
		if !ok {
			r := invalidEnum(f.name, f.value)
			return &r
		}
	}
	return nil
}

func invalidEnum(field, value string) reply {
	return errReply(http.StatusBadRequest, "INVALID_ENUM_VALUE",
		fmt.Sprintf("An invalid enumeration value %s was specified for %s.", value, field), value, field)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orNone(s *string) string {
	if s == nil || *s == "" {
		return "NONE"
	}
	return *s
}

package atlastest

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // only derives stable fake object ids.
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

type project struct {
	id       string
	name     string
	orgID    string
	tags     []Tag
	events   []*Event
	created  time.Time
	clusters []*cluster
	users    map[userKey]*storedUser
	// A change is pending until both have passed: polls left and a real-time deadline.
	pendingPolls int
	pendingUntil time.Time
}

type cluster struct {
	Cluster
	id      string
	created time.Time
}

type userKey struct{ db, name string }

type storedUser struct {
	seq  int64
	user User
	// The password is kept only as a salted hash, like any credential store should.
	salt, hash []byte
}

func (u *storedUser) setPassword(pw string) {
	u.salt = make([]byte, 16)
	_, _ = rand.Read(u.salt)
	u.hash = hashPassword(u.salt, pw)
	u.user.HasPassword = true
}

func hashPassword(salt []byte, pw string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(pw))
	return h.Sum(nil)
}

// AddProject creates a project (or renames an existing one). id should be 24 hex digits: any
// other id can never be reached, since the spec rejects it in URLs.
func (s *Server) AddProject(id, name string) {
	if !hex24.MatchString(id) {
		s.log.Warn("atlas simulator: project id is not 24 hex digits; requests for it will fail validation", "project_id", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addProjectLocked(id, name)
}

func (s *Server) addProjectLocked(id, name string) *project {
	if name == "" {
		name = "project-" + id
	}
	if p, ok := s.projects[id]; ok {
		p.name = name
		return p
	}
	p := &project{id: id, name: name, orgID: s.orgID, created: s.clock.Now().UTC(), users: map[userKey]*storedUser{}}
	s.orgLocked(s.orgID)
	s.projects[id] = p
	return p
}

// AddCluster adds a cluster to a project, creating the project if needed, or replaces the
// cluster of the same name.
func (s *Server) AddCluster(projectID string, c Cluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		p = s.addProjectLocked(projectID, "")
	}
	if c.StandardSrv == "" {
		c.StandardSrv = "mongodb+srv://" + strings.ToLower(c.Name) + "." + clusterDomain
	}
	if c.Standard == "" {
		hosts := make([]string, 0, len(c.hosts()))
		for _, h := range c.hosts() {
			hosts = append(hosts, h+":27017")
		}
		c.Standard = "mongodb://" + strings.Join(hosts, ",") + "/?ssl=true&authSource=admin"
		if !c.shared() {
			c.Standard += "&replicaSet=" + c.replicaSet(projectID)
		}
	}
	if c.Provider == "" {
		c.Provider = "AWS"
	}
	if c.Region == "" {
		c.Region = "US_EAST_1"
	}
	c.Databases = append([]string(nil), c.Databases...)
	pes := make([]PrivateEndpoint, len(c.PrivateEndpoints))
	for i, pe := range c.PrivateEndpoints {
		pe.EndpointIDs = append([]string(nil), pe.EndpointIDs...)
		pes[i] = pe
	}
	c.PrivateEndpoints = pes
	if c.StateName == "" {
		c.StateName = "IDLE"
	}
	if c.MongoDBVersion == "" {
		c.MongoDBVersion = "8.0.4"
	}
	c.Tags = append([]Tag(nil), c.Tags...)
	id := c.ID
	if id == "" {
		sum := sha1.Sum([]byte(projectID + "/" + c.Name)) //nolint:gosec // not security relevant.
		id = hex.EncodeToString(sum[:12])
	}
	nc := &cluster{Cluster: c, id: id, created: s.clock.Now().UTC()}
	for i, old := range p.clusters {
		if old.Name == c.Name {
			nc.created = old.created
			p.clusters[i] = nc
			return
		}
	}
	p.clusters = append(p.clusters, nc)
}

// clusterDomain is the DNS domain of every simulated cluster's hosts.
const clusterDomain = "jitbot.mongodb.net"

// hosts are the host names of the cluster's nodes, as its connection string names them: three
// for a dedicated replica set, one for a shared-tier or Flex cluster.
func (c Cluster) hosts() []string {
	prefix := strings.ToLower(c.Name)
	if c.shared() {
		return []string{prefix + "-shard-00-00." + clusterDomain}
	}
	out := make([]string, 3)
	for i := range out {
		out[i] = fmt.Sprintf("%s-shard-00-%02d.%s", prefix, i, clusterDomain)
	}
	return out
}

// replicaSet is the name of a dedicated cluster's replica set.
func (c Cluster) replicaSet(projectID string) string {
	sum := sha1.Sum([]byte(projectID + "/" + c.Name)) //nolint:gosec // not security relevant.
	return "atlas-" + hex.EncodeToString(sum[12:15]) + "-shard-0"
}

func (p *project) cluster(name string) *cluster {
	for _, c := range p.clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// sortedUsers lists a project's users in creation order, as stable pages need.
func (p *project) sortedUsers() []*storedUser {
	out := make([]*storedUser, 0, len(p.users))
	for _, u := range p.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// findUser looks a username up in any authentication database, "admin" first.
func (p *project) findUser(username string) *storedUser {
	if u, ok := p.users[userKey{"admin", username}]; ok {
		return u
	}
	for _, u := range p.sortedUsers() {
		if u.user.Username == username {
			return u
		}
	}
	return nil
}

// AddUser seeds a database user directly, as if created earlier through the API (for example
// an orphan for a reconcile test). Only Username is required; DatabaseName defaults to admin
// and the auth types to NONE. The project is created if needed; the change status is not
// touched. It fails if the user exists.
func (s *Server) AddUser(projectID string, u User, password string) error {
	if u.Username == "" {
		return errors.New("atlastest: AddUser: username is required")
	}
	if u.DatabaseName == "" {
		u.DatabaseName = "admin"
	}
	for _, f := range []*string{&u.AWSIAMType, &u.LDAPAuthType, &u.OIDCAuthType, &u.X509Type} {
		if *f == "" {
			*f = "NONE"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		p = s.addProjectLocked(projectID, "")
	}
	key := userKey{u.DatabaseName, u.Username}
	if _, dup := p.users[key]; dup {
		return fmt.Errorf("atlastest: AddUser: %s/%s already exists in project %s", u.DatabaseName, u.Username, projectID)
	}
	now := s.clock.Now()
	if u.Created.IsZero() {
		u.Created = now
	}
	if u.Updated.IsZero() {
		u.Updated = u.Created
	}
	u.HasPassword = false
	s.seq++
	su := &storedUser{seq: s.seq, user: u.clone()}
	if password != "" {
		su.setPassword(password)
	}
	p.users[key] = su
	return nil
}

// markChanged starts a new PENDING period for the project's clusters. Called with s.mu held.
func (s *Server) markChanged(p *project) {
	p.pendingPolls = s.applyPolls
	p.pendingUntil = s.clock.Now().Add(s.applyDelay)
}

// expireUsers deletes users whose deleteAfterDate has passed, as Atlas does on its own.
func (s *Server) expireUsers(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.projects {
		for k, u := range p.users {
			if d := u.user.DeleteAfterDate; !d.IsZero() && !now.Before(d) {
				delete(p.users, k)
				s.markChanged(p)
				s.log.Info("atlas simulator: user reached deleteAfterDate and was deleted",
					"project_id", p.id, "username", k.name, "database", k.db, "delete_after", d)
			}
		}
	}
}

// Users returns a snapshot of a project's database users in creation order, after deleting
// those whose deleteAfterDate has passed on the simulator clock.
func (s *Server) Users(projectID string) []User {
	s.expireUsers(s.clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return nil
	}
	out := []User{}
	for _, u := range p.sortedUsers() {
		out = append(out, u.user.clone())
	}
	return out
}

// User returns a snapshot of one database user, looked up by username in any authentication
// database ("admin" first).
func (s *Server) User(projectID, username string) (User, bool) {
	s.expireUsers(s.clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return User{}, false
	}
	u := p.findUser(username)
	if u == nil {
		return User{}, false
	}
	return u.user.clone(), true
}

// CheckPassword reports whether password is the user's current password.
func (s *Server) CheckPassword(projectID, username, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return false
	}
	u := p.findUser(username)
	if u == nil || u.hash == nil {
		return false
	}
	return subtle.ConstantTimeCompare(u.hash, hashPassword(u.salt, password)) == 1
}

// ChangeStatus returns what GetClusterStatus would answer for the project right now
// ("PENDING" or "APPLIED"), without counting as a poll.
func (s *Server) ChangeStatus(projectID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectID]
	if !ok {
		return ""
	}
	if p.pendingPolls > 0 || s.clock.Now().Before(p.pendingUntil) {
		return "PENDING"
	}
	return "APPLIED"
}

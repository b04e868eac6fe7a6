package atlastest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// --- organizations, their projects, Flex clusters and the monitoring API ---

type orgJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IsDeleted bool   `json:"isDeleted"`
	Links     []link `json:"links"`
}

type hardwareSpecJSON struct {
	InstanceSize string  `json:"instanceSize"`
	NodeCount    int     `json:"nodeCount,omitempty"`
	DiskSizeGB   float64 `json:"diskSizeGB,omitempty"`
}

type regionConfigJSON struct {
	ProviderName        string           `json:"providerName"`
	BackingProviderName string           `json:"backingProviderName,omitempty"`
	RegionName          string           `json:"regionName"`
	Priority            int              `json:"priority"`
	ElectableSpecs      hardwareSpecJSON `json:"electableSpecs"`
}

type replicationSpecJSON struct {
	ID            string             `json:"id"`
	ZoneID        string             `json:"zoneId"`
	ZoneName      string             `json:"zoneName"`
	RegionConfigs []regionConfigJSON `json:"regionConfigs"`
}

type flexProviderJSON struct {
	BackingProviderName string  `json:"backingProviderName"`
	DiskSizeGB          float64 `json:"diskSizeGB"`
	ProviderName        string  `json:"providerName"`
	RegionName          string  `json:"regionName"`
}

type flexJSON struct {
	ID                           string                `json:"id"`
	GroupID                      string                `json:"groupId"`
	Name                         string                `json:"name"`
	ClusterType                  string                `json:"clusterType"`
	StateName                    string                `json:"stateName"`
	MongoDBVersion               string                `json:"mongoDBVersion"`
	Tags                         []tagJSON             `json:"tags"`
	ConnectionStrings            connectionStringsJSON `json:"connectionStrings"`
	ProviderSettings             flexProviderJSON      `json:"providerSettings"`
	TerminationProtectionEnabled bool                  `json:"terminationProtectionEnabled"`
	VersionReleaseSystem         string                `json:"versionReleaseSystem"`
	CreateDate                   string                `json:"createDate"`
	Links                        []link                `json:"links"`
}

type hostJSON struct {
	Created        string `json:"created"`
	GroupID        string `json:"groupId"`
	Hostname       string `json:"hostname"`
	ID             string `json:"id"`
	LastPing       string `json:"lastPing"`
	Links          []link `json:"links"`
	Port           int    `json:"port"`
	ReplicaSetName string `json:"replicaSetName"`
	TypeName       string `json:"typeName"`
	UserAlias      string `json:"userAlias"`
	Version        string `json:"version"`
}

type databaseJSON struct {
	DatabaseName string `json:"databaseName"`
	Links        []link `json:"links"`
}

func tagsJSON(tags []Tag) []tagJSON {
	out := make([]tagJSON, 0, len(tags))
	for _, t := range tags {
		out = append(out, tagJSON(t))
	}
	return out
}

func (q *request) orgJSON(o *org) orgJSON {
	return orgJSON{ID: o.id, Name: o.name, Links: []link{{Href: q.base + "/api/atlas/v2/orgs/" + o.id, Rel: "self"}}}
}

func (q *request) replicationSpecs(p *project, c *cluster) []replicationSpecJSON {
	rc := regionConfigJSON{ProviderName: c.Provider, RegionName: c.Region, Priority: 7,
		ElectableSpecs: hardwareSpecJSON{InstanceSize: orDefault(c.Tier, "M10"), NodeCount: 3, DiskSizeGB: 10}}
	if isTenantSize(c.Tier) {
		rc = regionConfigJSON{ProviderName: "TENANT", BackingProviderName: c.Provider, RegionName: c.Region, Priority: 7,
			ElectableSpecs: hardwareSpecJSON{InstanceSize: c.Tier}}
	}
	return []replicationSpecJSON{{
		ID: stableID("replicationSpec", p.id, c.Name), ZoneID: stableID("zone", p.id, c.Name), ZoneName: "Zone 1",
		RegionConfigs: []regionConfigJSON{rc},
	}}
}

func (q *request) flexJSON(p *project, c *cluster) flexJSON {
	return flexJSON{
		ID: c.id, GroupID: p.id, Name: c.Name, ClusterType: "REPLICASET", StateName: c.StateName,
		MongoDBVersion: c.MongoDBVersion, Tags: tagsJSON(c.Tags),
		ConnectionStrings:    connectionStringsJSON{Standard: c.Standard, StandardSrv: c.StandardSrv},
		ProviderSettings:     flexProviderJSON{BackingProviderName: c.Provider, DiskSizeGB: 5, ProviderName: "FLEX", RegionName: c.Region},
		VersionReleaseSystem: "LTS", CreateDate: c.created.Format(time.RFC3339),
		Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id + "/flexClusters/" + c.Name, Rel: "self"}},
	}
}

// org returns the request's organization. Called with s.mu held.
func (s *Server) org(q *request) (*org, *reply) {
	id := q.param("orgId")
	o, ok := s.orgs[id]
	if !ok {
		r := errReply(http.StatusNotFound, "ORG_NOT_FOUND", fmt.Sprintf("No organization with ID %s exists.", id), id)
		return nil, &r
	}
	return o, nil
}

func (s *Server) listOrgs(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(q.r.URL.Query().Get("name"))
	all := []orgJSON{}
	for _, id := range sortedKeys(s.orgs) {
		if o := s.orgs[id]; strings.HasPrefix(strings.ToLower(o.name), name) {
			all = append(all, q.orgJSON(o))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getOrg(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: q.orgJSON(o)}
}

// getOrgGroups lists the organization's projects the caller may see: every one for an
// organization owner or read-only member, those it holds a role in otherwise (as Atlas shows
// an Organization Member only its own projects). name filters by a case-insensitive prefix.
func (s *Server) getOrgGroups(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	name := strings.ToLower(q.r.URL.Query().Get("name"))
	all := []groupJSON{}
	for _, id := range sortedKeys(s.projects) {
		p := s.projects[id]
		if p.orgID != o.id || !strings.HasPrefix(strings.ToLower(p.name), name) || !q.principal.seesProject(p.id) {
			continue
		}
		all = append(all, q.groupJSON(p, o.id))
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

// --- Flex clusters ---

func (s *Server) listFlexClusters(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	all := []flexJSON{}
	for _, c := range p.clusters {
		if c.flex() {
			all = append(all, q.flexJSON(p, c))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getFlexCluster(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	name := q.param("name")
	c := p.cluster(name)
	if c == nil {
		return clusterNotFound(p, name)
	}
	if !c.flex() {
		return errReply(http.StatusBadRequest, "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API",
			fmt.Sprintf("Cluster %s cannot be used in the Flex Cluster API.", name), name)
	}
	return reply{status: http.StatusOK, body: q.flexJSON(p, c)}
}

// flexInClusterAPI is Atlas's refusal to treat a Flex cluster through the Clusters API (seen
// from real Atlas; the spec declares no 400 for getCluster or getClusterStatus).
func flexInClusterAPI(name string) reply {
	r := errReply(http.StatusBadRequest, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API",
		fmt.Sprintf("Flex cluster %s cannot be used in the Cluster API.", name), name)
	r.offSpec = true
	return r
}

// --- the monitoring API: processes and their databases ---

// processes lists the processes the monitoring API shows for a project: three mongod per
// dedicated cluster (a primary and two secondaries), none for shared-tier or Flex clusters.
func (q *request) processes(p *project) []hostJSON {
	var out []hostJSON
	for _, c := range p.clusters {
		if c.shared() {
			continue
		}
		for i, h := range c.hosts() {
			typ := "REPLICA_SECONDARY"
			if i == 0 {
				typ = "REPLICA_PRIMARY"
			}
			id := h + ":27017"
			out = append(out, hostJSON{
				Created: c.created.Format(time.RFC3339), GroupID: p.id, Hostname: h, ID: id,
				LastPing: q.now.UTC().Format(time.RFC3339), Port: 27017, ReplicaSetName: c.replicaSet(p.id),
				TypeName: typ, UserAlias: h, Version: c.MongoDBVersion,
				Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id + "/processes/" + id, Rel: "self"}},
			})
		}
	}
	return out
}

func (s *Server) listGroupProcesses(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	all := q.processes(p)
	if all == nil {
		all = []hostJSON{}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

// listDatabases answers the databases of one process: those of its cluster, with admin, local
// and config, in name order.
func (s *Server) listDatabases(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	id := q.param("processId")
	for _, c := range p.clusters {
		if c.shared() {
			continue
		}
		for _, h := range c.hosts() {
			if h+":27017" != id {
				continue
			}
			names := append([]string{"admin", "config", "local"}, c.Databases...)
			slices.Sort(names)
			names = slices.Compact(names)
			all := make([]databaseJSON, 0, len(names))
			for _, db := range names {
				all = append(all, databaseJSON{DatabaseName: db,
					Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + p.id + "/processes/" + id + "/databases/" + db, Rel: "self"}}})
			}
			return reply{status: http.StatusOK, body: paginate(q, all)}
		}
	}
	return errReply(http.StatusNotFound, "PROCESS_NOT_FOUND",
		fmt.Sprintf("No process %s exists in group %s.", id, p.id), id, p.id)
}

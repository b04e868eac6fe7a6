package atlas

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// Discovery of an organization-wide integration's catalog. One refresh costs
//
//	1 getOrgGroups per 500 projects
//	+ per project holding clusters (clusterCount > 0): 1 listClusters, and
//	  1 listFlexClusters when listClusters shows fewer than clusterCount
//	+ when the project's databases are due (DatabaseRefresh): 1
//	  listGroupProcesses and 1 listDatabases per dedicated cluster.
//
// Projects without clusters cost nothing beyond the first call. (This
// relies on Atlas counting Flex clusters in a project's clusterCount, as the
// simulator does.) The calls of a refresh run DiscoveryConcurrency at a
// time, each under DiscoveryTimeout, through the retrying transport: a 429
// is waited out for its Retry-After. A project that cannot be read keeps
// the clusters the previous refresh found in it, and the refresh says so
// (Health); a refresh that cannot list the projects, or read any of them,
// fails and the last good catalog stays in service.

// perPage is the most Atlas returns per page of every list a refresh reads.
const perPage = 500

// systemDatabases are never offered (flows refuses them).
var systemDatabases = map[string]bool{"admin": true, "local": true, "config": true}

// view returns the integration's client aimed at one project of its
// organization, as the rest of the adapter takes projects. Views are kept,
// so that one project always has the same view.
func (p *Provisioner) view(pr *project, groupID string) *project {
	if !pr.OrgWide() {
		return pr
	}
	key := pr.Name + "/" + groupID
	if v, ok := p.views.Load(key); ok {
		return v.(*project)
	}
	in := pr.Integration
	in.ProjectID = groupID
	v, _ := p.views.LoadOrStore(key, &project{Integration: in, api: pr.api, org: pr})
	return v.(*project)
}

// discover reads the organization's catalog: its projects, their clusters
// and the databases of the dedicated ones. prev is the last good catalog,
// whose databases are reused while fresh and whose projects stand in for
// those that fail.
func (c *Catalog) discover(ctx context.Context, pr *project, prev *snapshot) (*snapshot, error) {
	start := time.Now()
	groups, err := c.orgProjects(ctx, pr)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{
		conn: map[string]clusterConn{}, projects: map[string]projectInfo{},
		dbs: map[string][]string{}, dbsAt: map[string]time.Time{},
	}
	type result struct {
		group    projectInfo
		id       string
		clusters int // Atlas's clusterCount
		found    *projectCatalog
		err      error
	}
	results := make([]result, 0, len(groups))
	for _, g := range groups {
		info := projectInfo{name: g.Name, tags: flowsTags(g.GetTags())}
		snap.projects[g.GetId()] = info
		if g.ClusterCount > 0 {
			results = append(results, result{group: info, id: g.GetId(), clusters: int(g.ClusterCount)})
		}
	}
	sem := make(chan struct{}, c.p.cfg.DiscoveryConcurrency)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			r.found, r.err = c.discoverProject(ctx, pr, r.id, r.group, r.clusters, prev)
		}(&results[i])
	}
	wg.Wait()

	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			snap.partial = append(snap.partial, r.group.name)
			c.p.log.WarnContext(ctx, "atlas: could not read a project of the organization; keeping what the last refresh found in it",
				"integration", pr.Name, "project", r.group.name, "project_id", r.id, "err", r.err)
			carryOver(snap, prev, r.id, r.group)
			continue
		}
		snap.clusters = append(snap.clusters, r.found.clusters...)
		for k, v := range r.found.conn {
			snap.conn[k] = v
		}
		for k, v := range r.found.dbs {
			snap.dbs[k] = v
		}
		if !r.found.dbsAt.IsZero() {
			snap.dbsAt[r.id] = r.found.dbsAt
		}
	}
	if failed > 0 && failed == len(results) {
		var first error
		for _, r := range results {
			if first = r.err; first != nil {
				break
			}
		}
		return nil, fmt.Errorf("could not read any of the %d projects with clusters: %w", failed, first)
	}
	sort.SliceStable(snap.clusters, func(i, j int) bool {
		a, b := snap.clusters[i], snap.clusters[j]
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		return a.Name < b.Name
	})
	c.warnUnknownHints(ctx, pr, snap)
	snap.at = c.p.clock.Now()
	c.p.log.InfoContext(ctx, "atlas: organization catalog refreshed", "integration", pr.Name,
		"projects", len(snap.projects), "clusters", len(snap.clusters), "unread_projects", len(snap.partial),
		"duration", time.Since(start))
	return snap, nil
}

// projectID finds a project by name or id ("" when the catalog has none).
func (s *snapshot) projectID(nameOrID string) string {
	if _, ok := s.projects[nameOrID]; ok {
		return nameOrID
	}
	for id, info := range s.projects {
		if info.name == nameOrID {
			return id
		}
	}
	return ""
}

// carryOver puts what prev knew of a project into snap, under the project's
// current name and tags.
func carryOver(snap, prev *snapshot, id string, info projectInfo) {
	if prev == nil {
		return
	}
	for _, cl := range prev.clusters {
		if cl.ProjectID != id {
			continue
		}
		cl.Project, cl.ProjectTags = info.name, info.tags
		snap.clusters = append(snap.clusters, cl)
		key := connKey(id, cl.Name)
		if s, ok := prev.conn[key]; ok {
			snap.conn[key] = s
		}
		if dbs, ok := prev.dbs[key]; ok {
			snap.dbs[key] = dbs
		}
	}
	if at, ok := prev.dbsAt[id]; ok {
		snap.dbsAt[id] = at
	}
}

// orgProjects lists the organization's projects the credential may see.
func (c *Catalog) orgProjects(ctx context.Context, pr *project) ([]admin.Group, error) {
	var out []admin.Group
	for page := 1; page <= maxPages; page++ {
		var res *admin.PaginatedAtlasGroup
		err := c.p.doWithin(ctx, pr, "getOrgGroups", c.p.cfg.DiscoveryTimeout, func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			res, resp, err = pr.api.OrganizationsApi.GetOrgGroups(ctx, pr.OrganizationID).
				IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		results := res.GetResults()
		out = append(out, results...)
		if total, ok := res.GetTotalCountOk(); len(results) < perPage || (ok && len(out) >= *total) {
			return out, nil
		}
	}
	return nil, flows.Errorf(flows.EINTERNAL, "more than %d pages of projects; giving up", maxPages)
}

// projectCatalog is what one project contributes to a snapshot.
type projectCatalog struct {
	clusters []flows.Cluster
	conn     map[string]clusterConn
	dbs      map[string][]string
	dbsAt    time.Time
}

// discovered is one cluster as listed, before its databases are known.
type discovered struct {
	cluster flows.Cluster
	shared  bool     // shared-tier or Flex: no processes to ask
	hosts   []string // host names of its standard connection string
}

// discoverProject reads one project's clusters and, when due, the databases
// of its dedicated clusters. count is the project's clusterCount.
func (c *Catalog) discoverProject(ctx context.Context, org *project, id string, info projectInfo, count int, prev *snapshot) (*projectCatalog, error) {
	pr := c.p.view(org, id)
	out := &projectCatalog{conn: map[string]clusterConn{}, dbs: map[string][]string{}}
	var found []discovered
	err := pages(ctx, c, pr, "listClusters", func(ctx context.Context, page int) (int, *int, *http.Response, error) {
		res, resp, err := pr.api.ClustersApi.ListClusters(ctx, id).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
		for i := range res.GetResults() {
			cl := &res.GetResults()[i]
			found = append(found, discovered{
				cluster: c.orgCluster(org, id, info, cl.GetName(), cl.GetId(), cl.GetTags()),
				shared:  tenant(cl), hosts: hostsOf(cl.ConnectionStrings.GetStandard()),
			})
			out.conn[connKey(id, cl.GetName())] = connOf(cl.GetConnectionStrings(), cl.GetTags())
		}
		return len(res.GetResults()), totalOf(res.GetTotalCountOk()), resp, err
	})
	if err != nil {
		return nil, err
	}
	// Flex clusters are not in listClusters; clusterCount counts them.
	if count > len(found) {
		err = pages(ctx, c, pr, "listFlexClusters", func(ctx context.Context, page int) (int, *int, *http.Response, error) {
			res, resp, err := pr.api.FlexClustersApi.ListFlexClusters(ctx, id).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
			for i := range res.GetResults() {
				fc := &res.GetResults()[i]
				found = append(found, discovered{cluster: c.orgCluster(org, id, info, fc.GetName(), fc.GetId(), fc.GetTags()), shared: true})
				out.conn[connKey(id, fc.GetName())] = flexConn(fc)
			}
			return len(res.GetResults()), totalOf(res.GetTotalCountOk()), resp, err
		})
		if err != nil {
			return nil, err
		}
	}
	c.databasesOf(ctx, pr, id, found, prev, out)
	for _, d := range found {
		cl := d.cluster
		cl.Databases = mergeDatabases(out.dbs[connKey(id, cl.Name)], hintsFor(org, info.name, id, cl.Name))
		out.clusters = append(out.clusters, cl)
	}
	return out, nil
}

// orgCluster is a cluster of an organization-wide catalog, without its databases.
func (c *Catalog) orgCluster(org *project, id string, info projectInfo, name, clusterID string, tags []admin.ResourceTag) flows.Cluster {
	owners := ownerTokens(tags, org.OwnerTag)
	if len(owners) == 0 {
		// A project's owner tag stands for its clusters' owners.
		owners = flowsOwnerTokens(info.tags, org.OwnerTag)
	}
	return flows.Cluster{
		Name: name, ID: clusterID, Project: info.name, ProjectID: id,
		Tags: flowsTags(tags), ProjectTags: slices.Clone(info.tags), Owners: owners,
	}
}

func flowsOwnerTokens(tags []flows.Tag, key string) []string {
	at := make([]admin.ResourceTag, len(tags))
	for i, t := range tags {
		at[i] = admin.ResourceTag{Key: t.Key, Value: t.Value}
	}
	return ownerTokens(at, key)
}

// tenant reports whether a cluster is shared-tier (M0, M2, M5): Atlas runs
// it on a TENANT provider and shows no process of it.
func tenant(cl *admin.ClusterDescription20240805) bool {
	for _, spec := range cl.GetReplicationSpecs() {
		for _, rc := range spec.GetRegionConfigs() {
			if strings.EqualFold(rc.GetProviderName(), "TENANT") {
				return true
			}
		}
	}
	return false
}

// flexConn reads a Flex cluster's connection strings: public ones only
// (Flex clusters take no peering; Atlas lists their private endpoints
// elsewhere), with the cluster's connectivity tag.
func flexConn(fc *admin.FlexClusterDescription20241113) clusterConn {
	cs := fc.GetConnectionStrings()
	return connOf(admin.ClusterConnectionStrings{StandardSrv: cs.StandardSrv, Standard: cs.Standard}, fc.GetTags())
}

// hostsOf returns the host names of a mongodb:// connection string.
func hostsOf(standard string) []string {
	u, err := url.Parse(standard)
	if err != nil || u.Host == "" {
		return nil
	}
	var out []string
	for h := range strings.SplitSeq(u.Host, ",") {
		if host, _, _ := strings.Cut(h, ":"); host != "" {
			out = append(out, strings.ToLower(host))
		}
	}
	return out
}

// databasesOf fills out.dbs with the databases of the project's dedicated
// clusters: read through the monitoring API when the project's last reading
// is older than DatabaseRefresh (or the clusters changed), reused from prev
// otherwise. A failure keeps what prev knew: databases are a convenience of
// the request forms, not a reason to fail the catalog.
func (c *Catalog) databasesOf(ctx context.Context, pr *project, id string, found []discovered, prev *snapshot, out *projectCatalog) {
	var dedicated []discovered
	for _, d := range found {
		if !d.shared {
			dedicated = append(dedicated, d)
		}
	}
	if len(dedicated) == 0 {
		return
	}
	reuse := func() bool {
		if prev == nil || prev.dbsAt == nil {
			return false
		}
		at, ok := prev.dbsAt[id]
		if !ok || c.p.clock.Now().Sub(at) >= c.p.cfg.DatabaseRefresh {
			return false
		}
		for _, d := range dedicated {
			if _, ok := prev.dbs[connKey(id, d.cluster.Name)]; !ok {
				return false // a new cluster: read them all again
			}
		}
		for _, d := range dedicated {
			out.dbs[connKey(id, d.cluster.Name)] = prev.dbs[connKey(id, d.cluster.Name)]
		}
		out.dbsAt = at
		return true
	}
	if reuse() {
		return
	}
	keepPrev := func(cluster string) {
		if prev != nil {
			if dbs, ok := prev.dbs[connKey(id, cluster)]; ok {
				out.dbs[connKey(id, cluster)] = dbs
			}
		}
	}
	var procs []admin.ApiHostViewAtlas
	err := pages(ctx, c, pr, "listGroupProcesses", func(ctx context.Context, page int) (int, *int, *http.Response, error) {
		res, resp, err := pr.api.MonitoringAndLogsApi.ListGroupProcesses(ctx, id).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
		procs = append(procs, res.GetResults()...)
		return len(res.GetResults()), totalOf(res.GetTotalCountOk()), resp, err
	})
	if err != nil {
		c.p.log.WarnContext(ctx, "atlas: could not list a project's processes; its databases are the last known", "integration", pr.Name,
			"project_id", id, "err", err)
		for _, d := range dedicated {
			keepPrev(d.cluster.Name)
		}
		return
	}
	ok := true
	for _, d := range dedicated {
		names, err := c.clusterDatabases(ctx, pr, id, d, procs)
		if err != nil {
			ok = false
			c.p.log.WarnContext(ctx, "atlas: could not list a cluster's databases; they are the last known", "integration", pr.Name,
				"project_id", id, "cluster", d.cluster.Name, "err", err)
			keepPrev(d.cluster.Name)
			continue
		}
		out.dbs[connKey(id, d.cluster.Name)] = names
	}
	if ok {
		out.dbsAt = c.p.clock.Now()
	}
}

// clusterDatabases lists the databases of a dedicated cluster through its
// processes: those whose host its connection string names, one mongod per
// replica set (the primary when there is one); a sharded cluster's shards
// each hold some of the databases.
func (c *Catalog) clusterDatabases(ctx context.Context, pr *project, id string, d discovered, procs []admin.ApiHostViewAtlas) ([]string, error) {
	chosen := map[string]admin.ApiHostViewAtlas{} // by replica set
	for _, proc := range procs {
		host := strings.ToLower(proc.GetUserAlias())
		if host == "" {
			host = strings.ToLower(proc.GetHostname())
		}
		if !slices.Contains(d.hosts, host) || !mongod(proc.GetTypeName()) {
			continue
		}
		rs := proc.GetReplicaSetName()
		if cur, ok := chosen[rs]; !ok || (!primary(cur.GetTypeName()) && primary(proc.GetTypeName())) {
			chosen[rs] = proc
		}
	}
	if len(chosen) == 0 {
		return nil, errors.New("the monitoring API shows no process of the cluster")
	}
	var names []string
	for _, rs := range sortedKeys(chosen) {
		proc := chosen[rs]
		err := pages(ctx, c, pr, "listDatabases", func(ctx context.Context, page int) (int, *int, *http.Response, error) {
			res, resp, err := pr.api.MonitoringAndLogsApi.ListDatabases(ctx, id, proc.GetId()).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
			for _, db := range res.GetResults() {
				if n := db.GetDatabaseName(); n != "" && !systemDatabases[n] && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			return len(res.GetResults()), totalOf(res.GetTotalCountOk()), resp, err
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(names)
	if names == nil {
		names = []string{}
	}
	return names, nil
}

func mongod(typeName string) bool {
	return typeName == "" || strings.HasPrefix(typeName, "REPLICA_") || typeName == "STANDALONE" ||
		typeName == "SHARD_PRIMARY" || typeName == "SHARD_SECONDARY"
}

func primary(typeName string) bool {
	return typeName == "REPLICA_PRIMARY" || typeName == "SHARD_PRIMARY"
}

// mergeDatabases offers the databases read from Atlas and the hinted ones,
// with the hints' collections.
func mergeDatabases(found []string, hints map[string][]string) map[string][]string {
	if len(found) == 0 && len(hints) == 0 {
		return nil
	}
	out := databases(hints)
	if out == nil {
		out = map[string][]string{}
	}
	for _, db := range found {
		if _, ok := out[db]; !ok {
			out[db] = nil
		}
	}
	return out
}

// hintsFor merges the configured databases of a cluster: those of the
// cluster's name alone, and those of project/cluster (by project name or id).
func hintsFor(pr *project, projectName, projectID, cluster string) map[string][]string {
	var out map[string][]string
	for _, key := range []string{cluster, projectName + "/" + cluster, projectID + "/" + cluster} {
		for db, colls := range pr.Databases[key] {
			if out == nil {
				out = map[string][]string{}
			}
			for _, c := range colls {
				if !slices.Contains(out[db], c) {
					out[db] = append(out[db], c)
				}
			}
			if _, ok := out[db]; !ok {
				out[db] = nil
			}
		}
	}
	return out
}

// warnUnknownHints logs configured databases of clusters no project holds.
func (c *Catalog) warnUnknownHints(ctx context.Context, pr *project, snap *snapshot) {
	for key := range pr.Databases {
		project, cluster, scoped := strings.Cut(key, "/")
		if !scoped {
			project, cluster = "", key
		}
		found := slices.ContainsFunc(snap.clusters, func(cl flows.Cluster) bool {
			return cl.Name == cluster && (project == "" || cl.Project == project || cl.ProjectID == project)
		})
		if !found {
			c.p.log.WarnContext(ctx, "atlas: databases are configured for a cluster Atlas does not list",
				"integration", pr.Name, "cluster", key)
		}
	}
}

// totalOf reads a page's totalCount (nil when Atlas left it out or the call
// failed).
func totalOf(n *int, ok bool) *int {
	if !ok {
		return nil
	}
	return n
}

// pages runs a paginated list call page after page until it has everything
// (call returns the page's length and Atlas's total, when given).
func pages(ctx context.Context, c *Catalog, pr *project, op string, call func(ctx context.Context, page int) (int, *int, *http.Response, error)) error {
	seen := 0
	for page := 1; page <= maxPages; page++ {
		var n int
		var total *int
		err := c.p.doWithin(ctx, pr, op, c.p.cfg.DiscoveryTimeout, func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			n, total, resp, err = call(ctx, page)
			return resp, err
		})
		if err != nil {
			return err
		}
		seen += n
		if n == 0 || n < clustersPerPage || (total != nil && seen >= *total) {
			return nil
		}
	}
	return flows.Errorf(flows.EINTERNAL, "%s: more than %d pages; giving up", op, maxPages)
}

// Start refreshes the catalog of every organization-wide integration now
// and then every CatalogRefresh (±10%), in the background, until ctx ends or
// the Provisioner closes; requests are then served the catalog as the loops
// keep it, never waiting for a refresh once one succeeded. A refresh that
// fails keeps the last good catalog (logged, and shown by Health and Ping)
// for up to ten CatalogTTLs. Integrations of one project are read when asked
// for, as before. Start returns at once; call it once.
func (c *Catalog) Start(ctx context.Context) {
	c.started.Store(true)
	for name, pr := range c.p.projects {
		if !pr.OrgWide() {
			continue
		}
		c.loops.Add(1)
		go c.loop(ctx, name)
	}
}

func (c *Catalog) loop(ctx context.Context, integration string) {
	defer c.loops.Done()
	every := c.p.cfg.CatalogRefresh
	for {
		if err := c.Refresh(ctx, integration); err != nil {
			c.p.log.WarnContext(ctx, "atlas: catalog refresh failed", "integration", integration, "err", err)
		}
		wait := every - every/10 + rand.N(every/5+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.stop:
			t.Stop()
			return
		}
	}
}

// CatalogHealth describes an integration's catalog, for health checks and
// metrics.
type CatalogHealth struct {
	// RefreshedAt is when the catalog in service was read (zero: never).
	RefreshedAt time.Time
	// Projects (organization-wide integrations) and Clusters it holds.
	Projects, Clusters int
	// Unread names the projects the last good refresh could not read: their
	// clusters are older.
	Unread []string
	// LastError is the failure of the last refresh (nil when it succeeded),
	// at LastErrorAt; the catalog in service is then the previous one.
	LastError   error
	LastErrorAt time.Time
}

// Health describes the integration's catalog.
func (c *Catalog) Health(integration string) (CatalogHealth, bool) {
	e, ok := c.entries[integration]
	if !ok {
		return CatalogHealth{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h := CatalogHealth{LastError: e.lastErr, LastErrorAt: e.lastErrAt}
	if e.last != nil {
		h.RefreshedAt, h.Projects, h.Clusters, h.Unread = e.last.at, len(e.last.projects), len(e.last.clusters), slices.Clone(e.last.partial)
	}
	return h, true
}

// problem says what is wrong with the catalog, for Ping: nil when its last
// refresh succeeded (or none was tried yet).
func (h CatalogHealth) problem(now time.Time) error {
	switch {
	case h.LastError != nil && h.RefreshedAt.IsZero():
		return fmt.Errorf("the catalog could not be read (%s): %w", h.LastErrorAt.UTC().Format(time.RFC3339), h.LastError)
	case h.LastError != nil:
		return fmt.Errorf("the last catalog refresh failed (%s); serving the catalog of %s ago: %w",
			h.LastErrorAt.UTC().Format(time.RFC3339), now.Sub(h.RefreshedAt).Round(time.Second), h.LastError)
	case len(h.Unread) > 0:
		return fmt.Errorf("the last catalog refresh could not read %d project(s) (%s); their clusters are the previous refresh's",
			len(h.Unread), strings.Join(h.Unread, ", "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package atlas

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

const clustersPerPage = 500

// Catalog implements flows.Catalog: each integration's clusters, their owners
// (from the owner tag) and the databases configured for them. Cluster lists
// are cached for CatalogTTL; one refresh runs at a time per integration, and
// while Atlas fails a list younger than ten TTLs is served instead.
//
// An organization-wide integration's catalog is discovered (discovery.go):
// the organization's projects with their tags, each project's clusters with
// theirs, and the databases of its dedicated clusters. Start refreshes it in
// the background; a refresh that fails keeps the last good catalog, logs it
// and shows in Health and Ping.
type Catalog struct {
	p       *Provisioner
	entries map[string]*catalogEntry // by integration; fixed at construction
	refresh sync.WaitGroup

	stop     chan struct{} // closed by close: the refresh loops end
	stopOnce sync.Once
	loops    sync.WaitGroup
	started  atomic.Bool // Start ran: the loops keep organization catalogs fresh
}

var _ flows.Catalog = (*Catalog)(nil)

type catalogEntry struct {
	mu     sync.Mutex
	last   *snapshot // the last good list
	flight *flight   // the refresh under way, if any
	// retryAt holds refreshes off after a failure, so that an outage costs
	// one failing fetch per interval rather than one per request.
	retryAt time.Time
	// extra holds connection strings of clusters fetched one by one.
	extra map[string]clusterConn
	// lastErr is the failure of the last refresh, nil once one succeeds.
	lastErr   error
	lastErrAt time.Time
}

type snapshot struct {
	clusters []flows.Cluster
	conn     map[string]clusterConn // project id + "/" + cluster → its connection strings
	// projects are an organization-wide integration's projects, clusters or
	// not, by id; nil for an integration of one project.
	projects map[string]projectInfo
	// dbs are the databases read through the monitoring API, by project id +
	// "/" + cluster, for the refreshes within DatabaseRefresh to reuse.
	dbs   map[string][]string
	dbsAt map[string]time.Time // by project id: when its databases were read
	// partial lists the projects a refresh could not read: their clusters
	// are the previous refresh's.
	partial []string
	at      time.Time
}

// projectInfo is one project of an organization-wide integration.
type projectInfo struct {
	name string
	tags []flows.Tag
}

type flight struct {
	done chan struct{}
	snap *snapshot
	err  error
}

func newCatalog(p *Provisioner) *Catalog {
	c := &Catalog{p: p, entries: map[string]*catalogEntry{}, stop: make(chan struct{})}
	for name := range p.projects {
		c.entries[name] = &catalogEntry{extra: map[string]clusterConn{}}
	}
	return c
}

func connKey(projectID, cluster string) string { return projectID + "/" + cluster }

// Clusters returns the integration's clusters with their owners and
// configured databases; in an organization-wide integration those of every
// project, each naming its project.
func (c *Catalog) Clusters(ctx context.Context, integration string) ([]flows.Cluster, error) {
	if _, err := c.p.project(integration); err != nil {
		return nil, fmt.Errorf("atlas: list clusters: %w", err)
	}
	snap, err := c.snapshot(ctx, integration, false)
	if err != nil {
		return nil, fmt.Errorf("atlas: list clusters of %s: %w", integration, err)
	}
	return cloneClusters(snap.clusters), nil
}

// Refresh reads the integration's catalog from Atlas now (or joins the
// refresh under way) and returns what it failed with; the last good
// catalog stays in service either way.
func (c *Catalog) Refresh(ctx context.Context, integration string) error {
	if _, err := c.p.project(integration); err != nil {
		return fmt.Errorf("atlas: refresh the catalog: %w", err)
	}
	if _, err := c.snapshot(ctx, integration, true); err != nil {
		return fmt.Errorf("atlas: refresh the catalog of %s: %w", integration, err)
	}
	return c.lastError(integration)
}

func (c *Catalog) lastError(integration string) error {
	e := c.entries[integration]
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

// snapshot returns the integration's catalog, refreshed first when it is
// older than CatalogTTL (or always, with force), unless Atlas failed a
// moment ago and the last good one is younger than ten TTLs.
func (c *Catalog) snapshot(ctx context.Context, integration string, force bool) (*snapshot, error) {
	pr := c.p.projects[integration]
	e := c.entries[integration]
	ttl := c.p.cfg.CatalogTTL
	now := c.p.clock.Now()

	// An organization's catalog refreshed in the background is served as it
	// is: a request never waits for the scores of calls of a refresh.
	fresh := ttl
	if pr.OrgWide() && c.started.Load() {
		fresh = staleCatalogTimes * ttl
	}
	e.mu.Lock()
	if !force && e.last != nil && (now.Sub(e.last.at) < fresh || (now.Before(e.retryAt) && now.Sub(e.last.at) < staleCatalogTimes*ttl)) {
		s := e.last
		e.mu.Unlock()
		return s, nil
	}
	f := e.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.flight = f
		c.refresh.Add(1)
		// The fetch runs on its own so that a caller giving up does not fail
		// everyone waiting on the same refresh.
		go c.fetchInto(context.WithoutCancel(ctx), pr, e, f, e.last)
	}
	e.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, flows.WrapError(flows.EUNAVAILABLE, ctx.Err(), "gave up waiting for the clusters of %s", integration)
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.snap, nil
}

// fetchInto runs one refresh and publishes its outcome to the flight.
func (c *Catalog) fetchInto(ctx context.Context, pr *project, e *catalogEntry, f *flight, prev *snapshot) {
	defer c.refresh.Done()
	var snap *snapshot
	var err error
	if pr.OrgWide() {
		snap, err = c.discover(ctx, pr, prev)
	} else {
		snap, err = c.fetch(ctx, pr)
	}
	now := c.p.clock.Now()
	ttl := c.p.cfg.CatalogTTL

	e.mu.Lock()
	switch {
	case err == nil:
		e.last, f.snap = snap, snap
		e.lastErr = nil
	case e.last != nil && now.Sub(e.last.at) < staleCatalogTimes*ttl:
		e.retryAt = now.Add(max(ttl/10, time.Second))
		f.snap = e.last
		e.lastErr, e.lastErrAt = err, now
		c.p.log.WarnContext(ctx, "atlas: serving a stale cluster list", "integration", pr.Name,
			"age", now.Sub(e.last.at), "err", err)
	default:
		e.lastErr, e.lastErrAt = err, now
		f.err = flows.WrapError(flows.EUNAVAILABLE, err, "could not list the clusters of %s: %s", pr.Name, flows.ErrorMessage(err))
	}
	e.flight = nil
	e.mu.Unlock()
	close(f.done)
}

// fetch lists every cluster of the project.
func (c *Catalog) fetch(ctx context.Context, pr *project) (*snapshot, error) {
	snap := &snapshot{conn: map[string]clusterConn{}}
	seen := 0
	for page := 1; page <= maxPages; page++ {
		var res *admin.PaginatedClusterDescription20240805
		err := c.p.do(ctx, pr, "listClusters", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			res, resp, err = pr.api.ClustersApi.ListClusters(ctx, pr.ProjectID).
				IncludeCount(true).ItemsPerPage(clustersPerPage).PageNum(page).Execute()
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		results := res.GetResults()
		seen += len(results)
		for i := range results {
			cl := &results[i]
			name := cl.GetName()
			snap.clusters = append(snap.clusters, flows.Cluster{
				Name:      name,
				ID:        cl.GetId(),
				ProjectID: pr.ProjectID,
				Tags:      flowsTags(cl.GetTags()),
				Owners:    ownerTokens(cl.GetTags(), pr.OwnerTag),
				Databases: databases(pr.Databases[name]),
			})
			snap.conn[connKey(pr.ProjectID, name)] = connOf(cl.GetConnectionStrings(), cl.GetTags())
		}
		if total, ok := res.GetTotalCountOk(); len(results) < clustersPerPage || (ok && seen >= *total) {
			break
		}
	}
	for hinted := range pr.Databases {
		if _, ok := snap.conn[connKey(pr.ProjectID, hinted)]; !ok {
			c.p.log.WarnContext(ctx, "atlas: databases are configured for a cluster Atlas does not list",
				"integration", pr.Name, "cluster", hinted)
		}
	}
	snap.at = c.p.clock.Now()
	return snap, nil
}

func flowsTags(tags []admin.ResourceTag) []flows.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]flows.Tag, len(tags))
	for i, t := range tags {
		out[i] = flows.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// ownerTokens splits the owner tag's values into owners. Atlas tag values
// allow no commas, so spaces and semicolons separate owners as well.
func ownerTokens(tags []admin.ResourceTag, key string) []string {
	var out []string
	for _, t := range tags {
		if !strings.EqualFold(t.Key, key) {
			continue
		}
		for _, tok := range strings.FieldsFunc(t.Value, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' }) {
			if !slices.Contains(out, tok) {
				out = append(out, tok)
			}
		}
	}
	return out
}

func databases(hints map[string][]string) map[string][]string {
	if len(hints) == 0 {
		return nil
	}
	out := make(map[string][]string, len(hints))
	for db, colls := range hints {
		out[db] = slices.Clone(colls)
	}
	return out
}

func cloneClusters(cs []flows.Cluster) []flows.Cluster {
	out := make([]flows.Cluster, len(cs))
	for i, c := range cs {
		c.Owners = slices.Clone(c.Owners)
		c.Tags = slices.Clone(c.Tags)
		c.ProjectTags = slices.Clone(c.ProjectTags)
		if c.Databases != nil {
			c.Databases = maps.Clone(c.Databases)
			for db, colls := range c.Databases {
				c.Databases[db] = slices.Clone(colls)
			}
		}
		out[i] = c
	}
	return out
}

// connectionStrings returns the cached connection strings of a project's cluster.
func (c *Catalog) connectionStrings(integration, projectID, cluster string) (clusterConn, bool) {
	e, ok := c.entries[integration]
	if !ok {
		return clusterConn{}, false
	}
	key := connKey(projectID, cluster)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last != nil {
		if s, ok := e.last.conn[key]; ok {
			return s, true
		}
	}
	s, ok := e.extra[key]
	return s, ok
}

func (c *Catalog) rememberConnectionStrings(integration, projectID, cluster string, s clusterConn) {
	if e, ok := c.entries[integration]; ok {
		e.mu.Lock()
		e.extra[connKey(projectID, cluster)] = s
		e.mu.Unlock()
	}
}

// wait stops the refresh loops and lets refreshes under way finish, for Close.
func (c *Catalog) wait() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.loops.Wait()
	c.refresh.Wait()
}

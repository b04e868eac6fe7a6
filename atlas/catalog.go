package atlas

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
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
type Catalog struct {
	p       *Provisioner
	entries map[string]*catalogEntry // by integration; fixed at construction
	refresh sync.WaitGroup
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
	extra map[string]string
}

type snapshot struct {
	clusters []flows.Cluster
	conn     map[string]string // cluster → connection string
	at       time.Time
}

type flight struct {
	done chan struct{}
	snap *snapshot
	err  error
}

func newCatalog(p *Provisioner) *Catalog {
	c := &Catalog{p: p, entries: map[string]*catalogEntry{}}
	for name := range p.projects {
		c.entries[name] = &catalogEntry{extra: map[string]string{}}
	}
	return c
}

// Clusters returns the integration's clusters with their owners and
// configured databases.
func (c *Catalog) Clusters(ctx context.Context, integration string) ([]flows.Cluster, error) {
	pr, err := c.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list clusters: %w", err)
	}
	e := c.entries[integration]
	ttl := c.p.cfg.CatalogTTL
	now := c.p.clock.Now()

	e.mu.Lock()
	if e.last != nil && (now.Sub(e.last.at) < ttl || (now.Before(e.retryAt) && now.Sub(e.last.at) < staleCatalogTimes*ttl)) {
		s := e.last
		e.mu.Unlock()
		return cloneClusters(s.clusters), nil
	}
	f := e.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.flight = f
		c.refresh.Add(1)
		// The fetch runs on its own so that a caller giving up does not fail
		// everyone waiting on the same refresh.
		go c.fetchInto(context.WithoutCancel(ctx), pr, e, f)
	}
	e.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("atlas: list clusters of %s: %w", integration,
			flows.WrapError(flows.EUNAVAILABLE, ctx.Err(), "gave up waiting for the clusters of %s", integration))
	}
	if f.err != nil {
		return nil, fmt.Errorf("atlas: list clusters of %s: %w", integration, f.err)
	}
	return cloneClusters(f.snap.clusters), nil
}

// fetchInto runs one refresh and publishes its outcome to the flight.
func (c *Catalog) fetchInto(ctx context.Context, pr *project, e *catalogEntry, f *flight) {
	defer c.refresh.Done()
	snap, err := c.fetch(ctx, pr)
	now := c.p.clock.Now()
	ttl := c.p.cfg.CatalogTTL

	e.mu.Lock()
	switch {
	case err == nil:
		e.last, f.snap = snap, snap
	case e.last != nil && now.Sub(e.last.at) < staleCatalogTimes*ttl:
		e.retryAt = now.Add(max(ttl/10, time.Second))
		f.snap = e.last
		c.p.log.WarnContext(ctx, "atlas: serving a stale cluster list", "integration", pr.Name,
			"age", now.Sub(e.last.at), "err", err)
	default:
		f.err = flows.WrapError(flows.EUNAVAILABLE, err, "could not list the clusters of %s: %s", pr.Name, flows.ErrorMessage(err))
	}
	e.flight = nil
	e.mu.Unlock()
	close(f.done)
}

// fetch lists every cluster of the project.
func (c *Catalog) fetch(ctx context.Context, pr *project) (*snapshot, error) {
	snap := &snapshot{conn: map[string]string{}}
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
				Owners:    ownerTokens(cl.GetTags(), pr.OwnerTag),
				Databases: databases(pr.Databases[name]),
			})
			snap.conn[name] = srvAddress(cl)
		}
		if total, ok := res.GetTotalCountOk(); len(results) < clustersPerPage || (ok && seen >= *total) {
			break
		}
	}
	for hinted := range pr.Databases {
		if _, ok := snap.conn[hinted]; !ok {
			c.p.log.WarnContext(ctx, "atlas: databases are configured for a cluster Atlas does not list",
				"integration", pr.Name, "cluster", hinted)
		}
	}
	snap.at = c.p.clock.Now()
	return snap, nil
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

// connectionString returns a cached connection string of the cluster.
func (c *Catalog) connectionString(integration, cluster string) (string, bool) {
	e, ok := c.entries[integration]
	if !ok {
		return "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last != nil {
		if s, ok := e.last.conn[cluster]; ok {
			return s, true
		}
	}
	s, ok := e.extra[cluster]
	return s, ok
}

func (c *Catalog) rememberConnectionString(integration, cluster, s string) {
	if e, ok := c.entries[integration]; ok {
		e.mu.Lock()
		e.extra[cluster] = s
		e.mu.Unlock()
	}
}

// wait lets refreshes under way finish, for Close.
func (c *Catalog) wait() { c.refresh.Wait() }

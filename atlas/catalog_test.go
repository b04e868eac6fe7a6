package atlas

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
)

func TestCatalogClusters(t *testing.T) {
	e := newEnv(t)
	cs, err := e.prov.Catalog().Clusters(e.ctx, "prod")
	if err != nil {
		t.Fatalf("Clusters: %v", err)
	}
	if len(cs) != 2 || cs[0].Name != "Cluster0" || cs[1].Name != "Cluster1" {
		t.Fatalf("clusters: %+v", cs)
	}
	if want := []string{"alice@example.com", "group:dba", "bob@example.com"}; !slices.Equal(cs[0].Owners, want) {
		t.Fatalf("owners: %q", cs[0].Owners)
	}
	want := map[string][]string{"sales": {"orders", "customers"}, "hr": nil}
	if !maps.EqualFunc(cs[0].Databases, want, slices.Equal) {
		t.Fatalf("databases: %v", cs[0].Databases)
	}
	if cs[1].Owners != nil || cs[1].Databases != nil {
		t.Fatalf("untagged cluster: %+v", cs[1])
	}
	// Callers get copies: changing one changes nothing in the cache.
	cs[0].Owners[0] = "mallory@example.com"
	cs[0].Databases["sales"][0] = "secrets"
	again, _ := e.prov.Catalog().Clusters(e.ctx, "prod")
	if again[0].Owners[0] != "alice@example.com" || again[0].Databases["sales"][0] != "orders" {
		t.Fatalf("the cache was changed through a result: %+v", again[0])
	}
	e.noViolations()
}

func TestOwnerTokens(t *testing.T) {
	tags := []admin.ResourceTag{
		{Key: "Owner", Value: " a@example.com,b@example.com  group:dba;c@example.com "},
		{Key: "owner", Value: "a@example.com"},
		{Key: "team", Value: "x@example.com"},
	}
	got := ownerTokens(tags, "owner")
	if want := []string{"a@example.com", "b@example.com", "group:dba", "c@example.com"}; !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	if got := ownerTokens(tags, "steward"); got != nil {
		t.Fatalf("got %q", got)
	}
}

func TestCatalogOwnerTagIsConfigurable(t *testing.T) {
	e := newEnv(t, withIntegration(func(in *Integration) { in.OwnerTag = "env" }))
	cs, err := e.prov.Catalog().Clusters(e.ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cs[0].Owners, []string{"production"}) {
		t.Fatalf("owners: %q", cs[0].Owners)
	}
}

func TestCatalogCachesForTTL(t *testing.T) {
	e := newEnv(t, withConfig(func(cfg *Config) { cfg.CatalogTTL = time.Minute }))
	c := e.prov.Catalog()
	for range 3 {
		if _, err := c.Clusters(e.ctx, "prod"); err != nil {
			t.Fatal(err)
		}
	}
	e.wantCalls(map[string]int{"listClusters": 1})
	e.clock.Advance(59 * time.Second)
	_, _ = c.Clusters(e.ctx, "prod")
	e.wantCalls(map[string]int{"listClusters": 1})
	e.clock.Advance(time.Second)
	_, _ = c.Clusters(e.ctx, "prod")
	e.wantCalls(map[string]int{"listClusters": 2})

	// The cached list also gives Create its connection string.
	e.create(e.grant("a2m2x9q4ta"))
	e.wantCalls(map[string]int{"getCluster": 0})
}

func TestCatalogServesStaleWhileAtlasFails(t *testing.T) {
	e := newEnv(t, withConfig(func(cfg *Config) { cfg.CatalogTTL = time.Minute; cfg.MaxRetries = -1 }))
	c := e.prov.Catalog()
	if _, err := c.Clusters(e.ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	e.srv.Inject(atlastest.Fault{OperationID: "listClusters", Kind: atlastest.FaultServerError})

	e.clock.Advance(2 * time.Minute)
	cs, err := c.Clusters(e.ctx, "prod")
	if err != nil || len(cs) != 2 {
		t.Fatalf("want the stale list, got %v, %v", cs, err)
	}
	if !strings.Contains(e.logs.String(), "serving a stale cluster list") {
		t.Fatal("serving a stale list was not logged")
	}
	// Right after a failure the stale list is served without asking again.
	_, _ = c.Clusters(e.ctx, "prod")
	e.wantCalls(map[string]int{"listClusters": 2})

	e.clock.Advance(8 * time.Minute) // 10 TTLs after the last good list
	_, err = c.Clusters(e.ctx, "prod")
	wantError(t, err, flows.EUNAVAILABLE, "could not list the clusters of prod: Atlas is unavailable")

	e.srv.ClearFaults()
	if _, err := c.Clusters(e.ctx, "prod"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestCatalogRefreshesOnceForManyCallers(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(atlastest.Fault{OperationID: "listClusters", Kind: atlastest.FaultLatency, Latency: 100 * time.Millisecond, Times: 1})
	c := e.prov.Catalog()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			cs, err := c.Clusters(e.ctx, "prod")
			if err == nil && len(cs) != 2 {
				err = flows.Errorf(flows.EINTERNAL, "got %d clusters", len(cs))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.wantCalls(map[string]int{"listClusters": 1})
}

// A caller that gives up does not spoil the refresh for the others.
func TestCatalogCallerGivingUp(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(atlastest.Fault{OperationID: "listClusters", Kind: atlastest.FaultLatency, Latency: 200 * time.Millisecond, Times: 1})
	c := e.prov.Catalog()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Millisecond)
	defer cancel()
	_, err := c.Clusters(ctx, "prod")
	wantError(t, err, flows.EUNAVAILABLE, "gave up waiting")
	if _, err := c.Clusters(e.ctx, "prod"); err != nil {
		t.Fatalf("the patient caller failed: %v", err)
	}
	e.wantCalls(map[string]int{"listClusters": 1})
}

func TestCatalogUnknownIntegration(t *testing.T) {
	e := newEnv(t)
	_, err := e.prov.Catalog().Clusters(e.ctx, "staging")
	wantError(t, err, flows.EINVALID, `no Atlas integration "staging"`)
}

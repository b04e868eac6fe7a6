package atlas

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// combinedEnv grants database users, from an address inside
// 198.51.100.0/24 or without one, and network access, on prod.
func combinedEnv(t *testing.T) *netEnv {
	t.Helper()
	e := newEnv(t, withRoles(atlastest.RoleNetworkAccessManager, atlastest.RoleDatabaseAccessAdmin, atlastest.RoleReadOnly))
	policy, err := flows.Compile(flows.PolicySpec{
		Groups:       map[string][]string{"dba": {"dba1@example.com", "dba2@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{"group:dba"}}},
		Flows: []flows.FlowSpec{
			{Name: "office-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"*"},
				AllowedCIDRs: []string{"198.51.100.0/24"}, MaxDuration: "8h", Approvers: []string{"integration-owners"}},
			{Name: "sales-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"}, Roles: []string{"read"},
				AllowedCIDRs: []string{"198.51.100.0/24"}, MaxDuration: "8h", Approvers: []string{"integration-owners"}},
			{Name: "hr-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/hr"}, Roles: []string{"read"},
				MaxDuration: "8h", Approvers: []string{"integration-owners"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &netEnv{env: e, store: flowstest.NewStore(), secrets: &flowstest.Secrets{}}
	n.svc, err = flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: n.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: e.prov, flows.KindAccessListEntry: e.prov.AccessList()},
		Catalog: e.prov.Catalog(), Secrets: n.secrets, Clock: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *netEnv) askFrom(requester, resource, from string, d time.Duration) (*flows.Request, error) {
	res, err := flows.ParseResource(resource)
	if err != nil {
		return nil, err
	}
	res.Address = from
	return n.svc.Submit(n.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: []string{"read"}, Duration: d, Reason: "INC-9"})
}

// TestCombinedGrantLifecycle: a database user asked for from an address is
// approved once; the user and the access-list entry are made together and
// the credentials say so; a network access grant of the same address
// shares the entry; the user's end keeps the entry for it, and its end
// removes the entry.
func TestCombinedGrantLifecycle(t *testing.T) {
	n := combinedEnv(t)

	r, err := n.askFrom("carol@example.com", "prod/Cluster0/sales", "198.51.100.7", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resource.Address != "198.51.100.7/32" || flows.DescribeAccess(r) != "read on prod/Cluster0/sales, from 198.51.100.7/32" {
		t.Fatalf("request: %+v, %q", r.Resource, flows.DescribeAccess(r))
	}
	r, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba1@example.com", Approve: true})
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	n.user(r.Principal)
	e, ok := n.entry("198.51.100.7")
	if !ok || !strings.HasPrefix(e.Comment, "jitbot "+string(r.ID)) || !e.DeleteAfterDate.Equal(r.BackstopAt.Truncate(time.Second)) {
		t.Fatalf("entry: %+v, %v (backstop %s)", e, ok, r.BackstopAt)
	}
	kept := n.secrets.Kept(r.ID)
	if len(kept) != 1 || field(kept[0].Credentials, flows.FieldAddress) != "198.51.100.7/32" || password(kept[0].Credentials) == "" ||
		!strings.Contains(kept[0].Credentials.Instructions, "Atlas accepts connections from 198.51.100.7/32") {
		t.Fatalf("credentials: %+v", kept)
	}

	// Network access of the same address shares the entry, and ends later.
	nw := n.grantAddress("dave@example.com", "prod/198.51.100.7", 3*time.Hour)
	if e, _ := n.entry("198.51.100.7"); e.Writes != 2 || !e.DeleteAfterDate.Equal(nw.BackstopAt.Truncate(time.Second)) {
		t.Fatalf("shared entry: %+v", e)
	}
	n.sweep(r.ExpiresAt)
	if n.state(r.ID) != flows.StateExpired {
		t.Fatalf("the user's grant: %s", n.state(r.ID))
	}
	if _, ok := n.srv.User(projectID, r.Principal); ok {
		t.Fatal("the user outlived its grant")
	}
	if _, ok := n.entry("198.51.100.7"); !ok {
		t.Fatal("the entry went while network access held it")
	}
	reps, err := n.svc.Reconcile(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		if len(rep.OrphansDeleted) > 0 || len(rep.Errors) > 0 {
			t.Fatalf("reconcile: %+v", rep)
		}
	}
	n.sweep(nw.ExpiresAt)
	if _, ok := n.entry("198.51.100.7"); ok {
		t.Fatal("the entry outlived every grant of it")
	}

	// The other way round: the network grant ends first, the combined one
	// keeps the entry until its own end.
	nw = n.grantAddress("dave@example.com", "prod/198.51.100.9", time.Hour)
	r2, err := n.askFrom("carol@example.com", "prod/Cluster0/sales", "198.51.100.9", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r2, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r2.ID, Actor: "dba1@example.com", Approve: true}); err != nil || r2.State != flows.StateActive {
		t.Fatalf("Decide: %+v, %v", r2, err)
	}
	n.sweep(nw.ExpiresAt)
	if _, ok := n.entry("198.51.100.9"); !ok {
		t.Fatal("the entry went while the combined grant held it")
	}
	if _, err := n.svc.Revoke(n.ctx, r2.ID, "carol@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.entry("198.51.100.9"); ok {
		t.Fatal("the entry outlived the combined grant")
	}
	n.noViolations()
}

// TestCombinedGrantRefusals: an address outside the flow's ranges, and an
// address on a flow that bounds none, are refused before anyone is asked;
// an entry that was there before is used and kept.
func TestCombinedGrantRefusals(t *testing.T) {
	n := combinedEnv(t)
	_, err := n.askFrom("carol@example.com", "prod/Cluster0/sales", "192.0.2.1", time.Hour)
	wantError(t, err, flows.EFORBIDDEN, "192.0.2.1/32 is not an address access flow sales-read allows")
	_, err = n.askFrom("carol@example.com", "prod/Cluster0/hr", "198.51.100.7", time.Hour)
	wantError(t, err, flows.EFORBIDDEN, "access flow hr-read binds no grant to an address")
	_, err = n.askFrom("carol@example.com", "prod/Cluster0/sales", "0.0.0.0/0", time.Hour)
	wantError(t, err, flows.EINVALID, "every address on the internet")

	if err := n.srv.AddAccessListEntry(projectID, atlastest.AccessListEntry{CIDR: "198.51.100.20", Comment: "office"}); err != nil {
		t.Fatal(err)
	}
	r, err := n.askFrom("carol@example.com", "prod/Cluster0/sales", "198.51.100.20", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba1@example.com", Approve: true}); err != nil || r.State != flows.StateActive {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	n.sweep(r.ExpiresAt)
	if e, ok := n.entry("198.51.100.20"); !ok || e.Comment != "office" || !e.DeleteAfterDate.IsZero() {
		t.Fatalf("the entry that was there before: %+v, %v", e, ok)
	}
	n.noViolations()
}

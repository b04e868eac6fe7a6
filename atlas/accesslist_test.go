package atlas

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// netEnv is the simulator and a real flows.Service granting network access
// (and database users) through this adapter: one flow of addresses inside
// 198.51.100.0/24 and 2001:db8::/32 (a /28 and a /64 at most) approved by
// one of the dba group, public addresses with one approval more.
type netEnv struct {
	*env
	svc     *flows.Service
	store   *flowstest.Store
	secrets *flowstest.Secrets
}

func newNetEnv(t *testing.T, opts ...option) *netEnv {
	t.Helper()
	opts = append([]option{withRoles(atlastest.RoleNetworkAccessManager, atlastest.RoleDatabaseAccessAdmin, atlastest.RoleReadOnly)}, opts...)
	e := newEnv(t, opts...)
	policy, err := flows.Compile(flows.PolicySpec{
		Groups:       map[string][]string{"dba": {"dba1@example.com", "dba2@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{"group:dba"}}},
		Flows: []flows.FlowSpec{{Name: "office-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"*"},
			AllowedCIDRs: []string{"198.51.100.0/24", "2001:db8::/32"}, WidestPrefixV4: 28, WidestPrefixV6: 64, AllowPublic: true,
			MaxDuration: "6d23h", Approvers: []string{"integration-owners"}}},
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

// grantAddress asks for target as requester for d and has dba1 approve it.
func (n *netEnv) grantAddress(requester, target string, d time.Duration) *flows.Request {
	n.t.Helper()
	res, err := flows.ParseAddressTarget(target)
	if err != nil {
		n.t.Fatal(err)
	}
	r, err := n.svc.Submit(n.ctx, flows.SubmitInput{Requester: requester, Kind: flows.KindAccessListEntry, Resource: res, Duration: d, Reason: "INC-7"})
	if err != nil {
		n.t.Fatalf("Submit %s: %v", target, err)
	}
	r, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba1@example.com", Approve: true})
	if err != nil || r.State != flows.StateActive {
		n.t.Fatalf("Decide %s: %+v, %v", target, r, err)
	}
	return r
}

func (n *netEnv) entry(cidr string) (atlastest.AccessListEntry, bool) {
	return n.srv.AccessListEntry(projectID, cidr)
}

func (n *netEnv) sweep(at time.Time) {
	n.t.Helper()
	n.clock.Set(at)
	if _, err := n.svc.Sweep(n.ctx, at); err != nil {
		n.t.Fatal(err)
	}
}

func (n *netEnv) state(id flows.RequestID) flows.State {
	r, err := n.store.Get(n.ctx, id)
	if err != nil {
		n.t.Fatal(err)
	}
	return r.State
}

// TestNetworkAccessLifecycle: an address asked for, approved, put on the
// access list with its backstop, awaited until ACTIVE, handed over without a
// secret, extended (the backstop moves), and taken off at expiry.
func TestNetworkAccessLifecycle(t *testing.T) {
	n := newNetEnv(t, withSim(func(so *atlastest.Options) { so.ApplyAfterPolls = 1 }))
	r := n.grantAddress("carol@example.com", "prod/198.51.100.7", time.Hour)
	if r.Principal != "198.51.100.7/32" || r.Quorum != 1 {
		t.Fatalf("active: %+v", r)
	}
	e, ok := n.entry("198.51.100.7")
	if !ok || !strings.HasPrefix(e.Comment, "jitbot "+string(r.ID)+" for carol@example.com") || !e.DeleteAfterDate.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("entry: %+v (expires %v)", e, r.ExpiresAt)
	}
	creds := n.secrets.Kept(r.ID)[0].Credentials
	if len(creds.Secrets()) != 0 || field(creds, flows.FieldAddress) != "198.51.100.7/32" ||
		!strings.Contains(creds.Instructions, "Atlas now accepts connections from 198.51.100.7/32 to the clusters of prod") {
		t.Fatalf("credentials: %+v", creds)
	}
	n.wantCalls(map[string]int{"getAccessListEntry": 1, "createAccessListEntry": 1, "getAccessListStatus": 2})

	n.clock.Advance(10 * time.Minute)
	if r, err := n.svc.Extend(n.ctx, r.ID, "carol@example.com", 2*time.Hour); err != nil || !r.BackstopAt.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("extend: %+v %v", r, err)
	}
	r, _ = n.store.Get(n.ctx, r.ID)
	if e, _ := n.entry("198.51.100.7"); !e.DeleteAfterDate.Equal(r.BackstopAt) || e.Writes != 2 {
		t.Fatalf("after the extension: %+v, want the date %v", e, r.BackstopAt)
	}

	n.sweep(r.ExpiresAt)
	if st := n.state(r.ID); st != flows.StateExpired {
		t.Fatalf("after expiry: %s", st)
	}
	if _, ok := n.entry("198.51.100.7"); ok {
		t.Fatal("the entry outlived its grant")
	}
	reps, err := n.svc.Reconcile(n.ctx)
	if err != nil || len(reps) != 2 {
		t.Fatalf("reconcile: %+v %v", reps, err)
	}
	for _, rep := range reps {
		if rep.Managed != 0 || len(rep.OrphansDeleted) != 0 || len(rep.Missing) != 0 || len(rep.Errors) != 0 {
			t.Fatalf("reconcile %s: %+v", rep.Kind, rep)
		}
	}
	n.noViolations()
}

// TestNetworkAccessBackstopWithinAWeek: a grant of six days and 23 hours
// would have its backstop a week ahead, which Atlas refuses: it is clamped
// below a week and moved forward by the daily refresh, as a database user's
// is.
func TestNetworkAccessBackstopWithinAWeek(t *testing.T) {
	n := newNetEnv(t)
	r := n.grantAddress("carol@example.com", "prod/2001:db8:7::/64", 6*24*time.Hour+23*time.Hour)
	e, ok := n.entry("2001:db8:7::/64")
	if !ok || !e.DeleteAfterDate.Equal(r.BackstopAt) || r.BackstopRefreshAt.IsZero() || e.DeleteAfterDate.After(n.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("entry %+v, request backstop %v refresh %v", e, r.BackstopAt, r.BackstopRefreshAt)
	}
	n.sweep(r.BackstopRefreshAt)
	if e2, _ := n.entry("2001:db8:7::/64"); !e2.DeleteAfterDate.After(e.DeleteAfterDate) || !e2.DeleteAfterDate.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("after the refresh: %v, was %v (expiry %v)", e2.DeleteAfterDate, e.DeleteAfterDate, r.ExpiresAt)
	}
	n.noViolations()
}

// TestTwoGrantsShareOneEntry: grants of one address from two people hold one
// entry, whose deleteAfterDate is the latest of their backstops; the one
// ending first leaves it for the other, a third revoked early brings the
// date back to the latest remaining, and the last one removes it.
func TestTwoGrantsShareOneEntry(t *testing.T) {
	n := newNetEnv(t)
	carol := n.grantAddress("carol@example.com", "prod/198.51.100.7", time.Hour)
	dave := n.grantAddress("dave@example.com", "prod/198.51.100.7", 3*time.Hour)
	if l := n.srv.AccessList(projectID); len(l) != 1 {
		t.Fatalf("access list: %+v", l)
	}
	if e, _ := n.entry("198.51.100.7"); !e.DeleteAfterDate.Equal(dave.BackstopAt) || !strings.Contains(e.Comment, string(carol.ID)) {
		t.Fatalf("shared entry: %+v, want dave's backstop %v", e, dave.BackstopAt)
	}
	erin := n.grantAddress("erin@example.com", "prod/198.51.100.7", 5*time.Hour)
	if e, _ := n.entry("198.51.100.7"); !e.DeleteAfterDate.Equal(erin.BackstopAt) {
		t.Fatalf("a later grant moves the date: %+v", e)
	}

	n.sweep(carol.ExpiresAt)
	if n.state(carol.ID) != flows.StateExpired {
		t.Fatal("carol's grant did not expire")
	}
	if e, ok := n.entry("198.51.100.7"); !ok || !e.DeleteAfterDate.Equal(erin.BackstopAt) {
		t.Fatalf("the entry is gone or moved while dave and erin hold it: %+v %v", e, ok)
	}
	// The audit record of carol's end says who kept the entry.
	var expired flows.Event
	for _, ev := range n.store.Events() {
		if ev.RequestID == carol.ID && ev.Type == flows.EventExpired {
			expired = ev
		}
	}
	if !strings.Contains(expired.Message, "198.51.100.7/32 stays for the other live grants that hold it: ") ||
		!strings.Contains(expired.Message, string(dave.ID)) || !strings.Contains(expired.Message, string(erin.ID)) {
		t.Fatalf("the expiry's audit record: %+v", expired)
	}
	if _, err := n.svc.Revoke(n.ctx, erin.ID, "erin@example.com", "done early"); err != nil {
		t.Fatal(err)
	}
	if e, ok := n.entry("198.51.100.7"); !ok || !e.DeleteAfterDate.Equal(dave.BackstopAt) {
		t.Fatalf("after erin's revocation the date is dave's: %+v %v", e, ok)
	}
	// Reconcile sees the entry carol's request made, held by dave's.
	reps, err := n.svc.Reconcile(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		if len(rep.OrphansDeleted) != 0 || len(rep.Missing) != 0 || len(rep.Errors) != 0 {
			t.Fatalf("reconcile %s: %+v", rep.Kind, rep)
		}
	}
	n.sweep(dave.ExpiresAt)
	if _, ok := n.entry("198.51.100.7"); ok || n.state(dave.ID) != flows.StateExpired {
		t.Fatal("the last grant's end left the entry behind")
	}
	n.noViolations()
}

// TestAnEntryThatWasThereBefore: an address a team had on the access list
// already is used as it is by a grant, never changed, and never removed,
// by expiry or by reconcile; an entry marked as jitbot's that no grant
// holds is removed by reconcile.
func TestAnEntryThatWasThereBefore(t *testing.T) {
	n := newNetEnv(t)
	if err := n.srv.AddAccessListEntry(projectID, atlastest.AccessListEntry{CIDR: "198.51.100.9", Comment: "office VPN"}); err != nil {
		t.Fatal(err)
	}
	if err := n.srv.AddAccessListEntry(projectID, atlastest.AccessListEntry{CIDR: "198.51.100.200", Comment: "jitbot gone000001 for x@example.com",
		DeleteAfterDate: n.clock.Now().Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := n.grantAddress("carol@example.com", "prod/198.51.100.9", time.Hour)
	creds := n.secrets.Kept(r.ID)[0].Credentials
	if !strings.Contains(creds.Instructions, "The address was on the access list already, put there outside jitbot") {
		t.Fatalf("instructions: %q", creds.Instructions)
	}
	e, _ := n.entry("198.51.100.9")
	if e.Comment != "office VPN" || !e.DeleteAfterDate.IsZero() || e.Writes != 1 {
		t.Fatalf("the team's entry was changed: %+v", e)
	}
	n.wantCalls(map[string]int{"createAccessListEntry": 0})

	reps, err := n.svc.Reconcile(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		if rep.Kind != flows.KindAccessListEntry {
			continue
		}
		if len(rep.OrphansDeleted) != 1 || rep.OrphansDeleted[0] != "198.51.100.200/32" || len(rep.Missing) != 0 || rep.Managed != 1 {
			t.Fatalf("reconcile: %+v", rep)
		}
	}
	n.sweep(r.ExpiresAt)
	if e, ok := n.entry("198.51.100.9"); !ok || e.Comment != "office VPN" || n.state(r.ID) != flows.StateExpired {
		t.Fatalf("the team's entry after the grant: %+v %v", e, ok)
	}
	if l := n.srv.AccessList(projectID); len(l) != 1 {
		t.Fatalf("access list: %+v", l)
	}
	n.noViolations()
}

// TestAPublicAddressNeedsOneMoreApproval on the simulator: two approvals,
// then the entry.
func TestAPublicAddressNeedsOneMoreApproval(t *testing.T) {
	n := newNetEnv(t)
	res, _ := flows.ParseAddressTarget("prod/203.0.113.50")
	r, err := n.svc.Submit(n.ctx, flows.SubmitInput{Requester: "carol@example.com", Kind: flows.KindAccessListEntry, Resource: res, Duration: time.Hour})
	if err != nil || r.Quorum != 2 {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if r, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba1@example.com", Approve: true}); err != nil || r.State != flows.StatePending {
		t.Fatalf("one approval: %+v %v", r, err)
	}
	if _, ok := n.entry("203.0.113.50"); ok {
		t.Fatal("the entry came before the second approval")
	}
	if r, err = n.svc.Decide(n.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba2@example.com", Approve: true}); err != nil || r.State != flows.StateActive {
		t.Fatalf("two approvals: %+v %v", r, err)
	}
	if _, ok := n.entry("203.0.113.50"); !ok {
		t.Fatal("no entry")
	}
	n.noViolations()
}

// TestAccessListWritesAreSerialized: grants approved together in one
// project are written one after the other, since Atlas refuses concurrent
// POSTs to an access list.
func TestAccessListWritesAreSerialized(t *testing.T) {
	n := newNetEnv(t)
	n.srv.SetAccessListLatency(20 * time.Millisecond)
	var ids []flows.RequestID
	for i, who := range []string{"carol", "dave", "erin", "frank"} {
		res, _ := flows.ParseAddressTarget("prod/198.51.100." + string(rune('1'+i)))
		r, err := n.svc.Submit(n.ctx, flows.SubmitInput{Requester: who + "@example.com", Kind: flows.KindAccessListEntry, Resource: res, Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if r, err := n.svc.Decide(n.ctx, flows.DecideInput{RequestID: id, Actor: "dba1@example.com", Approve: true}); err != nil || r.State != flows.StateActive {
				t.Errorf("approve %s: %+v %v", id, r, err)
			}
		})
	}
	wg.Wait()
	if l := n.srv.AccessList(projectID); len(l) != 4 {
		t.Fatalf("access list: %+v", l)
	}
	for _, c := range n.srv.Calls() {
		if c.OperationID == "createAccessListEntry" && c.Status != 200 {
			t.Fatalf("a POST failed: %+v", c)
		}
	}
	n.noViolations()
}

// TestNoNetworkAccessAcrossAnOrganization: an organization-wide integration
// has no access list of its own: reconcile finds nothing there, and a grant
// is refused before any call.
func TestNoNetworkAccessAcrossAnOrganization(t *testing.T) {
	e := newOrgEnv(t, acme)
	if got, err := e.prov.AccessList().ManagedGrants(e.ctx, "acme"); err != nil || got != nil {
		t.Fatalf("ManagedGrants: %+v %v", got, err)
	}
	g := flows.Grant{RequestID: "net0000001", Kind: flows.KindAccessListEntry, Integration: "acme", Principal: "198.51.100.7/32",
		BackstopAt: e.clock.Now().Add(time.Hour)}
	_, err := e.prov.AccessList().Create(e.ctx, g)
	wantError(t, err, flows.EINVALID, "network access is granted in integrations of one project")
	if n := e.srv.CountCalls("createAccessListEntry") + e.srv.CountCalls("getAccessListEntry"); n != 0 {
		t.Fatalf("%d access list calls", n)
	}
}

package flows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

type fixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *flowstest.Clock
	store   *flowstest.Store
	prov    *flowstest.Provisioner
	catalog *flowstest.Catalog
	notes   *flowstest.Notifier
	svc     *flows.Service
}

func testCatalog() *flowstest.Catalog {
	return flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
		{Name: "Cluster0", Owners: []string{"owner@example.com"}, Databases: map[string][]string{"sales": {"orders", "customers"}}},
		{Name: "Untagged"},
		{Name: "Staging", Owners: []string{"group:dba"}},
	}})
}

func newFixture(t *testing.T, mutate ...func(*flows.PolicySpec, *flows.Config)) *fixture {
	t.Helper()
	spec := testPolicy()
	cfg := flows.Config{}
	for _, m := range mutate {
		m(&spec, &cfg)
	}
	cfg.Policy = mustCompile(t, spec)
	f := &fixture{
		t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{},
	}
	svc, err := flows.NewService(cfg, flows.Deps{
		Store: f.store, Provisioner: f.prov, Inventory: f.prov, Catalog: f.catalog, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) submit(requester, resource, role string, d time.Duration, reason string) (*flows.Request, error) {
	f.t.Helper()
	res, err := flows.ParseResource(resource)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Resource: res, Role: role, Duration: d, Reason: reason, Origin: "slack"})
}

func (f *fixture) mustSubmit(requester, resource, role string, d time.Duration) *flows.Request {
	f.t.Helper()
	r, err := f.submit(requester, resource, role, d, "INC-123 debugging")
	if err != nil {
		f.t.Fatalf("submit: %v", err)
	}
	return r
}

func (f *fixture) decide(id, actor string, approve bool, reason string) (*flows.Request, error) {
	return f.svc.Decide(f.ctx, flows.DecideInput{RequestID: id, Actor: actor, Approve: approve, Reason: reason})
}

func (f *fixture) get(id string) *flows.Request {
	f.t.Helper()
	r, err := f.store.Get(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) sweepAt(at time.Time) flows.SweepReport {
	f.t.Helper()
	f.clock.Set(at)
	rep, err := f.svc.Sweep(f.ctx, at)
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func (f *fixture) eventTypes(id string) []flows.EventType {
	var out []flows.EventType
	for _, ev := range f.store.Events() {
		if ev.RequestID == id {
			out = append(out, ev.Type)
		}
	}
	return out
}

func (f *fixture) wantEvents(id string, want ...flows.EventType) {
	f.t.Helper()
	if got := f.eventTypes(id); !slices.Equal(got, want) {
		f.t.Fatalf("events of %s:\n got %v\nwant %v", id, got, want)
	}
}

func (f *fixture) active(requester, resource, role string, d time.Duration, approver string) *flows.Request {
	f.t.Helper()
	r := f.mustSubmit(requester, resource, role, d)
	r, err := f.decide(r.ID, approver, true, "")
	if err != nil || r.State != flows.StateActive {
		f.t.Fatalf("want active, got %v %v", r, err)
	}
	return r
}

func unavailable(string) error { return flows.Errorf(flows.EUNAVAILABLE, "Atlas is unavailable") }

func TestSubmitRoutesToTheClusterOwners(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 0)
	if r.State != flows.StatePending || r.Flow != "prod-read" || r.Duration != time.Hour || !slices.Equal(r.Approvers, []string{"owner@example.com"}) {
		t.Fatalf("request: %+v", r)
	}
	if !r.PendingUntil.Equal(t0.Add(time.Hour)) {
		t.Fatalf("pending TTL: %v", r.PendingUntil)
	}
	n := f.notes.Of(flows.EventSubmitted)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"owner@example.com"}) || n[0].Credentials != nil {
		t.Fatalf("approvers not told: %+v", n)
	}
	f.wantEvents(r.ID, flows.EventSubmitted)
	if f.prov.Count("create") != 0 {
		t.Fatal("nothing is provisioned before approval")
	}
}

func TestOwnersFallBackToIntegrationOwners(t *testing.T) {
	f := newFixture(t)
	untagged := f.mustSubmit("carol@example.com", "prod/Untagged/logs", "read", 0)
	if !slices.Equal(untagged.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("no owner tag: want the integration owners, got %v", untagged.Approvers)
	}
	// The owner asking for their own cluster is routed to the integration owners.
	own := f.mustSubmit("owner@example.com", "prod/Cluster0/sales/customers", "read", 0)
	if !slices.Equal(own.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("sole owner requesting: got %v", own.Approvers)
	}
}

func TestOwnerTagNamingAGroupIsExpanded(t *testing.T) {
	// Staging's owner tag is group:dba. The integration owners differ from
	// that group, so a fallback to them cannot pass for the expansion.
	f := newFixture(t, func(spec *flows.PolicySpec, _ *flows.Config) {
		spec.Integrations[0].Owners = []string{"admin@example.com"}
		for i := range spec.Flows {
			if spec.Flows[i].Name == "staging" {
				spec.Flows[i].AutoApprove = false
				spec.Flows[i].Approvers = []string{"owners"}
				spec.Flows[i].Requesters = []string{"*"}
			}
		}
	})
	staging := f.mustSubmit("carol@example.com", "prod/Staging/app", "read", 0)
	if staging.State != flows.StatePending || !slices.Equal(staging.Approvers, []string{"dba1@example.com", "dba2@example.com"}) {
		t.Fatalf("group owners: want pending for dba1 and dba2, got %s %v", staging.State, staging.Approvers)
	}
	// A member of the group asking is left out of it.
	own := f.mustSubmit("dba1@example.com", "prod/Staging/app", "read", 0)
	if own.State != flows.StatePending || !slices.Equal(own.Approvers, []string{"dba2@example.com"}) {
		t.Fatalf("group member requesting: want pending for dba2 alone, got %s %v", own.State, own.Approvers)
	}
}

func TestSubmitRefusals(t *testing.T) {
	f := newFixture(t)
	f.mustSubmit("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	tests := []struct {
		requester, resource, role string
		d                         time.Duration
		reason                    string
		code                      flows.Code
		text                      string
	}{
		{"carol@example.com", "prod/Cluster9/sales/orders", "read", 0, "x", flows.EINVALID, `no cluster "Cluster9" in prod; its clusters are: Cluster0, Staging, Untagged`},
		{"carol@example.com", "prod/Cluster0/sales/orders", "read", 5 * time.Hour, "x", flows.EINVALID, "5h is longer than the 4h that access flow orders-read allows"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "read", 0, " ", flows.EINVALID, "requires a reason"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "readWrite", 0, "x", flows.EFORBIDDEN, "role readWrite is not offered"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "atlasAdmin", 0, "x", flows.EINVALID, "every database"},
		{"alice@example.com", "prod/Staging/app/events", "dbAdmin", 0, "x", flows.EINVALID, `cannot be limited to collection "events"`},
		{"owner@example.com", "prod/Cluster0/sales/orders", "read", 0, "x", flows.EFORBIDDEN, "nobody but you could approve"},
		{"not an email", "prod/Cluster0/sales/orders", "read", 0, "x", flows.EINVALID, "not an email"},
		{"carol@example.com", "prod/Cluster0/sales/customers", "read", 0, strings.Repeat("x", 501), flows.EINVALID, "keep it under 500"},
		{"dave@example.com", "prod/Cluster0/sales/customers", "read", 0, "x", flows.ECONFLICT, "you already have request"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			before := len(f.store.Events())
			_, err := f.submit(tt.requester, tt.resource, tt.role, tt.d, tt.reason)
			if flows.ErrorCode(err) != tt.code || !strings.Contains(flows.ErrorMessage(err), tt.text) {
				t.Fatalf("want %s %q, got %v", tt.code, tt.text, err)
			}
			if len(f.store.Events()) != before {
				t.Fatal("a refused request must write nothing")
			}
		})
	}
	f.catalog.Err = errors.New("dial tcp: connection refused")
	if _, err := f.submit("carol@example.com", "prod/Cluster0/sales/customers", "read", 0, "x"); flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("catalog down: %v", err)
	}
}

func TestQuorumTooLargeForTheApprovers(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) {
		s.Flows[1].Approvers = []string{"owners"} // prod-write needs 2 of the owners
	})
	_, err := f.submit("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", 0, "x")
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "needs 2 approvals but only 1 people") {
		t.Fatalf("got %v", err)
	}
}

func TestReplayedSubmitMakesOneRequest(t *testing.T) {
	f := newFixture(t)
	res, _ := flows.ParseResource("prod/Cluster0/sales/customers")
	in := flows.SubmitInput{Requester: "carol@example.com", Resource: res, Role: "read", Reason: "x", IdempotencyKey: "trigger-42"}
	var ids []string
	for range 4 {
		r, err := f.svc.Submit(f.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if len(slices.Compact(ids)) != 1 {
		t.Fatalf("replays made several requests: %v", ids)
	}
	if n := len(f.notes.Of(flows.EventSubmitted)); n != 1 {
		t.Fatalf("approvers were told %d times", n)
	}
}

func TestLifecycleFromRequestToExpiry(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour)
	f.clock.Advance(3 * time.Minute)
	approvedAt := f.clock.Now()
	r, err := f.decide(r.ID, "owner@example.com", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != flows.StateActive || r.Username != "jit-carol-"+r.ID {
		t.Fatalf("after approval: %+v", r)
	}
	if !r.ExpiresAt.Equal(approvedAt.Add(2*time.Hour)) || !r.BackstopAt.Equal(approvedAt.Add(3*time.Hour)) {
		t.Fatalf("the clock starts at activation: expires %v backstop %v", r.ExpiresAt, r.BackstopAt)
	}
	act := f.notes.Of(flows.EventActivated)
	if len(act) != 1 || act[0].Credentials == nil || !slices.Equal(act[0].To, []string{"carol@example.com"}) {
		t.Fatalf("credentials notice: %+v", act)
	}
	c := act[0].Credentials
	if c.Username != r.Username || c.Password.IsZero() || !strings.Contains(c.AccessDetails, `mongosh "mongodb+srv://Cluster0.example.mongodb.net" --username `+r.Username) {
		t.Fatalf("credentials: %+v", c)
	}
	for _, n := range f.notes.Notices() {
		if n.Credentials != nil && n.Event.Type != flows.EventActivated {
			t.Fatalf("credentials sent with %s", n.Event.Type)
		}
	}
	g, _ := f.prov.User(r.Username)
	if g.Resource.Collection != "customers" || g.Role != "read" || g.RequestID != r.ID {
		t.Fatalf("grant: %+v", g)
	}

	if rep := f.sweepAt(r.ExpiresAt.Add(-16 * time.Minute)); rep.Due != 0 {
		t.Fatalf("nothing is due yet: %+v", rep)
	}
	if rep := f.sweepAt(r.ExpiresAt.Add(-15 * time.Minute)); rep.Reminded != 1 {
		t.Fatalf("reminder: %+v", rep)
	}
	if rep := f.sweepAt(r.ExpiresAt.Add(-10 * time.Minute)); rep.Reminded != 0 {
		t.Fatalf("a second reminder: %+v", rep)
	}
	rep := f.sweepAt(r.ExpiresAt)
	if rep.Revocations != 1 {
		t.Fatalf("expiry: %+v", rep)
	}
	r = f.get(r.ID)
	if r.State != flows.StateExpired || len(f.prov.Users()) != 0 {
		t.Fatalf("after expiry: %s, users %v", r.State, f.prov.Users())
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated,
		flows.EventReminder, flows.EventRevoking, flows.EventExpired)
	if got := []int{f.prov.Count("create"), f.prov.Count("wait"), f.prov.Count("delete")}; !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("provisioner calls create/wait/delete = %v", got)
	}
	if n := f.notes.Of(flows.EventExpired); len(n) != 1 || n[0].To[0] != "carol@example.com" {
		t.Fatalf("expiry notice: %+v", n)
	}
	if rep := f.sweepAt(r.ExpiresAt.Add(time.Hour)); rep.Due != 0 {
		t.Fatalf("an expired grant is never due again: %+v", rep)
	}
}

func TestQuorumOfTwo(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour)
	if !slices.Equal(r.Approvers, []string{"dba1@example.com", "dba2@example.com", "owner@example.com"}) || r.Quorum != 2 {
		t.Fatalf("approvers %v quorum %d", r.Approvers, r.Quorum)
	}
	r, err := f.decide(r.ID, "owner@example.com", true, "")
	if err != nil || r.State != flows.StatePending {
		t.Fatalf("first approval: %v %v", r, err)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "1 more approval") {
		t.Fatalf("double approve: %v", err)
	}
	pending, _ := f.svc.Pending(f.ctx, "owner@example.com")
	if len(pending) != 0 {
		t.Fatal("a request the person approved is not waiting for them")
	}
	pending, _ = f.svc.Pending(f.ctx, "dba2@example.com")
	if len(pending) != 1 {
		t.Fatal("the request waits for dba2")
	}
	r, err = f.decide(r.ID, "dba2@example.com", true, "")
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("second approval: %v %v", r, err)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApprovalRecorded, flows.EventApproved, flows.EventProvisioning, flows.EventActivated)
}

func TestClicksAreReauthorized(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	before := len(f.store.Events())
	for _, who := range []string{"carol@example.com", "mallory@example.com", "dba1@example.com"} {
		for _, approve := range []bool{true, false} {
			if _, err := f.decide(r.ID, who, approve, "no"); flows.ErrorCode(err) != flows.EFORBIDDEN {
				t.Fatalf("%s approve=%v: %v", who, approve, err)
			}
		}
	}
	if _, err := f.decide("nosuchid", "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("unknown request: %v", err)
	}
	if len(f.store.Events()) != before || f.get(r.ID).State != flows.StatePending {
		t.Fatal("refused clicks changed something")
	}
	if _, err := f.svc.Get(f.ctx, r.ID, "mallory@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("outsiders cannot see requests: %v", err)
	}
}

func TestConcurrentApproveClicksCreateOneUser(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range 10 {
		wg.Go(func() {
			_, err := f.decide(r.ID, "owner@example.com", true, "")
			mu.Lock()
			defer mu.Unlock()
			switch flows.ErrorCode(err) {
			case "":
				ok++
			case flows.ECONFLICT:
				conflicts++
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || conflicts != 9 {
		t.Fatalf("ok=%d conflicts=%d", ok, conflicts)
	}
	if f.prov.Count("create") != 1 {
		t.Fatalf("creates: %d", f.prov.Count("create"))
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated)
}

func TestDenyWithReason(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if _, err := f.decide(r.ID, "owner@example.com", false, ""); flows.ErrorCode(err) != flows.EINVALID {
		t.Fatalf("the flow requires a reason to deny: %v", err)
	}
	r, err := f.decide(r.ID, "owner@example.com", false, "use the replica in staging")
	if err != nil || r.State != flows.StateDenied || r.Denial.Reason != "use the replica in staging" {
		t.Fatalf("deny: %+v %v", r, err)
	}
	n := f.notes.Of(flows.EventDenied)
	if len(n) != 1 || n[0].To[0] != "carol@example.com" || n[0].Event.Message != "use the replica in staging" {
		t.Fatalf("denial notice: %+v", n)
	}
	if f.prov.Count("create") != 0 {
		t.Fatal("a denied request is never provisioned")
	}
}

func TestPendingTTL(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.sweepAt(t0.Add(59 * time.Minute))
	if f.get(r.ID).State != flows.StatePending {
		t.Fatal("timed out early")
	}
	rep := f.sweepAt(t0.Add(time.Hour))
	if rep.TimedOut != 1 || f.get(r.ID).State != flows.StateTimedOut {
		t.Fatalf("not timed out: %+v", rep)
	}
	if n := f.notes.Of(flows.EventTimedOut); len(n) != 1 || n[0].To[0] != "carol@example.com" {
		t.Fatalf("requester not told: %+v", n)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("late approval: %v", err)
	}
}

func TestExtendWithinAndBeyondMax(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour, "owner@example.com")
	if _, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", 7*time.Hour); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "at most 6h") {
		t.Fatalf("beyond max: %v", err)
	}
	if _, err := f.svc.Extend(f.ctx, r.ID, "owner@example.com", time.Hour); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("extend by another: %v", err)
	}
	f.clock.Advance(time.Hour)
	got, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got = f.get(r.ID)
	if !got.ExpiresAt.Equal(r.ExpiresAt.Add(time.Hour)) || !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("extended: expires %v backstop %v", got.ExpiresAt, got.BackstopAt)
	}
	if u, _ := f.prov.User(r.Username); !u.BackstopAt.Equal(got.BackstopAt) {
		t.Fatalf("Atlas backstop not moved: %v", u.BackstopAt)
	}
	if f.prov.Count("create") != 1 {
		t.Fatal("extending must never re-create the user")
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated, flows.EventExtended, flows.EventBackstopMoved)
}

func TestExtensionNeedsApprovalWhenTheFlowSays(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	r, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
	if err != nil || r.Extension == nil || !r.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("extension request: %+v %v", r, err)
	}
	n := f.notes.Of(flows.EventExtensionRequested)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"owner@example.com"}) {
		t.Fatalf("approver not asked: %+v", n)
	}
	if p, _ := f.svc.Pending(f.ctx, "owner@example.com"); len(p) != 1 {
		t.Fatal("the extension waits for the owner")
	}
	r, err = f.svc.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true, Extension: 1})
	if err != nil || !f.get(r.ID).ExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("approve extension: %v", err)
	}
}

func TestRevokeEarly(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 4*time.Hour, "owner@example.com")
	if _, err := f.svc.Revoke(f.ctx, r.ID, "mallory@example.com", ""); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("outsider revoke: %v", err)
	}
	got, err := f.svc.Revoke(f.ctx, r.ID, "carol@example.com", "done early")
	if err != nil || got.State != flows.StateRevoked || got.EndedBy != "carol@example.com" {
		t.Fatalf("revoke: %+v %v", got, err)
	}
	if len(f.prov.Users()) != 0 {
		t.Fatal("the Atlas user was not deleted")
	}
	if _, err := f.svc.Revoke(f.ctx, r.ID, "carol@example.com", ""); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("second revoke: %v", err)
	}
	n := f.notes.Of(flows.EventRevoked)
	if len(n) != 1 || n[0].Event.Message != "done early" {
		t.Fatalf("revoke notice: %+v", n)
	}
	// Approvers and admins may revoke too.
	r2 := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got, err := f.svc.Revoke(f.ctx, r2.ID, "owner@example.com", ""); err != nil || got.State != flows.StateRevoked {
		t.Fatalf("approver revoke: %v", err)
	}
	r3 := f.active("erin@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got, err := f.svc.Revoke(f.ctx, r3.ID, "admin@example.com", ""); err != nil || got.State != flows.StateRevoked {
		t.Fatalf("admin revoke: %v", err)
	}
	// Revoking a pending request cancels it.
	r4 := f.mustSubmit("frank@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if got, err := f.svc.Revoke(f.ctx, r4.ID, "frank@example.com", ""); err != nil || got.State != flows.StateCancelled {
		t.Fatalf("revoke pending: %+v %v", got, err)
	}
}

func TestRevokeWhileProvisioning(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	f.prov.OnCall = func(op string, g flows.Grant) {
		if op == "wait" {
			f.prov.OnCall = nil
			if _, err := f.svc.Revoke(f.ctx, g.RequestID, "owner@example.com", "wrong cluster"); err != nil {
				t.Errorf("revoke during provisioning: %v", err)
			}
		}
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	got := f.get(r.ID)
	if got.State != flows.StateRevoked || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s users %v", got.State, f.prov.Users())
	}
	if n := f.notes.Of(flows.EventActivated); len(n) != 0 {
		t.Fatal("credentials of a revoked grant must not be sent")
	}
}

func TestAutoApprove(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("alice@example.com", "prod/Staging/app", "readWrite", 30*time.Minute)
	if r.State != flows.StateActive {
		t.Fatalf("state %s", r.State)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventAutoApproved, flows.EventProvisioning, flows.EventActivated)
	if len(f.notes.Of(flows.EventSubmitted)) != 0 {
		t.Fatal("nobody needs to approve an auto-approved request")
	}
}

func TestProvisioningRetriesThenSucceeds(t *testing.T) {
	f := newFixture(t)
	fails := 2
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "create" && fails > 0 {
			fails--
			return unavailable(op)
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateProvisioning || r.LastError != "Atlas is unavailable" {
		t.Fatalf("after a failed create: %+v", r)
	}
	for i := 0; i < 10 && f.get(r.ID).State != flows.StateActive; i++ {
		f.sweepAt(f.clock.Now().Add(time.Minute))
	}
	if got := f.get(r.ID); got.State != flows.StateActive || f.prov.Count("create") != 3 {
		t.Fatalf("state %s creates %d", got.State, f.prov.Count("create"))
	}
}

func TestProvisioningGivesUpOnPermanentErrors(t *testing.T) {
	f := newFixture(t)
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "create" {
			return flows.Errorf(flows.ECONFLICT, "the Atlas project has reached its limit of 100 database users")
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateFailed {
		t.Fatalf("state %s", r.State)
	}
	n := f.notes.Of(flows.EventProvisionFailed)
	if len(n) != 1 || !slices.Equal(n[0].To, []string{"admin@example.com", "carol@example.com"}) || !strings.Contains(n[0].Event.Message, "100 database users") {
		t.Fatalf("failure notice: %+v", n)
	}
	if f.prov.Count("delete") != 0 {
		t.Fatal("a refused create must not lead to a delete: the name may belong to someone else")
	}
}

func TestAFailedApplyRemovesTheUserItMade(t *testing.T) {
	f := newFixture(t)
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "wait" {
			return flows.Errorf(flows.EFORBIDDEN, "Atlas rejected jitbot's credentials")
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateFailed || f.prov.Count("delete") != 1 || len(f.prov.Users()) != 0 {
		t.Fatalf("state %s deletes %d users %v", r.State, f.prov.Count("delete"), f.prov.Users())
	}
}

func TestApplyDelayedRetriesWithNewCredentials(t *testing.T) {
	f := newFixture(t)
	waits := 0
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "wait" {
			waits++
			if waits == 1 {
				return flows.ErrNotApplied
			}
		}
		return nil
	}
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	r, _ = f.decide(r.ID, "owner@example.com", true, "")
	if r.State != flows.StateProvisioning || len(f.notes.Of(flows.EventApplyDelayed)) != 1 {
		t.Fatalf("after a slow apply: %s", r.State)
	}
	f.sweepAt(f.clock.Now().Add(time.Minute))
	if got := f.get(r.ID); got.State != flows.StateActive {
		t.Fatalf("state %s", got.State)
	}
	if n := f.notes.Of(flows.EventActivated); len(n) != 1 || n[0].Credentials == nil {
		t.Fatal("credentials must be sent exactly once, after APPLIED")
	}
}

func TestRevocationRetriesForeverAndAlerts(t *testing.T) {
	f := newFixture(t)
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	atlasDown := true
	f.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "delete" && atlasDown {
			return unavailable(op)
		}
		return nil
	}
	now := r.ExpiresAt
	for range 8 {
		f.sweepAt(now)
		now = now.Add(2 * time.Minute)
	}
	got := f.get(r.ID)
	if got.State != flows.StateRevokeFailed || f.prov.Count("delete") != 8 {
		t.Fatalf("state %s deletes %d", got.State, f.prov.Count("delete"))
	}
	alerts := f.notes.Of(flows.EventRevokeFailed)
	if len(alerts) != 1 || !slices.Equal(alerts[0].To, []string{"admin@example.com", "carol@example.com"}) {
		t.Fatalf("alert: %+v", alerts)
	}
	atlasDown = false
	f.sweepAt(now)
	if got := f.get(r.ID); got.State != flows.StateExpired || len(f.prov.Users()) != 0 {
		t.Fatalf("after Atlas recovers: %s", got.State)
	}
}

func TestResumeAfterCrash(t *testing.T) {
	for _, tt := range []struct {
		state     flows.State
		userThere bool
		want      flows.State
		creds     bool
	}{
		{flows.StateApproved, false, flows.StateActive, true},
		{flows.StateProvisioning, false, flows.StateActive, true},
		{flows.StateProvisioning, true, flows.StateActive, true}, // crashed after Atlas made the user
		{flows.StateRevoking, true, flows.StateExpired, false},
		{flows.StateRevoking, false, flows.StateExpired, false}, // crashed after Atlas deleted it
		{flows.StateRevokeFailed, true, flows.StateExpired, false},
	} {
		t.Run(fmt.Sprintf("%s user=%v", tt.state, tt.userThere), func(t *testing.T) {
			f := newFixture(t)
			r := flowstest.NewRequest("crash1", "carol@example.com", t0)
			r.Resource.Collection = "customers"
			r.Approvers = []string{"owner@example.com"}
			r.State = tt.state
			r.Approvals = []flows.Decision{{By: "owner@example.com", At: t0, Approve: true}}
			if tt.state != flows.StateApproved {
				// The dead process held a lease that has not run out.
				r.Username, r.NextAttemptAt, r.Attempts, r.EndState = "jit-carol-crash1", t0.Add(time.Minute), 1, flows.StateExpired
			}
			if _, _, err := f.store.Create(f.ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID}, ""); err != nil {
				t.Fatal(err)
			}
			if tt.userThere {
				f.prov.AddUser(flows.Grant{Username: "jit-carol-crash1", RequestID: "crash1", Integration: "prod"})
			}
			n, err := f.svc.Resume(f.ctx)
			if err != nil || n != 1 {
				t.Fatalf("resume: %d %v", n, err)
			}
			got := f.get("crash1")
			if got.State != tt.want {
				t.Fatalf("state %s, want %s", got.State, tt.want)
			}
			if tt.want == flows.StateActive {
				if _, ok := f.prov.User("jit-carol-crash1"); !ok {
					t.Fatal("user missing after resume")
				}
			} else if len(f.prov.Users()) != 0 {
				t.Fatalf("users left: %v", f.prov.Users())
			}
			if sent := len(f.notes.Of(flows.EventActivated)) == 1; sent != tt.creds {
				t.Fatalf("credentials sent=%v, want %v", sent, tt.creds)
			}
		})
	}
}

func TestUndeliveredCredentialsAreRecordedAndCanBeReissued(t *testing.T) {
	f := newFixture(t)
	f.notes.Err, f.notes.ErrType = errors.New("slack: channel_not_found"), flows.EventActivated
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	if got := f.eventTypes(r.ID); got[len(got)-1] != flows.EventCredentialsUndelivered {
		t.Fatalf("events: %v", got)
	}
	if n := f.notes.Of(flows.EventCredentialsUndelivered); len(n) != 1 || n[0].To[0] != "admin@example.com" {
		t.Fatalf("admins not told: %+v", n)
	}
	f.notes.Err = nil
	if _, err := f.svc.Rotate(f.ctx, r.ID, "owner@example.com"); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("only the requester gets credentials: %v", err)
	}
	if _, err := f.svc.Rotate(f.ctx, r.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	n := f.notes.Of(flows.EventCredentialsRotated)
	if len(n) != 1 || n[0].Credentials == nil || n[0].Credentials.Password.Reveal() == "" {
		t.Fatalf("rotated credentials: %+v", n)
	}
}

func TestBackstopIsClampedToAWeekAndMovedForward(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) { s.Flows[0].MaxDuration = "6d23h" })
	r := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", 6*24*time.Hour+23*time.Hour, "owner@example.com")
	limit := t0.Add(flows.Week - 10*time.Minute)
	if !r.BackstopAt.Equal(limit) {
		t.Fatalf("backstop %v, want clamped to %v", r.BackstopAt, limit)
	}
	f.sweepAt(t0.Add(24 * time.Hour))
	got := f.get(r.ID)
	if !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) || !got.BackstopRefreshAt.IsZero() {
		t.Fatalf("backstop %v refresh %v (expires %v)", got.BackstopAt, got.BackstopRefreshAt, got.ExpiresAt)
	}
}

func TestPlanRevocations(t *testing.T) {
	rl := flows.RateLimit{Capacity: 10, Refill: 5, Per: time.Minute}
	deadline := t0.Add(time.Hour)
	deadlines := make([]time.Time, 100)
	for i := range deadlines {
		deadlines[i] = deadline
	}
	starts := flows.PlanRevocations(deadlines, rl)
	if !starts[99].Equal(deadline) || !starts[0].Equal(deadline.Add(-99*12*time.Second)) {
		t.Fatalf("first %v last %v", starts[0], starts[99])
	}
	for i := 1; i < len(starts); i++ {
		if starts[i].Sub(starts[i-1]) < 12*time.Second || starts[i].After(deadlines[i]) {
			t.Fatalf("start %d at %v is too close to %v or after its deadline", i, starts[i], starts[i-1])
		}
	}
	spread := flows.PlanRevocations([]time.Time{t0, t0.Add(time.Hour)}, rl)
	if !spread[0].Equal(t0) || !spread[1].Equal(t0.Add(time.Hour)) {
		t.Fatalf("far-apart deadlines need no early start: %v", spread)
	}
}

func TestSweepStartsRevocationsEarlyUnderARateLimit(t *testing.T) {
	rl := flows.RateLimit{Capacity: 10, Refill: 5, Per: time.Minute}
	f := newFixture(t, func(s *flows.PolicySpec, c *flows.Config) {
		s.Flows[0].Requesters = []string{"*"}
		c.RateLimits = map[string]flows.RateLimit{"prod": rl}
	})
	var reqs []*flows.Request
	for i := range 20 {
		reqs = append(reqs, f.active(fmt.Sprintf("user%02d@example.com", i), "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com"))
	}
	deadline := reqs[0].ExpiresAt
	var deletedAt []time.Time
	f.prov.OnCall = func(op string, _ flows.Grant) {
		if op == "delete" {
			deletedAt = append(deletedAt, f.clock.Now())
		}
	}
	for now := deadline.Add(-10 * time.Minute); !now.After(deadline); now = now.Add(5 * time.Second) {
		f.sweepAt(now)
	}
	if len(deletedAt) != 20 {
		t.Fatalf("deleted %d of 20 by the deadline", len(deletedAt))
	}
	// Each revocation starts at the last tick before its planned start, so
	// all finish by the shared deadline.
	planned := flows.PlanRevocations(slices.Repeat([]time.Time{deadline}, 20), rl)
	for i, at := range deletedAt {
		if at.After(planned[i]) || at.Before(planned[i].Add(-5*time.Second)) {
			t.Fatalf("revocation %d at %v, want within the tick before %v", i, at, planned[i])
		}
	}
	for i := 1; i < len(deletedAt); i++ {
		if gap := deletedAt[i].Sub(deletedAt[i-1]); gap < 10*time.Second {
			t.Fatalf("revocations %d and %d only %v apart", i-1, i, gap)
		}
	}
}

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	live := f.active("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	gone := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
	denied := f.mustSubmit("erin@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if _, err := f.decide(denied.ID, "owner@example.com", false, "no"); err != nil {
		t.Fatal(err)
	}
	// An orphan of no request, one of a denied request, and a missing user.
	f.prov.AddUser(flows.Grant{Username: "jit-zed-zzzzzzzzzz", RequestID: "zzzzzzzzzz", Integration: "prod"})
	f.prov.AddUser(flows.Grant{Username: "jit-erin-" + denied.ID, RequestID: denied.ID, Integration: "prod"})
	if err := f.prov.Delete(f.ctx, flows.Grant{Username: gone.Username}); err != nil {
		t.Fatal(err)
	}
	reps, err := f.svc.Reconcile(f.ctx)
	if err != nil || len(reps) != 1 {
		t.Fatal(reps, err)
	}
	rep := reps[0]
	slices.Sort(rep.OrphansDeleted)
	if !slices.Equal(rep.OrphansDeleted, []string{"jit-erin-" + denied.ID, "jit-zed-zzzzzzzzzz"}) || !slices.Equal(rep.Missing, []string{gone.ID}) {
		t.Fatalf("report: %+v", rep)
	}
	if !slices.Equal(f.prov.Users(), []string{live.Username}) {
		t.Fatalf("users left: %v", f.prov.Users())
	}
	if n := len(f.notes.Of(flows.EventOrphanDeleted)); n != 2 {
		t.Fatalf("orphan notices: %d", n)
	}
	if n := f.notes.Of(flows.EventGrantMissing); len(n) != 1 || n[0].To[0] != "admin@example.com" {
		t.Fatalf("missing notice: %+v", n)
	}
}

func TestOptionsOfferOnlyWhatTheFlowsAllow(t *testing.T) {
	f := newFixture(t)
	describe := func(who string) []string {
		chs, err := f.svc.Options(f.ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range chs {
			out = append(out, c.Resource.String()+" "+strings.Join(c.Roles, ",")+" max "+flows.FormatDuration(c.MaxDuration))
		}
		return out
	}
	carol := describe("carol@example.com")
	want := []string{"prod/Cluster0/sales/customers read max 8h", "prod/Cluster0/sales/orders read max 4h", "prod/Untagged/ read max 8h"}
	if !slices.Equal(carol, want) {
		t.Fatalf("carol:\n got %q\nwant %q", carol, want)
	}
	alice := describe("alice@example.com")
	want = []string{
		"prod/Cluster0/sales/customers read,readWrite max 8h", "prod/Cluster0/sales/orders read,readWrite max 4h",
		"prod/Untagged/ read max 8h", "prod/Staging/ dbAdmin,read,readWrite max 4h",
	}
	if !slices.Equal(alice, want) {
		t.Fatalf("alice:\n got %q\nwant %q", alice, want)
	}
}

package flows_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
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
	secrets *flowstest.Secrets
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
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	svc, err := flows.NewService(cfg, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov}, Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
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
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: flows.ParseRoles(role), Duration: d, Reason: reason, Origin: "slack"})
}

func (f *fixture) mustSubmit(requester, resource, role string, d time.Duration) *flows.Request {
	f.t.Helper()
	r, err := f.submit(requester, resource, role, d, "INC-123 debugging")
	if err != nil {
		f.t.Fatalf("submit: %v", err)
	}
	return r
}

func (f *fixture) decide(id flows.RequestID, actor string, approve bool, reason string) (*flows.Request, error) {
	return f.svc.Decide(f.ctx, flows.DecideInput{RequestID: id, Actor: actor, Approve: approve, Reason: reason})
}

func (f *fixture) get(id flows.RequestID) *flows.Request {
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

func (f *fixture) eventTypes(id flows.RequestID) []flows.EventType {
	var out []flows.EventType
	for _, ev := range f.store.Events() {
		if ev.RequestID == id {
			out = append(out, ev.Type)
		}
	}
	return out
}

func (f *fixture) wantEvents(id flows.RequestID, want ...flows.EventType) {
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

func TestLifecycleFromRequestToExpiry(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", 2*time.Hour)
	f.clock.Advance(3 * time.Minute)
	approvedAt := f.clock.Now()
	r, err := f.decide(r.ID, "owner@example.com", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != flows.StateActive || r.Principal != "jit-carol-"+string(r.ID) {
		t.Fatalf("after approval: %+v", r)
	}
	if !r.ExpiresAt.Equal(approvedAt.Add(2*time.Hour)) || !r.BackstopAt.Equal(approvedAt.Add(3*time.Hour)) {
		t.Fatalf("the clock starts at activation: expires %v backstop %v", r.ExpiresAt, r.BackstopAt)
	}
	act := f.notes.Of(flows.EventActivated)
	kept := f.secrets.Kept(r.ID)
	if len(act) != 1 || !slices.Equal(act[0].To, []string{"carol@example.com"}) || len(kept) != 1 || !kept[0].Issued.Equal(r.CredentialsIssuedAt) {
		t.Fatalf("credentials: notices %+v, kept %+v", act, kept)
	}
	c := kept[0].Credentials
	user, _ := c.Field(flows.FieldUsername)
	password, _ := c.Field(flows.FieldPassword)
	if user.Value != r.Principal || password.Secret.IsZero() || !strings.Contains(c.Instructions, `mongosh "mongodb+srv://Cluster0.example.mongodb.net" --username `+r.Principal) {
		t.Fatalf("credentials: %+v", c)
	}
	for _, n := range f.notes.Notices() {
		if n.Credentials != nil {
			t.Fatalf("a notice carried credentials: %s", n.Event.Type)
		}
	}
	g, _ := f.prov.User(r.Principal)
	if g.Resource.Collection != "customers" || !slices.Equal(g.Roles, []string{"read"}) || g.RequestID != r.ID {
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

// readCounter counts the requests a service reads back one by one.
type readCounter struct {
	*flowstest.Store
	gets atomic.Int32
}

func (c *readCounter) Get(ctx context.Context, id flows.RequestID) (*flows.Request, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

// TestUseCasesAnswerWithTheRequestTheirStepsLeft: the internal steps
// (provision, revoke, moveBackstop) return the request they wrote, so a use
// case answers with the request as stored without reading it back; an
// approval click, say, goes to the credentials without one store read.
func TestUseCasesAnswerWithTheRequestTheirStepsLeft(t *testing.T) {
	f := newFixture(t)
	reads := &readCounter{Store: f.store}
	svc, err := flows.NewService(flows.Config{Policy: f.svc.Policy()}, flows.Deps{
		Store: reads, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov}, Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got *flows.Request, err error, want flows.State) {
		t.Helper()
		if err != nil || got.State != want {
			t.Fatalf("%s: %v %v, want %s", what, got, err, want)
		}
		if n := reads.gets.Swap(0); n != 0 {
			t.Errorf("%s read the request back %d times", what, n)
		}
		if stored := f.get(got.ID); !reflect.DeepEqual(got, stored) {
			t.Errorf("%s answered\n%+v\nthe store holds\n%+v", what, got, stored)
		}
	}
	res, _ := flows.ParseResource("prod/Staging/app")
	got, err := svc.Submit(f.ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: res, Roles: []string{"readWrite"}, Duration: 30 * time.Minute})
	check("an auto-approved submit", got, err, flows.StateActive)

	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	got, err = svc.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true})
	check("an approval", got, err, flows.StateActive)
	f.clock.Advance(10 * time.Minute)
	got, err = svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
	check("an extension", got, err, flows.StateActive)
	if !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) {
		t.Errorf("the extension answered before the backstop moved: expires %s, backstop %s", got.ExpiresAt, got.BackstopAt)
	}
	got, err = svc.Revoke(f.ctx, r.ID, "carol@example.com", "done")
	check("a revocation", got, err, flows.StateRevoked)

	// An extension that needs approval moves the backstop when approved.
	r = f.active("dave@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	if _, err := svc.Extend(f.ctx, r.ID, "dave@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}
	reads.gets.Store(0)
	got, err = svc.Decide(f.ctx, flows.DecideInput{RequestID: r.ID, Actor: "owner@example.com", Approve: true, Extension: 1})
	check("an approved extension", got, err, flows.StateActive)
	if !got.BackstopAt.Equal(got.ExpiresAt.Add(time.Hour)) {
		t.Errorf("the approved extension answered before the backstop moved: expires %s, backstop %s", got.ExpiresAt, got.BackstopAt)
	}
}

package atlas

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// The people of the acme organization in the Atlas UI access tests.
const (
	carol   = "carol@example.com" // a member of payments-prod (GROUP_READ_ONLY)
	dave    = "dave@example.com"  // in the organization, in no project
	pending = "pat@example.com"   // invited, not accepted yet
	eve     = "eve@example.com"   // not in the organization
	lead    = "payments-leads@example.com"
	admins  = "admin@example.com"
	boss    = "boss@example.com" // an organization owner acting in the Atlas UI
)

// uiRoles are the least privilege of Atlas UI access to projects: the
// organization's users, projects and events (Organization Read Only) and
// their project memberships (Project Access Manager), beside database users.
var uiRoles = []string{atlastest.RoleOrgReadOnly, "GROUP_ACCESS_MANAGER", atlastest.RoleDatabaseAccessAdmin}

// uiPeople puts the acme organization in place, with its people.
func uiPeople(t testing.TB) func(srv *atlastest.Server) {
	return func(srv *atlastest.Server) {
		acme(srv)
		for _, u := range []atlastest.OrgUser{
			{Username: carol, ProjectRoles: map[string][]string{paymentsID: {atlastest.RoleReadOnly}}},
			{Username: dave},
			{Username: pending, Pending: true},
			{Username: boss, OrgRoles: []string{atlastest.RoleOrgOwner}},
		} {
			if _, err := srv.AddOrgUser(orgID, u); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// uiPolicy has flows of Atlas UI access on acme: project roles in the
// projects tagged env=prod, a standing-access role opted into on
// payments-prod, and organization roles.
func uiPolicy(t testing.TB) *flows.Policy {
	t.Helper()
	p, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{admins},
		Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: orgID, Owners: []string{"org-leads@example.com"}}},
		Flows: []flows.FlowSpec{
			{Name: "ui-prod", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY", "GROUP_CLUSTER_MANAGER"},
				MaxDuration: "4h", Approvers: []string{"owners"}, RequireReason: true},
			{Name: "ui-db-admin", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"payments-prod"}, Roles: []string{"GROUP_DATABASE_ACCESS_ADMIN"},
				AllowStandingAccess: []string{"GROUP_DATABASE_ACCESS_ADMIN"}, MaxDuration: "2h", Approvers: []string{"owners"}},
			{Name: "ui-org", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"},
				MaxDuration: "2h", Approvers: []string{"integration-owners"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// uiEnv is the simulator with acme and its people, a store, and a
// flows.Service over the database-user and Atlas UI provisioners. crash, when
// armed, makes the next matching Atlas call the last thing this process
// does.
type uiEnv struct {
	*env
	store   *flowstest.Store
	notes   *flowstest.Notifier
	secrets *flowstest.Secrets
	svc     *flows.Service
	ui      *UIAccess
	crash   *crasher
	policy  *flows.Policy
}

func newUIEnv(t *testing.T, roles ...string) *uiEnv {
	t.Helper()
	if roles == nil {
		roles = uiRoles
	}
	cr := &crasher{next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(cr.next.(*http.Transport).CloseIdleConnections)
	e := newOrgEnv(t, uiPeople(t), withRoles(roles...), withConfig(func(cfg *Config) { cfg.Transport = cr }))
	u := &uiEnv{env: e, store: flowstest.NewStore(), crash: cr, policy: uiPolicy(t)}
	u.restart(e.prov)
	return u
}

// restart is a new jitbot process over the same store: a new service, and
// UIAccess over prov.
func (u *uiEnv) restart(prov *Provisioner) {
	u.t.Helper()
	u.ui = NewUIAccess(prov, UIConfig{})
	u.notes, u.secrets = &flowstest.Notifier{}, &flowstest.Secrets{}
	svc, err := flows.NewService(flows.Config{Policy: u.policy}, flows.Deps{
		Store: u.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov, flows.KindAtlasUI: u.ui},
		Catalog: prov.Catalog(), Secrets: u.secrets, Notifier: u.notes, Clock: u.clock,
	})
	if err != nil {
		u.t.Fatal(err)
	}
	u.svc = svc
}

// newProvisioner is a provisioner of a process started afresh, on the
// same simulator.
func (u *uiEnv) newProvisioner() *Provisioner {
	u.t.Helper()
	p, err := New(u.ctx, Config{
		Clock: u.clock, Sleep: u.sleeps.sleep, Transport: u.crash,
		Log: slog.New(slog.NewJSONHandler(u.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Integrations: []Integration{{Name: "acme", OrganizationID: orgID,
			API: API{BaseURL: u.srv.URL(), ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret}}},
	})
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(p.Close)
	return p
}

// ask submits a request of Atlas UI access.
func (u *uiEnv) ask(who, target, roles string) (*flows.Request, error) {
	t, err := flows.ParseUITarget(target)
	if err != nil {
		return nil, err
	}
	return u.svc.Submit(u.ctx, flows.SubmitInput{Requester: who, Kind: flows.KindAtlasUI, Resource: t, Roles: flows.ParseRoles(roles),
		Duration: time.Hour, Reason: "INC-1", Origin: "slack"})
}

// granted submits a request and has it approved; it must become active.
func (u *uiEnv) granted(who, target, roles string) *flows.Request {
	u.t.Helper()
	r, err := u.ask(who, target, roles)
	if err != nil {
		u.t.Fatalf("Submit %s %s: %v", target, roles, err)
	}
	if r.State != flows.StatePending || len(r.Approvers) == 0 {
		u.t.Fatalf("submitted: %s, approvers %v", r.State, r.Approvers)
	}
	r, err = u.svc.Decide(u.ctx, flows.DecideInput{RequestID: r.ID, Actor: r.Approvers[0], Approve: true})
	if err != nil || r.State != flows.StateActive {
		u.t.Fatalf("Decide: %+v, %v", r, err)
	}
	return r
}

// expire lets the clock reach r's expiry and sweeps.
func (u *uiEnv) expire(r *flows.Request) *flows.Request {
	u.t.Helper()
	u.clock.Set(r.ExpiresAt)
	if _, err := u.svc.Sweep(u.ctx, r.ExpiresAt); err != nil {
		u.t.Fatalf("Sweep: %v", err)
	}
	got, err := u.store.Get(u.ctx, r.ID)
	if err != nil || got.State != flows.StateExpired {
		u.t.Fatalf("after expiry: %+v, %v", got, err)
	}
	return got
}

func (u *uiEnv) wantProjectRoles(who string, want ...string) {
	u.t.Helper()
	got := u.srv.ProjectRoles(paymentsID, who)
	if !sameRoles(got, want) {
		u.t.Fatalf("%s's roles in payments-prod: %v, want %v", who, got, want)
	}
}

func sameRoles(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// findings returns the messages of the grant findings told to the admins.
func (u *uiEnv) findings() []string {
	var out []string
	for _, n := range u.notes.Of(flows.EventGrantFinding) {
		if !slices.Equal(n.To, []string{admins}) {
			u.t.Fatalf("a finding went to %v, not to the admins", n.To)
		}
		out = append(out, n.Event.Message)
	}
	return out
}

// reconciled runs reconcile and returns what it removed of Atlas UI access.
func (u *uiEnv) reconciled() []string {
	u.t.Helper()
	reps, err := u.svc.Reconcile(u.ctx)
	if err != nil {
		u.t.Fatal(err)
	}
	var out []string
	for _, rep := range reps {
		if len(rep.Errors) > 0 {
			u.t.Fatalf("reconcile %s: %v", rep.Kind, rep.Errors)
		}
		if rep.Kind == flows.KindAtlasUI {
			out = append(out, rep.OrphansDeleted...)
		}
	}
	return out
}

// crasher is the base transport of a process that dies right after Atlas
// answers the matching call (or right before it is sent): it panics with
// errCrash, which the test recovers as the process's end.
type crasher struct {
	next http.RoundTripper

	mu     sync.Mutex
	method string
	suffix string // of the path: "/users", ":addRole", ":removeRole"
	before bool
}

type crash struct{}

func (c *crasher) arm(method, suffix string, before bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.method, c.suffix, c.before = method, suffix, before
}

func (c *crasher) fire(req *http.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.suffix == "" || req.Method != c.method || !strings.HasSuffix(req.URL.Path, c.suffix) || !strings.Contains(req.URL.Path, "/users") {
		return false
	}
	c.suffix = "" // one crash per arming
	return true
}

func (c *crasher) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	before := c.before
	c.mu.Unlock()
	if before && c.fire(req) {
		panic(crash{})
	}
	resp, err := c.next.RoundTrip(req)
	if !before && err == nil && resp.StatusCode < 300 && c.fire(req) {
		resp.Body.Close()
		panic(crash{})
	}
	return resp, err
}

// crashes runs fn, which must end in a crash.
func crashes(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if _, ok := recover().(crash); !ok {
			t.Fatal("the process did not crash")
		}
	}()
	fn()
}

// TestUIAccessAddsARoleAndKeepsWhatWasHeld: a member of the project gets a
// role for the grant and loses it at the end, keeping the role they held,
// which the request also named; one call adds, one removes.
func TestUIAccessAddsARoleAndKeepsWhatWasHeld(t *testing.T) {
	u := newUIEnv(t)
	u.srv.ResetCalls()
	r := u.granted(carol, "acme/payments-prod", "GROUP_READ_ONLY,GROUP_CLUSTER_MANAGER")
	if r.Approvers[0] != lead || r.Resource.ProjectID != paymentsID || r.Principal != carol {
		t.Fatalf("routed to %v, project %q, principal %q", r.Approvers, r.Resource.ProjectID, r.Principal)
	}
	u.wantProjectRoles(carol, "GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER")
	u.wantCalls(map[string]int{"addGroupUserRole": 1, "addGroupUsers": 0})
	creds := u.secretsOf(r)
	if field(creds, "roles_added") != "GROUP_CLUSTER_MANAGER" || field(creds, "roles_held") != "GROUP_READ_ONLY" ||
		field(creds, "atlas_user") != carol || field(creds, "project") != "payments-prod" || len(creds.Secrets()) != 0 {
		t.Fatalf("credentials: %+v", creds)
	}
	st, err := readState(r.GrantState)
	if err != nil || !st.Member || !slices.Equal(st.Before, []string{"GROUP_READ_ONLY"}) || !slices.Equal(st.Adding, []string{"GROUP_CLUSTER_MANAGER"}) {
		t.Fatalf("recorded %+v, %v", st, err)
	}

	if _, err := u.svc.Rotate(u.ctx, r.ID, carol); flows.ErrorCode(err) != flows.EINVALID ||
		!strings.Contains(flows.ErrorMessage(err), "grants Atlas UI access, which has no secret to replace") {
		t.Fatalf("Rotate: %v", err)
	}

	// The reminder comes, then the grant expires.
	u.clock.Set(r.RemindAt)
	if _, err := u.svc.Sweep(u.ctx, r.RemindAt); err != nil || len(u.notes.Of(flows.EventReminder)) != 1 {
		t.Fatalf("reminder: %v, %d", err, len(u.notes.Of(flows.EventReminder)))
	}
	u.expire(r)
	u.wantProjectRoles(carol, "GROUP_READ_ONLY")
	u.wantCalls(map[string]int{"removeGroupUserRole": 1, "removeGroupUser": 0, "addGroupUsers": 0})
	if f := u.findings(); len(f) != 0 {
		t.Fatalf("findings: %v", f)
	}
	if got := u.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}
	u.noViolations()
}

func (u *uiEnv) secretsOf(r *flows.Request) flows.Credentials {
	u.t.Helper()
	// The service handed the credentials to its secret keeper; the notice of
	// activation names the request they belong to.
	for _, n := range u.notes.Of(flows.EventActivated) {
		if n.Request.ID == r.ID {
			if c, ok := u.secrets.Lookup(r.ID, n.Event.At); ok {
				return c
			}
		}
	}
	u.t.Fatalf("no credentials for %s", r.ID)
	return flows.Credentials{}
}

// TestUIAccessAddsANonMemberAndRemovesThem: a person in no project is added
// to it with the roles (one call), keeps them through an extension, and is
// removed from the project when they revoke early (one call).
func TestUIAccessAddsANonMemberAndRemovesThem(t *testing.T) {
	u := newUIEnv(t)
	u.srv.ResetCalls()
	r := u.granted(dave, "acme/payments-prod", "GROUP_READ_ONLY,GROUP_DATA_ACCESS_READ_ONLY")
	u.wantProjectRoles(dave, "GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY")
	u.wantCalls(map[string]int{"addGroupUsers": 1, "addGroupUserRole": 0})

	u.clock.Advance(30 * time.Minute)
	ext, err := u.svc.Extend(u.ctx, r.ID, dave, time.Hour)
	if err != nil || !ext.ExpiresAt.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("Extend: %+v, %v", ext, err)
	}
	u.wantProjectRoles(dave, "GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY")

	r, err = u.svc.Revoke(u.ctx, r.ID, dave, "done")
	if err != nil || r.State != flows.StateRevoked {
		t.Fatalf("Revoke: %+v, %v", r, err)
	}
	u.wantProjectRoles(dave)
	u.wantCalls(map[string]int{"removeGroupUser": 1, "removeGroupUserRole": 0})
	if got := u.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}
	u.noViolations()
}

// TestUIAccessKeepsARoleSomeoneElseGave: an organization owner gives the
// person, in the Atlas UI and during the grant, a role the grant gave too:
// at the end jitbot removes the other role, keeps that one, and tells the
// admins who gave it.
func TestUIAccessKeepsARoleSomeoneElseGave(t *testing.T) {
	u := newUIEnv(t)
	r := u.granted(dave, "acme/payments-prod", "GROUP_READ_ONLY,GROUP_CLUSTER_MANAGER")
	u.clock.Advance(10 * time.Minute)
	// Making the role a standing one: taken and given back by the owner.
	if err := u.srv.AsUser(boss, paymentsID, dave, nil, []string{"GROUP_CLUSTER_MANAGER"}); err != nil {
		t.Fatal(err)
	}
	if err := u.srv.AsUser(boss, paymentsID, dave, []string{"GROUP_CLUSTER_MANAGER"}, nil); err != nil {
		t.Fatal(err)
	}
	u.expire(r)
	u.wantProjectRoles(dave, "GROUP_CLUSTER_MANAGER")
	f := u.findings()
	if len(f) != 1 || !strings.Contains(f[0], "jitbot kept GROUP_CLUSTER_MANAGER of dave@example.com in project payments-prod") ||
		!strings.Contains(f[0], "given by boss@example.com") {
		t.Fatalf("findings: %q", f)
	}
	got, _ := u.store.Get(u.ctx, r.ID)
	if st, _ := readState(got.GrantState); !slices.Equal(st.Kept, []string{"GROUP_CLUSTER_MANAGER"}) || !slices.Equal(st.Removing, []string{"GROUP_READ_ONLY"}) {
		t.Fatalf("recorded %+v", st)
	}
	// The role is the owner's now: reconcile leaves it.
	if got := u.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}
	u.wantProjectRoles(dave, "GROUP_CLUSTER_MANAGER")
	u.noViolations()
}

// TestUIAccessRefusals: owner roles are never granted, a person without an
// Atlas account (or with an invitation not accepted) is told what to ask
// for, and one who holds the roles already is told there is nothing to do;
// nobody is asked to approve any of them.
func TestUIAccessRefusals(t *testing.T) {
	u := newUIEnv(t)
	tests := []struct {
		name, who, target, roles string
		code                     flows.Code
		text                     string
	}{
		{"a project owner", carol, "acme/payments-prod", "GROUP_OWNER", flows.EINVALID, "GROUP_OWNER is an owner role: jitbot never grants it"},
		{"an organization owner", carol, "acme", "ORG_OWNER", flows.EINVALID, "ORG_OWNER is an owner role: jitbot never grants it"},
		{"no Atlas account", eve, "acme/payments-prod", "GROUP_READ_ONLY", flows.EFORBIDDEN,
			"eve@example.com has no Atlas account in the organization of acme: Atlas UI access is given to your own Atlas account, found by your email. " +
				"Ask an owner of the Atlas organization to invite eve@example.com to it, accept the invitation, then ask again"},
		{"an invitation not accepted", pending, "acme/payments-prod", "GROUP_READ_ONLY", flows.EFORBIDDEN, "has not been accepted yet"},
		{"held already", carol, "acme/payments-prod", "GROUP_READ_ONLY", flows.ECONFLICT, "carol@example.com holds GROUP_READ_ONLY in project payments-prod already"},
		{"a standing-access role where no flow opts in", carol, "acme/search-dev", "GROUP_DATABASE_ACCESS_ADMIN", flows.EFORBIDDEN, "the access flows that cover acme/search-dev offer you no role that applies to it (ui-org)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := u.ask(tt.who, tt.target, tt.roles)
			if flows.ErrorCode(err) != tt.code || !strings.Contains(flows.ErrorMessage(err), tt.text) {
				t.Fatalf("want %s %q, got %v", tt.code, tt.text, err)
			}
		})
	}
	if n := len(u.notes.Notices()); n != 0 {
		t.Fatalf("refused requests told %d people", n)
	}
	u.wantCalls(map[string]int{"addGroupUsers": 0, "addGroupUserRole": 0})

	// The account vanishes between the request and its approval: the grant
	// fails, saying why, and Atlas is left as it was.
	r, err := u.ask(dave, "acme/payments-prod", "GROUP_READ_ONLY")
	if err != nil {
		t.Fatal(err)
	}
	u.srv.RemoveOrgUser(orgID, dave)
	r, err = u.svc.Decide(u.ctx, flows.DecideInput{RequestID: r.ID, Actor: lead, Approve: true})
	if err != nil || r.State != flows.StateFailed || !strings.Contains(r.LastError, "dave@example.com has no Atlas account") {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	u.noViolations()
}

// TestUIAccessStandingAccessRole: a role that lets a person create standing
// access, offered by a flow that opts in by name, is granted; at its end the
// admins learn what the person created meanwhile (and nothing of what
// others did, or of what came before).
func TestUIAccessStandingAccessRole(t *testing.T) {
	u := newUIEnv(t)
	if err := u.srv.RecordUserEvent(atlastest.UserEvent{ProjectID: paymentsID, Type: atlastest.EventDatabaseUserAdded, Username: carol, DBUser: "before-the-grant"}); err != nil {
		t.Fatal(err)
	}
	u.clock.Advance(5 * time.Minute)
	r := u.granted(carol, "acme/payments-prod", "GROUP_DATABASE_ACCESS_ADMIN")
	u.wantProjectRoles(carol, "GROUP_READ_ONLY", "GROUP_DATABASE_ACCESS_ADMIN")
	u.clock.Advance(5 * time.Minute)
	for _, e := range []atlastest.UserEvent{
		{ProjectID: paymentsID, Type: atlastest.EventDatabaseUserAdded, Username: carol, DBUser: "app-reporting"},
		{ProjectID: paymentsID, Type: atlastest.EventAccessListEntryAdded, Username: carol, AccessListEntry: "0.0.0.0/0"},
		{ProjectID: paymentsID, Type: atlastest.EventDatabaseUserAdded, Username: boss, DBUser: "boss-made-this"},
	} {
		if err := u.srv.RecordUserEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	u.expire(r)
	u.wantProjectRoles(carol, "GROUP_READ_ONLY")
	f := u.findings()
	if len(f) != 1 {
		t.Fatalf("findings: %q", f)
	}
	for _, want := range []string{"carol@example.com held GROUP_DATABASE_ACCESS_ADMIN in project payments-prod", "database user app-reporting", "IP access-list entry 0.0.0.0/0", "review them in Atlas"} {
		if !strings.Contains(f[0], want) {
			t.Errorf("the report does not say %q: %s", want, f[0])
		}
	}
	for _, not := range []string{"boss-made-this", "before-the-grant"} {
		if strings.Contains(f[0], not) {
			t.Errorf("the report names %s: %s", not, f[0])
		}
	}

	// A grant in which nothing was made says so.
	r = u.granted(carol, "acme/payments-prod", "GROUP_DATABASE_ACCESS_ADMIN")
	u.expire(r)
	if f := u.findings(); len(f) != 2 || !strings.Contains(f[1], "created nothing of the kind") {
		t.Fatalf("findings: %q", f)
	}
	u.noViolations()
}

// TestUIAccessOrganizationRoles: an organization role is added for the
// grant and removed at its end; the integration's credential must be an
// Organization Owner for it (addOrgRole).
func TestUIAccessOrganizationRoles(t *testing.T) {
	u := newUIEnv(t, atlastest.RoleOrgOwner)
	u.srv.ResetCalls()
	r := u.granted(dave, "acme", "ORG_READ_ONLY,ORG_BILLING_READ_ONLY")
	if r.Approvers[0] != "org-leads@example.com" {
		t.Fatalf("approvers %v", r.Approvers)
	}
	if got := u.srv.OrgRoles(orgID, dave); !sameRoles(got, []string{"ORG_MEMBER", "ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"}) {
		t.Fatalf("organization roles: %v", got)
	}
	creds := u.secretsOf(r)
	if field(creds, "organization") != "the Atlas organization of acme" || field(creds, "roles_added") != "ORG_BILLING_READ_ONLY,ORG_READ_ONLY" {
		t.Fatalf("credentials: %+v", creds)
	}
	u.expire(r)
	if got := u.srv.OrgRoles(orgID, dave); !slices.Equal(got, []string{"ORG_MEMBER"}) {
		t.Fatalf("organization roles after: %v", got)
	}
	u.wantCalls(map[string]int{"addOrgRole": 2, "removeOrgRole": 2})
	if got := u.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}

	// Without Organization Owner, Atlas refuses and the grant fails, saying
	// which roles the credential lacks.
	v := newUIEnv(t)
	r, err := v.ask(dave, "acme", "ORG_READ_ONLY")
	if err != nil {
		t.Fatal(err)
	}
	r, err = v.svc.Decide(v.ctx, flows.DecideInput{RequestID: r.ID, Actor: r.Approvers[0], Approve: true})
	if err != nil || r.State != flows.StateFailed || !strings.Contains(r.LastError, "its credential needs Organization Owner") {
		t.Fatalf("without the role: %+v, %v", r, err)
	}
	if got := v.srv.OrgRoles(orgID, dave); !slices.Equal(got, []string{"ORG_MEMBER"}) {
		t.Fatalf("organization roles: %v", got)
	}
}

// TestUIAccessReconcileRemovesALeftover: a role jitbot gave (the event log
// says so) for which no live grant speaks, as a grant whose request is lost
// leaves, is removed by reconcile and the admins told; a live grant's role
// stays.
func TestUIAccessReconcileRemovesALeftover(t *testing.T) {
	u := newUIEnv(t)
	live := u.granted(carol, "acme/payments-prod", "GROUP_CLUSTER_MANAGER")
	lost := flows.Grant{RequestID: "lost000001", Kind: flows.KindAtlasUI, Integration: "acme", Requester: dave, Principal: dave,
		Resource: flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: paymentsID}, Roles: []string{"GROUP_READ_ONLY"}}
	if _, err := u.ui.Create(u.ctx, lost); err != nil {
		t.Fatal(err)
	}
	u.wantProjectRoles(dave, "GROUP_READ_ONLY")
	got := u.reconciled()
	if !slices.Equal(got, []string{"GROUP_READ_ONLY of dave@example.com in project payments-prod"}) {
		t.Fatalf("reconcile removed %q", got)
	}
	u.wantProjectRoles(dave)
	u.wantProjectRoles(carol, "GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER")
	told := u.notes.Of(flows.EventOrphanDeleted)
	if len(told) != 1 || !slices.Equal(told[0].To, []string{admins}) || !strings.Contains(told[0].Event.Message, "no live grant explains it") {
		t.Fatalf("told %+v", told)
	}
	u.expire(live)
	u.wantProjectRoles(carol, "GROUP_READ_ONLY")
	u.noViolations()
}

// daveID is the id the simulator gives dave's account.
const daveID = "527ac85b982aba70884ebe09"

// TestUIAccessSurvivesCrashes: the process dies right before or right
// after each kind of Atlas call of a grant; a new process over the same
// store resumes, the grant goes on to its end, and Atlas holds exactly
// what it held before.
func TestUIAccessSurvivesCrashes(t *testing.T) {
	tests := []struct {
		name, who, roles string
		method, suffix   string
		before, ending   bool
	}{
		{"after the first of two roles", carol, "GROUP_CLUSTER_MANAGER,GROUP_DATA_ACCESS_READ_ONLY", http.MethodPost, ":addRole", false, false},
		{"before the first role", carol, "GROUP_CLUSTER_MANAGER,GROUP_DATA_ACCESS_READ_ONLY", http.MethodPost, ":addRole", true, false},
		{"after adding to the project", dave, "GROUP_READ_ONLY", http.MethodPost, "/users", false, false},
		{"before adding to the project", dave, "GROUP_READ_ONLY", http.MethodPost, "/users", true, false},
		{"after the first removal", carol, "GROUP_CLUSTER_MANAGER,GROUP_DATA_ACCESS_READ_ONLY", http.MethodPost, ":removeRole", false, true},
		{"before the first removal", carol, "GROUP_CLUSTER_MANAGER,GROUP_DATA_ACCESS_READ_ONLY", http.MethodPost, ":removeRole", true, true},
		{"after removing from the project", dave, "GROUP_READ_ONLY,GROUP_CLUSTER_MANAGER", http.MethodDelete, "/users/" + daveID, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUIEnv(t)
			if a, _ := u.srv.OrgUser(orgID, dave); a.ID != daveID {
				t.Fatalf("dave's id is %s", a.ID)
			}
			before := u.srv.ProjectRoles(paymentsID, tt.who)
			var r *flows.Request
			if tt.ending {
				r = u.granted(tt.who, "acme/payments-prod", tt.roles)
				u.crash.arm(tt.method, tt.suffix, tt.before)
				crashes(t, func() { _, _ = u.svc.Revoke(u.ctx, r.ID, tt.who, "") })
			} else {
				var err error
				if r, err = u.ask(tt.who, "acme/payments-prod", tt.roles); err != nil {
					t.Fatal(err)
				}
				u.crash.arm(tt.method, tt.suffix, tt.before)
				crashes(t, func() { _, _ = u.svc.Decide(u.ctx, flows.DecideInput{RequestID: r.ID, Actor: lead, Approve: true}) })
			}

			u.restart(u.newProvisioner())
			if n, err := u.svc.Resume(u.ctx); err != nil || n != 1 {
				t.Fatalf("Resume: %d, %v", n, err)
			}
			got, _ := u.store.Get(u.ctx, r.ID)
			if tt.ending {
				if got.State != flows.StateRevoked {
					t.Fatalf("after resuming: %s (%s)", got.State, got.LastError)
				}
			} else {
				if got.State != flows.StateActive {
					t.Fatalf("after resuming: %s (%s)", got.State, got.LastError)
				}
				u.wantProjectRoles(tt.who, append(slices.Clone(before), flows.ParseRoles(tt.roles)...)...)
				u.expire(got)
			}
			u.wantProjectRoles(tt.who, before...)
			if got := u.reconciled(); len(got) != 0 {
				t.Fatalf("reconcile removed %v", got)
			}
			if f := u.findings(); len(f) != 0 {
				t.Fatalf("findings: %q", f)
			}
		})
	}
}

// TestUIAccessInAnIntegrationOfOneProject: the target is the integration,
// its project the one of the roles; the organization is found once
// (getGroup).
func TestUIAccessInAnIntegrationOfOneProject(t *testing.T) {
	e := newEnv(t, withRoles(atlastest.RoleOrgMember, "GROUP_ACCESS_MANAGER", atlastest.RoleDatabaseAccessAdmin))
	if _, err := e.srv.AddOrgUser(atlastest.DefaultOrgID, atlastest.OrgUser{Username: dave}); err != nil {
		t.Fatal(err)
	}
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{lead}}},
		Flows: []flows.FlowSpec{{Name: "ui", Kind: string(flows.KindAtlasUI), Integration: "prod", Requesters: []string{"*"},
			Resources: []string{"*"}, Roles: []string{"GROUP_READ_ONLY"}, Approvers: []string{"integration-owners"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := flowstest.NewStore()
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: e.prov, flows.KindAtlasUI: NewUIAccess(e.prov, UIConfig{})},
		Catalog: e.prov.Catalog(), Secrets: &flowstest.Secrets{}, Clock: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(e.ctx, flows.SubmitInput{Requester: dave, Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "prod"},
		Roles: []string{"GROUP_READ_ONLY"}, Reason: "INC-2"})
	if err != nil || r.Resource.ProjectID != projectID {
		t.Fatalf("Submit: %+v, %v", r, err)
	}
	if r, err = svc.Decide(e.ctx, flows.DecideInput{RequestID: r.ID, Actor: lead, Approve: true}); err != nil || r.State != flows.StateActive {
		t.Fatalf("Decide: %+v, %v", r, err)
	}
	if got := e.srv.ProjectRoles(projectID, dave); !slices.Equal(got, []string{"GROUP_READ_ONLY"}) {
		t.Fatalf("roles: %v", got)
	}
	if r, err = svc.Revoke(e.ctx, r.ID, dave, ""); err != nil || r.State != flows.StateRevoked {
		t.Fatalf("Revoke: %+v, %v", r, err)
	}
	if got := e.srv.ProjectRoles(projectID, dave); len(got) != 0 {
		t.Fatalf("roles after: %v", got)
	}
	e.wantCalls(map[string]int{"getGroup": 1, "addGroupUsers": 1, "removeGroupUser": 1})
	reps, err := svc.Reconcile(e.ctx)
	if err != nil || len(reps) != 2 || len(reps[1].Errors) != 0 || len(reps[1].OrphansDeleted) != 0 {
		t.Fatalf("Reconcile: %+v, %v", reps, err)
	}
	e.noViolations()
}

// TestUIAccessLeavesEveryMemberARole: someone takes away, during the grant,
// the role the person held before; jitbot's is then their last, which Atlas
// will not remove (CANNOT_REMOVE_LAST_ROLE): jitbot removes them from the
// project instead, and tells the admins.
func TestUIAccessLeavesEveryMemberARole(t *testing.T) {
	u := newUIEnv(t)
	r := u.granted(carol, "acme/payments-prod", "GROUP_CLUSTER_MANAGER")
	u.clock.Advance(time.Minute)
	if err := u.srv.AsUser(boss, paymentsID, carol, nil, []string{"GROUP_READ_ONLY"}); err != nil {
		t.Fatal(err)
	}
	u.srv.ResetCalls()
	u.expire(r)
	u.wantProjectRoles(carol)
	u.wantCalls(map[string]int{"removeGroupUser": 1, "removeGroupUserRole": 0})
	f := u.findings()
	if len(f) != 1 || !strings.Contains(f[0], "carol@example.com was a member of project payments-prod before request "+string(r.ID)) {
		t.Fatalf("findings: %q", f)
	}
	u.noViolations()
}

// TestAccountGoneByStatus reads a 404 about the account by its status, not
// by the simulator's codes, which the spec does not name: only the codes
// of a missing project or organization (or an unknown resource) say it is
// not the account that is gone.
func TestAccountGoneByStatus(t *testing.T) {
	for code, want := range map[string]bool{
		"USER_NOT_FOUND": true, "USER_NOT_IN_GROUP": true, "NOT_IN_GROUP": true, "": true,
		"GROUP_NOT_FOUND": false, "ORG_NOT_FOUND": false, "RESOURCE_NOT_FOUND": false,
	} {
		err := fmt.Errorf("wrapped: %w", &callError{Op: "removeGroupUserRole", Status: http.StatusNotFound, Code: code, Err: errors.New("404")})
		if got := accountGone(err); got != want {
			t.Errorf("404 %q: accountGone %v, want %v", code, got, want)
		}
	}
	if accountGone(&callError{Op: "getOrgUser", Status: http.StatusConflict, Code: "USER_NOT_FOUND", Err: errors.New("409")}) || accountGone(nil) {
		t.Error("only a 404 says the account is gone")
	}
}

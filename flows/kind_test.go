package flows_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// tokenFlow grants the test-only token kind on Cluster0, approved by its owner.
func tokenFlow() flows.FlowSpec {
	return flows.FlowSpec{Name: "tokens", Kind: string(flowstest.KindToken), Integration: "prod", Requesters: []string{"*"},
		Resources: []string{"Cluster0"}, Roles: []string{"use", "admin"}, MaxDuration: "4h", Approvers: []string{"owners"}}
}

// newTokenFixture is newFixture with the token kind beside the database
// user: its flow in the policy and prov (the token provisioner, or a view of
// it with fewer capabilities) registered for it. The service logs to logs,
// when given.
func newTokenFixture(t *testing.T, prov flows.Provisioner, cfg flows.Config, logs *bytes.Buffer) *fixture {
	t.Helper()
	spec := testPolicy()
	spec.Flows = append(spec.Flows, tokenFlow())
	policy, err := flows.Compile(spec, flowstest.TokenKind())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy = policy
	f := &fixture{
		t: t, ctx: t.Context(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	deps := flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov, flowstest.KindToken: prov},
		Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
	}
	if logs != nil {
		deps.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.svc, err = flows.NewService(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) submitToken(requester, target string, roles ...string) (*flows.Request, error) {
	f.t.Helper()
	res, err := flowstest.TokenKind().ParseTarget(target)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Kind: flowstest.KindToken, Resource: res, Roles: roles,
		Duration: 2 * time.Hour, Reason: "INC-9", Origin: "slack"})
}

// TestAKindWithoutBackstopOrApplyWait: a grant of the token kind lives its
// whole life through the same service, which uses only the capabilities its
// provisioner has: no wait for APPLIED, no backstop set or moved; the
// extension reaches the provisioner (Extender), a rotation gives a new token
// (Reissuer), expiry deletes it.
func TestAKindWithoutBackstopOrApplyWait(t *testing.T) {
	tokens := flowstest.NewTokenProvisioner()
	var logs bytes.Buffer
	f := newTokenFixture(t, tokens, flows.Config{}, &logs)
	r, err := f.submitToken("carol@example.com", "prod/Cluster0", "use")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != flowstest.KindToken || r.Flow != "tokens" || !slices.Equal(r.Approvers, []string{"owner@example.com"}) {
		t.Fatalf("submitted: kind %s flow %s approvers %v", r.Kind, r.Flow, r.Approvers)
	}
	r, err = f.decide(r.ID, "owner@example.com", true, "")
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("approve: %v %v", r, err)
	}
	if r.Principal != "tok-"+string(r.ID) || !r.BackstopAt.IsZero() || !r.BackstopRefreshAt.IsZero() {
		t.Fatalf("active: principal %q backstop %v refresh %v", r.Principal, r.BackstopAt, r.BackstopRefreshAt)
	}
	kept := f.secrets.Kept(r.ID)
	if len(kept) != 1 {
		t.Fatalf("credentials kept: %+v", kept)
	}
	creds := kept[0].Credentials
	first, _ := creds.Field("token")
	if !tokens.Works(r.Principal, first.Secret.Reveal()) || creds.Instructions != "Send it in the Authorization header: Bearer <token>." {
		t.Fatalf("credentials: %+v (instructions %q)", creds, creds.Instructions)
	}
	if g, _ := tokens.Token(r.Principal); g.Kind != flowstest.KindToken || !slices.Equal(g.Roles, []string{"use"}) || g.Resource.String() != "prod/Cluster0" {
		t.Fatalf("grant: %+v", g)
	}

	if rep := f.sweepAt(r.ExpiresAt.Add(-15 * time.Minute)); rep.Reminded != 1 {
		t.Fatalf("reminder: %+v", rep)
	}
	f.clock.Advance(time.Minute)
	r, err = f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
	if err != nil || !r.BackstopAt.IsZero() {
		t.Fatalf("extend: %v backstop %v", err, r.BackstopAt)
	}
	if g, _ := tokens.Token(r.Principal); !g.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("the provisioner was not told of the new expiry: %v, want %v", g.ExpiresAt, r.ExpiresAt)
	}

	if _, err := f.svc.Rotate(f.ctx, r.ID, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	kept = f.secrets.Kept(r.ID)
	if len(kept) != 2 || len(kept[1].Credentials.Secrets()) != 1 {
		t.Fatalf("rotated: %+v", kept)
	}
	second := kept[1].Credentials.Secrets()[0].Reveal()
	if second == first.Secret.Reveal() || tokens.Works(r.Principal, first.Secret.Reveal()) || !tokens.Works(r.Principal, second) {
		t.Fatal("want the new token to work and the old one not")
	}

	if rep := f.sweepAt(r.ExpiresAt); rep.Revocations != 1 || rep.Backstops != 0 {
		t.Fatalf("expiry: %+v", rep)
	}
	if got := f.get(r.ID); got.State != flows.StateExpired {
		t.Fatalf("after expiry: %s", got.State)
	}
	if _, ok := tokens.Token(r.Principal); ok {
		t.Fatal("the token outlived its grant")
	}
	if got := tokens.Ops(); !slices.Equal(got, []string{"create", "extend", "reissue", "delete"}) {
		t.Fatalf("token provisioner calls: %v", got)
	}
	if len(f.prov.Calls()) != 0 {
		t.Fatalf("the database-user provisioner was called: %+v", f.prov.Calls())
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated,
		flows.EventReminder, flows.EventExtended, flows.EventCredentialsRotated, flows.EventRevoking, flows.EventExpired)
	// Neither token reached the log, the stored request or its events.
	stored := fmt.Sprintf("%+v %+v", *f.get(r.ID), f.store.Events())
	for _, secret := range []string{first.Secret.Reveal(), second} {
		if logs.Len() == 0 || strings.Contains(logs.String(), secret) || strings.Contains(stored, secret) {
			t.Fatalf("token %q logged or stored (%d bytes of logs)", secret, logs.Len())
		}
	}
}

// baseOnly hides every optional capability of a provisioner.
type baseOnly struct{ flows.Provisioner }

// TestRotateNeedsAReissuer: a kind whose provisioner cannot reissue has no
// new credentials to send; rotate says so, changes nothing, and RotateDue
// passes it by.
func TestRotateNeedsAReissuer(t *testing.T) {
	tokens := flowstest.NewTokenProvisioner()
	f := newTokenFixture(t, baseOnly{tokens}, flows.Config{RotateAfter: time.Hour}, nil)
	r, err := f.submitToken("carol@example.com", "prod/Cluster0", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = f.decide(r.ID, "owner@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("approve: %v %v", r, err)
	}
	_, err = f.svc.Rotate(f.ctx, r.ID, "carol@example.com")
	if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "grants a test token, which has no secret to replace") {
		t.Fatalf("rotate: %v", err)
	}
	// A lost credentials message has nothing to reissue either: the
	// dispatcher sends it without its details.
	if err := f.svc.ReissueLost(f.ctx, r.ID, r.CredentialsIssuedAt); !errors.Is(err, flows.ErrNothingToReissue) {
		t.Fatalf("ReissueLost: %v", err)
	}
	f.clock.Advance(90 * time.Minute)
	if n, err := f.svc.RotateDue(f.ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("RotateDue: %d %v", n, err)
	}
	if got := tokens.Ops(); !slices.Equal(got, []string{"create"}) {
		t.Fatalf("token provisioner calls: %v", got)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated)
}

// TestKindRulesAtSubmit: the kind decides the target, the roles and how
// many; matching only considers the flows of the kind asked for.
func TestKindRulesAtSubmit(t *testing.T) {
	tokens := flowstest.NewTokenProvisioner()
	f := newTokenFixture(t, tokens, flows.Config{}, nil)
	db := func(resource string) flows.Resource {
		res, err := flows.ParseResource(resource)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tests := []struct {
		name string
		in   flows.SubmitInput
		code flows.Code
		text string
	}{
		{"two roles of a one-role kind", flows.SubmitInput{Kind: flowstest.KindToken, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0"}, Roles: []string{"use", "admin"}},
			flows.EINVALID, "a test token has one role: ask for admin or use, not both"},
		{"a database role on a token", flows.SubmitInput{Kind: flowstest.KindToken, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0"}, Roles: []string{"read"}},
			flows.EINVALID, `role "read" is not one a test token gets: ask for use, admin`},
		{"a token target with a database", flows.SubmitInput{Kind: flowstest.KindToken, Resource: db("prod/Cluster0/sales"), Roles: []string{"use"}},
			flows.EINVALID, "a token is for a whole cluster"},
		{"a database user on a cluster", flows.SubmitInput{Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0"}, Roles: []string{"read"}},
			flows.EINVALID, "the database name is empty"},
		{"an unknown kind", flows.SubmitInput{Kind: "ip_entry", Resource: db("prod/Cluster0/sales"), Roles: []string{"read"}},
			flows.EINVALID, `jitbot does not grant "ip_entry"; ask for one of: database_user, access_list_entry, atlas_ui, service_account, api_key, test_token`},
		{"no role", flows.SubmitInput{Resource: db("prod/Cluster0/sales/orders")},
			flows.EINVALID, "name the role you need, such as read"},
		{"a role a collection cannot take, among others", flows.SubmitInput{Resource: db("prod/Cluster0/sales/orders"), Roles: []string{"read", "dbAdmin"}},
			flows.EINVALID, `role "dbAdmin" cannot be limited to collection "orders"`},
		{"roles no one flow offers together", flows.SubmitInput{Resource: db("prod/Cluster0/sales/orders"), Roles: []string{"read", "readWrite"}},
			flows.EFORBIDDEN, "no one access flow offers read and readWrite together on prod/Cluster0/sales/orders"},
		{"a token where no token flow covers", flows.SubmitInput{Kind: flowstest.KindToken, Resource: flows.Resource{Integration: "prod", Cluster: "Staging"}, Roles: []string{"use"}},
			flows.EFORBIDDEN, "no access flow covers prod/Staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Requester, tt.in.Reason = "bob@example.com", "INC-1"
			_, err := f.svc.Submit(f.ctx, tt.in)
			if flows.ErrorCode(err) != tt.code || !strings.Contains(flows.ErrorMessage(err), tt.text) {
				t.Fatalf("want %s %q, got %v", tt.code, tt.text, err)
			}
		})
	}
	if n := len(f.store.Events()); n != 0 {
		t.Fatalf("refused submissions wrote %d events", n)
	}

	// Several roles where the kind and the flow allow them: one user with both.
	r, err := f.svc.Submit(f.ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: db("prod/Staging/app"),
		Roles: []string{"readWrite", "read", "read"}, Duration: time.Hour})
	if err != nil || r.State != flows.StateActive || !slices.Equal(r.Roles, []string{"read", "readWrite"}) {
		t.Fatalf("two roles: %v %v", r, err)
	}
	if g, _ := f.prov.User(r.Principal); !slices.Equal(g.Roles, []string{"read", "readWrite"}) {
		t.Fatalf("grant roles: %v", g.Roles)
	}
	if _, err := f.svc.Submit(f.ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: db("prod/Staging/app"),
		Roles: []string{"read", "readWrite"}, Duration: time.Hour}); flows.ErrorCode(err) != flows.ECONFLICT ||
		!strings.Contains(err.Error(), "for read,readWrite on prod/Staging/app") {
		t.Fatalf("the same roles again: %v", err)
	}
}

// TestEveryKindNeedsItsProvisioner: a service refuses a policy whose flows
// grant a kind with no provisioner, and a provisioner for a kind the policy
// does not know.
func TestEveryKindNeedsItsProvisioner(t *testing.T) {
	spec := testPolicy()
	spec.Flows = append(spec.Flows, tokenFlow())
	policy, err := flows.Compile(spec, flowstest.TokenKind())
	if err != nil {
		t.Fatal(err)
	}
	deps := func(provs flows.Provisioners) flows.Deps {
		return flows.Deps{Store: flowstest.NewStore(), Provisioners: provs, Catalog: testCatalog(), Secrets: &flowstest.Secrets{}}
	}
	db := flowstest.NewProvisioner()
	_, err = flows.NewService(flows.Config{Policy: policy}, deps(flows.Provisioners{flows.KindDatabaseUser: db}))
	if err == nil || !strings.Contains(err.Error(), `access flow "tokens" grants test token (kind test_token), but no provisioner is registered for that kind`) {
		t.Fatalf("a kind without a provisioner: %v", err)
	}
	_, err = flows.NewService(flows.Config{Policy: mustCompile(t, testPolicy())}, deps(flows.Provisioners{flows.KindDatabaseUser: db, "ssh_key": db}))
	if err == nil || !strings.Contains(err.Error(), `registered for kind "ssh_key", which the policy does not know`) {
		t.Fatalf("a provisioner for an unknown kind: %v", err)
	}
	if _, err := flows.NewService(flows.Config{Policy: policy}, deps(flows.Provisioners{flows.KindDatabaseUser: db, flowstest.KindToken: flowstest.NewTokenProvisioner()})); err != nil {
		t.Fatalf("every kind served: %v", err)
	}
}

// TestCompileChecksFlowsInTheirKind: a flow's kind decides which patterns
// and roles it may list; an unknown kind is refused at its own path.
func TestCompileChecksFlowsInTheirKind(t *testing.T) {
	tests := []struct {
		name, path, message string
		mutate              func(*flows.FlowSpec)
	}{
		{"unknown kind", "flows[5].kind", `unknown kind "ip_entry"; jitbot grants: database_user, access_list_entry, atlas_ui, service_account, api_key, test_token`, func(f *flows.FlowSpec) { f.Kind = "ip_entry" }},
		{"a database role", "flows[5].roles[0]", `role "read" is not one a test token gets`, func(f *flows.FlowSpec) { f.Roles = []string{"read"} }},
		{"a database pattern", "flows[5].resources[0]", `"Cluster0/sales": want cluster, each part`, func(f *flows.FlowSpec) { f.Resources = []string{"Cluster0/sales"} }},
		{"no roles", "flows[5].roles", "such as [use]", func(f *flows.FlowSpec) { f.Roles = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			fl := tokenFlow()
			tt.mutate(&fl)
			spec.Flows = append(spec.Flows, fl)
			_, err := flows.Compile(spec, flowstest.TokenKind())
			var verr flows.ValidationError
			if !errors.As(err, &verr) || len(verr) != 1 || verr[0].Path != tt.path || !strings.Contains(verr[0].Message, tt.message) {
				t.Fatalf("want %s: ...%s..., got %v", tt.path, tt.message, err)
			}
		})
	}
	// Without the token kind, its flow is refused; the default kind is a database user's.
	spec := testPolicy()
	spec.Flows = append(spec.Flows, tokenFlow())
	if _, err := flows.Compile(spec); err == nil || !strings.Contains(err.Error(), `flows[5].kind: unknown kind "test_token"; jitbot grants: database_user`) {
		t.Fatalf("an undeclared kind: %v", err)
	}
	spec = testPolicy()
	spec.Flows[0].Kind = string(flows.KindDatabaseUser)
	p := mustCompile(t, spec)
	if f, _ := p.Flow("prod-write"); f.Kind != flows.KindDatabaseUser {
		t.Fatalf("a flow without a kind grants %q", f.Kind)
	}
	if _, err := flows.Compile(testPolicy(), flowstest.TokenKind(), flowstest.TokenKind()); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Fatalf("a kind declared twice: %v", err)
	}
	broken := flowstest.TokenKind()
	broken.Principal = nil
	if _, err := flows.Compile(testPolicy(), broken); err == nil || !strings.Contains(err.Error(), "Principal (or PrincipalOf) are required") {
		t.Fatalf("a kind without a principal: %v", err)
	}
}

// TestReconcileKindByKind: each kind with an Inventory is compared on its
// own, and its orphans go through its own provisioner.
func TestReconcileKindByKind(t *testing.T) {
	tokens := flowstest.NewTokenProvisioner()
	f := newTokenFixture(t, tokens, flows.Config{}, nil)
	live, err := f.submitToken("carol@example.com", "prod/Cluster0", "use")
	if err != nil {
		t.Fatal(err)
	}
	if live, err = f.decide(live.ID, "owner@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	tokens.Add(flows.Grant{Kind: flowstest.KindToken, Principal: "tok-zzzzzzzzzz", RequestID: "zzzzzzzzzz", Integration: "prod"})
	// A database user labelled with the live token's request id is explained by nothing.
	f.prov.AddUser(flows.Grant{Principal: string("jit-carol-" + live.ID), RequestID: live.ID, Integration: "prod"})
	reps, err := f.svc.Reconcile(f.ctx)
	if err != nil || len(reps) != 2 {
		t.Fatalf("reports: %+v %v", reps, err)
	}
	db, tok := reps[0], reps[1]
	if db.Kind != flows.KindDatabaseUser || db.Managed != 1 || !slices.Equal(db.OrphansDeleted, []string{string("jit-carol-" + live.ID)}) {
		t.Fatalf("database users: %+v", db)
	}
	if tok.Kind != flowstest.KindToken || tok.Managed != 2 || !slices.Equal(tok.OrphansDeleted, []string{"tok-zzzzzzzzzz"}) || len(tok.Missing) != 0 {
		t.Fatalf("tokens: %+v", tok)
	}
	if _, ok := tokens.Token(live.Principal); !ok {
		t.Fatal("reconcile deleted a live token")
	}
	orphans := f.notes.Of(flows.EventOrphanDeleted)
	if len(orphans) != 2 || orphans[1].Event.Message != "deleted an Atlas test token labelled managed-by=jitbot: no request holds this test token" {
		t.Fatalf("orphan notices: %+v", orphans)
	}
}

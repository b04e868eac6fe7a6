package atlas

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// saPolicy has flows of service accounts on acme: project roles in the
// projects tagged env=prod, used from inside 198.51.100.0/24 (a /28 at
// most), and organization roles from 203.0.113.0/24.
func saPolicy(t testing.TB) *flows.Policy {
	t.Helper()
	p, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{admins},
		Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: orgID, Owners: []string{"org-leads@example.com"}, APIKeyOwner: true}},
		Flows: []flows.FlowSpec{
			{Name: "key-prod", Kind: string(flows.KindAPIKey), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY"}, AcceptNoBackstop: true,
				AllowedCIDRs: []string{"198.51.100.0/24"}, MaxDuration: "4h", Approvers: []string{"owners"}},
			{Name: "key-org", Kind: string(flows.KindAPIKey), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY"}, AcceptNoBackstop: true,
				AllowedCIDRs: []string{"203.0.113.0/24"}, MaxDuration: "2h", Approvers: []string{"integration-owners"}},
			{Name: "sa-prod", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"tag:env=prod"}, Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"},
				AllowedCIDRs: []string{"198.51.100.0/24"}, WidestPrefixV4: 28, MaxDuration: "12h", Approvers: []string{"owners"}},
			{Name: "sa-org", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"*"},
				Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY"},
				AllowedCIDRs: []string{"203.0.113.0/24"}, MaxDuration: "2h", Approvers: []string{"integration-owners"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// saEnv is the simulator with acme, a store and a flows.Service over the
// service-account provisioner. crash, when armed, makes the next matching
// Atlas call the last thing this process does.
type saEnv struct {
	*env
	store   *flowstest.Store
	notes   *flowstest.Notifier
	secrets *flowstest.Secrets
	svc     *flows.Service
	sa      *ServiceAccounts
	keys    *APIKeys
	cfg     ServiceAccountConfig
	crash   *pathCrasher
}

func newSAEnv(t *testing.T, cfg ServiceAccountConfig, roles ...string) *saEnv {
	t.Helper()
	if roles == nil {
		roles = []string{atlastest.RoleOrgOwner}
	}
	cr := &pathCrasher{next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(cr.next.(*http.Transport).CloseIdleConnections)
	e := newOrgEnv(t, acme, withRoles(roles...), withConfig(func(c *Config) { c.Transport = cr }), withOrgOwner)
	s := &saEnv{env: e, store: flowstest.NewStore(), crash: cr, cfg: cfg}
	s.restart(e.prov)
	return s
}

// restart is a new jitbot process over the same store.
func (s *saEnv) restart(prov *Provisioner) {
	s.t.Helper()
	s.sa, s.keys = NewServiceAccounts(prov, s.cfg), NewAPIKeys(prov)
	s.notes, s.secrets = &flowstest.Notifier{}, &flowstest.Secrets{}
	svc, err := flows.NewService(flows.Config{Policy: saPolicy(s.t)}, flows.Deps{
		Store: s.store, Provisioners: flows.Provisioners{flows.KindServiceAccount: s.sa, flows.KindAPIKey: s.keys},
		Catalog: prov.Catalog(), Secrets: s.secrets, Notifier: s.notes, Clock: s.clock,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.svc = svc
}

func (s *saEnv) newProvisioner() *Provisioner {
	s.t.Helper()
	p, err := New(s.ctx, Config{
		Clock: s.clock, Sleep: s.sleeps.sleep, Transport: s.crash,
		Log: slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Integrations: []Integration{{Name: "acme", OrganizationID: orgID,
			API:      API{BaseURL: s.srv.URL(), ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret},
			OrgOwner: OrgOwner{PublicKey: ownerPublicKey, PrivateKey: ownerPrivateKey}}},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(p.Close)
	return p
}

// The Organization Owner credential of the API key tests.
const ownerPublicKey, ownerPrivateKey = "ownerkey", "2f1d6a5e-0c3b-4e1a-9d7f-8b6c5a4e3d21"

// withOrgOwner gives the simulator an Organization Owner API key and the
// integration it as its org_owner.
func withOrgOwner(so *atlastest.Options, _ *Config, in *Integration) {
	so.APIKeys = append(so.APIKeys, atlastest.Credential{ID: ownerPublicKey, Secret: ownerPrivateKey, Roles: []string{atlastest.RoleOrgOwner}})
	in.OrgOwner = OrgOwner{PublicKey: ownerPublicKey, PrivateKey: ownerPrivateKey}
}

func (s *saEnv) ask(who, target, roles, from string, d time.Duration) (*flows.Request, error) {
	return s.askKind(flows.KindServiceAccount, who, target, roles, from, d)
}

func (s *saEnv) askKind(kind flows.Kind, who, target, roles, from string, d time.Duration) (*flows.Request, error) {
	t, err := flows.ParseUITarget(target)
	if err != nil {
		return nil, err
	}
	t.Address = from
	return s.svc.Submit(s.ctx, flows.SubmitInput{Requester: who, Kind: kind, Resource: t, Roles: flows.ParseRoles(roles),
		Duration: d, Reason: "INC-7", Origin: "slack"})
}

func (s *saEnv) granted(who, target, roles, from string, d time.Duration) *flows.Request {
	s.t.Helper()
	return s.grantedKind(flows.KindServiceAccount, who, target, roles, from, d)
}

func (s *saEnv) grantedKind(kind flows.Kind, who, target, roles, from string, d time.Duration) *flows.Request {
	s.t.Helper()
	r, err := s.askKind(kind, who, target, roles, from, d)
	if err != nil {
		s.t.Fatalf("Submit %s %s: %v", target, roles, err)
	}
	r, err = s.svc.Decide(s.ctx, flows.DecideInput{RequestID: r.ID, Actor: r.Approvers[0], Approve: true})
	if err != nil || r.State != flows.StateActive {
		s.t.Fatalf("Decide: %+v, %v", r, err)
	}
	return r
}

// issued returns every set of credentials handed out for r, oldest first.
func (s *saEnv) issued(r *flows.Request) []flows.Credentials {
	var out []flows.Credentials
	for _, k := range s.secrets.Kept(r.ID) {
		out = append(out, k.Credentials)
	}
	return out
}

func (s *saEnv) account(clientID string) (atlastest.ServiceAccount, bool) {
	for _, a := range s.srv.ServiceAccounts(orgID) {
		if a.ClientID == clientID {
			return a, true
		}
	}
	return atlastest.ServiceAccount{}, false
}

func (s *saEnv) expire(r *flows.Request) *flows.Request {
	s.t.Helper()
	s.clock.Set(r.ExpiresAt)
	if _, err := s.svc.Sweep(s.ctx, r.ExpiresAt); err != nil {
		s.t.Fatalf("Sweep: %v", err)
	}
	got, err := s.store.Get(s.ctx, r.ID)
	if err != nil || got.State != flows.StateExpired {
		s.t.Fatalf("after expiry: %+v, %v", got, err)
	}
	return got
}

func (s *saEnv) reconciled() []string {
	s.t.Helper()
	reps, err := s.svc.Reconcile(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, rep := range reps {
		if len(rep.Errors) > 0 {
			s.t.Fatalf("reconcile %s: %v", rep.Kind, rep.Errors)
		}
		out = append(out, rep.OrphansDeleted...)
	}
	return out
}

// works says whether credentials let their holder in from an address.
func (s *saEnv) works(c flows.Credentials, from string) error {
	sec, _ := c.Field(flows.FieldClientSecret)
	return s.srv.VerifyServiceAccount(field(c, flows.FieldClientID), sec.Secret.Reveal(), netip.MustParseAddr(from))
}

// neverStored checks that no secret handed out appears in the logs, the
// notices or the store.
func (s *saEnv) neverStored(creds ...flows.Credentials) {
	s.t.Helper()
	var stored []string
	for _, n := range s.notes.Notices() {
		b, _ := json.Marshal(n.Event)
		stored = append(stored, string(b), fmt.Sprintf("%+v", n.Request))
	}
	for _, ev := range s.store.Events() {
		b, _ := json.Marshal(ev)
		stored = append(stored, string(b))
	}
	all, _ := s.store.Find(s.ctx, flows.Query{})
	for _, r := range all {
		b, _ := json.Marshal(r)
		stored = append(stored, string(b), r.GrantState)
	}
	stored = append(stored, s.logs.String())
	for _, c := range creds {
		for _, sec := range c.Secrets() {
			if sec.Reveal() == "" {
				s.t.Fatal("an empty secret")
			}
			for _, text := range stored {
				if strings.Contains(text, sec.Reveal()) {
					s.t.Fatalf("a secret was kept: %.200s", text)
				}
			}
		}
	}
}

// TestServiceAccountLifecycle: a project's service account is made with the
// flow's roles, bound to the address, its secret living the organization's
// shortest (8 hours) though the grant lasts one; the credentials go out
// once and work from that address only; rotate replaces the secret; an
// extension within the secret's life issues none; at the end the account is
// gone and the credentials dead long before the secret would have expired.
func TestServiceAccountLifecycle(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{})
	start := s.clock.Now()
	r := s.granted(carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
	if r.Approvers[0] != lead || r.Principal != "jit-carol-"+string(r.ID) {
		t.Fatalf("approvers %v, principal %q", r.Approvers, r.Principal)
	}
	issued := s.issued(r)
	if len(issued) != 1 {
		t.Fatalf("credentials issued %d times", len(issued))
	}
	c := issued[0]
	a, ok := s.account(field(c, flows.FieldClientID))
	if !ok {
		t.Fatalf("no service account %s", field(c, flows.FieldClientID))
	}
	if a.Name != r.Principal || !strings.HasPrefix(a.Description, "jitbot request "+string(r.ID)) ||
		!slices.Equal(a.Projects[paymentsID], []string{"GROUP_READ_ONLY"}) || !slices.Equal(a.AccessList, []string{"198.51.100.7/32"}) {
		t.Fatalf("service account: %+v", a)
	}
	if len(a.Secrets) != 1 || !a.Secrets[0].ExpiresAt.Equal(start.Add(8*time.Hour)) {
		t.Fatalf("secrets: %+v", a.Secrets)
	}
	if field(c, flows.FieldAddress) != "198.51.100.7/32" || field(c, flows.FieldExpires) != start.Add(8*time.Hour).Format(time.RFC3339) {
		t.Fatalf("credentials: %+v", c.Fields)
	}
	if err := s.works(c, "198.51.100.7"); err != nil {
		t.Fatalf("the credentials do not work: %v", err)
	}
	if err := s.works(c, "198.51.100.8"); err == nil {
		t.Fatal("the credentials work from another address")
	}

	// Rotate: a new secret, the old one dead.
	if _, err := s.svc.Rotate(s.ctx, r.ID, carol); err != nil {
		t.Fatal(err)
	}
	issued = s.issued(r)
	if len(issued) != 2 || field(issued[1], flows.FieldClientID) != field(c, flows.FieldClientID) {
		t.Fatalf("after rotate: %d credentials", len(issued))
	}
	if err := s.works(c, "198.51.100.7"); err == nil {
		t.Fatal("the old secret still works")
	}
	if err := s.works(issued[1], "198.51.100.7"); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}
	if a, _ := s.account(field(c, flows.FieldClientID)); len(a.Secrets) != 1 {
		t.Fatalf("secrets after rotate: %+v", a.Secrets)
	}

	// An extension within the secret's life needs no new secret.
	s.clock.Advance(30 * time.Minute)
	r, err := s.svc.Extend(s.ctx, r.ID, carol, 2*time.Hour)
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("Extend: %+v, %v", r, err)
	}
	if n := len(s.issued(r)); n != 2 {
		t.Fatalf("an extension within the secret's life issued credentials (%d)", n)
	}

	final := s.issued(r)[1]
	s.expire(r)
	if _, ok := s.account(field(c, flows.FieldClientID)); ok {
		t.Fatal("the service account outlived its grant")
	}
	if err := s.works(final, "198.51.100.7"); err == nil {
		t.Fatal("the credentials work after the grant ended")
	}
	if got := s.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}
	s.neverStored(issued...)
	s.noViolations()
}

// TestServiceAccountExtendPastItsSecret: in an organization that lets
// secrets live 8 to 10 hours, a one-hour grant's secret lives 8; an
// extension past that issues a new secret, as long as the organization
// allows, and the old one is deleted.
func TestServiceAccountExtendPastItsSecret(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{})
	s.srv.SetServiceAccountSecretLimits(orgID, 8, 10)
	start := s.clock.Now()
	r := s.granted(carol, "acme/payments-prod", "GROUP_CLUSTER_MANAGER", "198.51.100.16/28", time.Hour)
	first := s.issued(r)[0]
	if field(first, flows.FieldExpires) != start.Add(8*time.Hour).Format(time.RFC3339) {
		t.Fatalf("the first secret expires %s", field(first, flows.FieldExpires))
	}
	r, err := s.svc.Extend(s.ctx, r.ID, carol, 9*time.Hour)
	if err != nil || !r.ExpiresAt.Equal(start.Add(10*time.Hour)) {
		t.Fatalf("Extend: %+v, %v", r, err)
	}
	issued := s.issued(r)
	if len(issued) != 2 || field(issued[1], flows.FieldExpires) != start.Add(10*time.Hour).Format(time.RFC3339) {
		t.Fatalf("after the extension: %d credentials, %v", len(issued), issued[len(issued)-1].Fields)
	}
	if err := s.works(first, "198.51.100.20"); err == nil {
		t.Fatal("the first secret still works")
	}
	if err := s.works(issued[1], "198.51.100.20"); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	if len(s.notes.Of(flows.EventCredentialsRotated)) != 1 {
		t.Fatalf("rotated notices: %d", len(s.notes.Of(flows.EventCredentialsRotated)))
	}
	s.expire(r)
	if len(s.srv.ServiceAccounts(orgID)) != 0 {
		t.Fatalf("left: %+v", s.srv.ServiceAccounts(orgID))
	}
	s.neverStored(issued...)
	s.noViolations()
}

// TestServiceAccountOfTheOrganization: organization roles make an
// organization service account, deleted outright at the end (revoke).
func TestServiceAccountOfTheOrganization(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{})
	r := s.granted(dave, "acme", "ORG_READ_ONLY", "203.0.113.9", time.Hour)
	c := s.issued(r)[0]
	a, ok := s.account(field(c, flows.FieldClientID))
	if !ok || !slices.Equal(a.OrgRoles, []string{"ORG_READ_ONLY"}) || len(a.Projects) != 0 || !slices.Equal(a.AccessList, []string{"203.0.113.9/32"}) ||
		!strings.HasSuffix(a.Description, "in the organization") {
		t.Fatalf("service account: %+v, %v", a, ok)
	}
	if _, err := s.svc.Revoke(s.ctx, r.ID, dave, "done"); err != nil {
		t.Fatal(err)
	}
	if len(s.srv.ServiceAccounts(orgID)) != 0 {
		t.Fatalf("left: %+v", s.srv.ServiceAccounts(orgID))
	}
	s.wantCalls(map[string]int{"createOrgServiceAccount": 1, "deleteOrgServiceAccount": 1, "createOrgAccessList": 1})
	s.neverStored(c)
	s.noViolations()
}

// TestServiceAccountRefusals: owner roles never reach a flow; an address
// outside the flow's ranges, a range too wide and no address at all are
// refused before anyone is asked.
func TestServiceAccountRefusals(t *testing.T) {
	_, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: orgID, Owners: []string{"org-leads@example.com"}}},
		Flows: []flows.FlowSpec{{Name: "sa-owner", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"*"}, Roles: []string{"GROUP_OWNER", "ORG_OWNER"}, AllowedCIDRs: []string{"198.51.100.0/24"}, Approvers: []string{"owners"}}},
	})
	if err == nil || !strings.Contains(err.Error(), "flows[0].roles[0]: GROUP_OWNER is an owner role") ||
		!strings.Contains(err.Error(), "flows[0].roles[1]: ORG_OWNER is an owner role") {
		t.Fatalf("owner roles: %v", err)
	}
	_, err = flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: orgID, Owners: []string{"org-leads@example.com"}}},
		Flows: []flows.FlowSpec{{Name: "sa-anywhere", Kind: string(flows.KindServiceAccount), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"*"}, Roles: []string{"ORG_READ_ONLY"}, Approvers: []string{"owners"}}},
	})
	if err == nil || !strings.Contains(err.Error(), "flows[0].allowed_cidrs: required") {
		t.Fatalf("no address rules: %v", err)
	}

	s := newSAEnv(t, ServiceAccountConfig{})
	for _, tt := range []struct {
		name, target, roles, from string
		code                      flows.Code
		msg                       string
	}{
		{"outside the ranges", "acme/payments-prod", "GROUP_READ_ONLY", "192.0.2.10", flows.EFORBIDDEN, "192.0.2.10/32 is not an address access flow sa-prod allows: it allows addresses inside 198.51.100.0/24"},
		{"too wide", "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.0/24", flows.EFORBIDDEN, "wider than access flow sa-prod allows: at most a /28"},
		{"no address", "acme/payments-prod", "GROUP_READ_ONLY", "", flows.EINVALID, "a service account works only from the addresses it is bound to"},
		{"every address", "acme", "ORG_READ_ONLY", "0.0.0.0/0", flows.EINVALID, "every address on the internet"},
		{"an owner role", "acme/payments-prod", "GROUP_OWNER", "198.51.100.7", flows.EINVALID, "GROUP_OWNER is an owner role"},
		{"a role the flow does not offer", "acme/payments-prod", "GROUP_DATA_ACCESS_ADMIN", "198.51.100.7", flows.EFORBIDDEN, "role GROUP_DATA_ACCESS_ADMIN is not offered"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ask(carol, tt.target, tt.roles, tt.from, time.Hour)
			wantError(t, err, tt.code, tt.msg)
		})
	}
	if n := len(s.srv.ServiceAccounts(orgID)); n != 0 {
		t.Fatalf("%d service accounts made", n)
	}
}

// TestServiceAccountReconcileRemovesALeftover: an account jitbot made for a
// request the store does not know is removed by reconcile; one someone else
// made, and a live grant's, stay.
func TestServiceAccountReconcileRemovesALeftover(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{})
	live := s.granted(carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
	lost := flows.Grant{RequestID: "lost000001", Kind: flows.KindServiceAccount, Integration: "acme", Requester: dave,
		Principal: "jit-dave-lost000001", Resource: flows.Resource{Integration: "acme", Project: "payments-prod", ProjectID: paymentsID, Address: "198.51.100.9/32"},
		Roles: []string{"GROUP_READ_ONLY"}, ExpiresAt: s.clock.Now().Add(time.Hour)}
	if _, err := s.sa.Create(s.ctx, lost); err != nil {
		t.Fatal(err)
	}
	foreign := s.srv.AddServiceAccount(atlastest.ServiceAccount{Name: "jit-ci-deploy", Description: "CI deploys", OrgID: orgID,
		Projects: map[string][]string{paymentsID: {"GROUP_READ_ONLY"}}}, 24)
	if n := len(s.srv.ServiceAccounts(orgID)); n != 3 {
		t.Fatalf("%d service accounts", n)
	}
	if got := s.reconciled(); !slices.Equal(got, []string{"jit-dave-lost000001"}) {
		t.Fatalf("reconcile removed %v", got)
	}
	var left []string
	for _, a := range s.srv.ServiceAccounts(orgID) {
		left = append(left, a.Name)
	}
	if !slices.Equal(left, []string{live.Principal, "jit-ci-deploy"}) {
		t.Fatalf("left %v", left)
	}
	if _, ok := s.account(foreign); !ok {
		t.Fatal("the foreign account is gone")
	}
	s.noViolations()
}

// TestServiceAccountWithProjectOwnerOnly: a credential that may not delete
// accounts from the organization still kills the account at the end: its
// secrets go and it leaves the project.
func TestServiceAccountWithProjectOwnerOnly(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{}, atlastest.RoleOrgReadOnly, atlastest.RoleProjectOwner, "GROUP_ACCESS_MANAGER")
	r := s.granted(carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
	c := s.issued(r)[0]
	s.expire(r)
	a, ok := s.account(field(c, flows.FieldClientID))
	if !ok || len(a.Secrets) != 0 || len(a.Projects) != 0 {
		t.Fatalf("after the end: %+v, %v", a, ok)
	}
	if err := s.works(c, "198.51.100.7"); err == nil {
		t.Fatal("the credentials still work")
	}
	s.noViolations()
}

// TestServiceAccountSurvivesCrashes: the process dies right before or right
// after each Atlas call that makes or removes something; a new process
// over the same store resumes, the grant reaches its end, and no service
// account is left.
func TestServiceAccountSurvivesCrashes(t *testing.T) {
	tests := []struct {
		name           string
		method, suffix string
		before, ending bool
	}{
		{"before creating the account", http.MethodPost, "/serviceAccounts", true, false},
		{"after creating the account", http.MethodPost, "/serviceAccounts", false, false},
		{"after binding the address", http.MethodPost, "/accessList", false, false},
		{"after deleting its secret", http.MethodDelete, "/secrets/", false, true},
		{"after leaving the project", http.MethodDelete, "/groups/" + paymentsID + "/serviceAccounts/", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSAEnv(t, ServiceAccountConfig{})
			var r *flows.Request
			if tt.ending {
				r = s.granted(carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
				s.crash.arm(tt.method, tt.suffix, tt.before)
				crashes(t, func() { _, _ = s.svc.Revoke(s.ctx, r.ID, carol, "") })
			} else {
				var err error
				if r, err = s.ask(carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour); err != nil {
					t.Fatal(err)
				}
				s.crash.arm(tt.method, tt.suffix, tt.before)
				crashes(t, func() { _, _ = s.svc.Decide(s.ctx, flows.DecideInput{RequestID: r.ID, Actor: lead, Approve: true}) })
			}
			s.restart(s.newProvisioner())
			if n, err := s.svc.Resume(s.ctx); err != nil || n != 1 {
				t.Fatalf("Resume: %d, %v", n, err)
			}
			got, _ := s.store.Get(s.ctx, r.ID)
			if tt.ending {
				if got.State != flows.StateRevoked {
					t.Fatalf("after resuming: %s (%s)", got.State, got.LastError)
				}
			} else {
				if got.State != flows.StateActive {
					t.Fatalf("after resuming: %s (%s)", got.State, got.LastError)
				}
				accounts := s.srv.ServiceAccounts(orgID)
				if len(accounts) != 1 || len(accounts[0].Secrets) != 1 || !slices.Equal(accounts[0].AccessList, []string{"198.51.100.7/32"}) {
					t.Fatalf("after resuming: %+v", accounts)
				}
				creds, ok := s.secrets.Lookup(r.ID, got.CredentialsIssuedAt)
				if !ok {
					t.Fatal("no credentials after resuming")
				}
				if err := s.works(creds, "198.51.100.7"); err != nil {
					t.Fatalf("the credentials after resuming: %v", err)
				}
				s.expire(got)
			}
			if left := s.srv.ServiceAccounts(orgID); len(left) != 0 {
				t.Fatalf("left behind: %+v", left)
			}
			if got := s.reconciled(); len(got) != 0 {
				t.Fatalf("reconcile removed %v", got)
			}
		})
	}
}

// pathCrasher is crasher for any path: the process dies right after Atlas
// answers the matching call (or right before it is sent).
type pathCrasher struct {
	next http.RoundTripper

	mu     sync.Mutex
	method string
	suffix string // a part of the path
	before bool
}

func (c *pathCrasher) arm(method, part string, before bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.method, c.suffix, c.before = method, part, before
}

func (c *pathCrasher) fire(req *http.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.suffix == "" || req.Method != c.method || !(strings.HasSuffix(req.URL.Path, c.suffix) || strings.Contains(req.URL.Path, c.suffix+"mdb_sa") || strings.Contains(req.URL.Path, c.suffix) && strings.HasSuffix(c.suffix, "/")) {
		return false
	}
	c.suffix = ""
	return true
}

func (c *pathCrasher) RoundTrip(req *http.Request) (*http.Response, error) {
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

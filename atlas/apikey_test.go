package atlas

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// keyWorks says whether an API key's credentials let their holder in from
// an address.
func (s *saEnv) keyWorks(c flows.Credentials, from string) error {
	sec, _ := c.Field(flows.FieldPrivateKey)
	return s.srv.VerifyAPIKey(field(c, flows.FieldPublicKey), sec.Secret.Reveal(), netip.MustParseAddr(from))
}

// TestAPIKeyLifecycle: a project's API key is made through the
// Organization Owner credential with the flow's role, bound to the
// address; its private key goes out once and works from there only;
// rotate deletes the key and makes another; at the end it is deleted (by
// the owner credential: jitbot's own may not).
func TestAPIKeyLifecycle(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{}, orgRoles...)
	r := s.grantedKind(flows.KindAPIKey, carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
	issued := s.issued(r)
	if len(issued) != 1 {
		t.Fatalf("credentials issued %d times", len(issued))
	}
	c := issued[0]
	keys := s.srv.APIKeys(orgID)
	if len(keys) != 1 || keys[0].PublicKey != field(c, flows.FieldPublicKey) || !slices.Equal(keys[0].Projects[paymentsID], []string{"GROUP_READ_ONLY"}) ||
		!slices.Equal(keys[0].AccessList, []string{"198.51.100.7/32"}) || !strings.HasPrefix(keys[0].Desc, r.Principal+" jitbot request "+string(r.ID)) {
		t.Fatalf("keys: %+v", keys)
	}
	if err := s.keyWorks(c, "198.51.100.7"); err != nil {
		t.Fatalf("the key does not work: %v", err)
	}
	if err := s.keyWorks(c, "198.51.100.8"); err == nil {
		t.Fatal("the key works from another address")
	}
	if _, err := s.svc.Rotate(s.ctx, r.ID, carol); err != nil {
		t.Fatal(err)
	}
	issued = s.issued(r)
	if len(issued) != 2 || field(issued[1], flows.FieldPublicKey) == field(c, flows.FieldPublicKey) {
		t.Fatalf("after rotate: %d credentials", len(issued))
	}
	if err := s.keyWorks(c, "198.51.100.7"); err == nil {
		t.Fatal("the old key still works")
	}
	if err := s.keyWorks(issued[1], "198.51.100.7"); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if n := len(s.srv.APIKeys(orgID)); n != 1 {
		t.Fatalf("%d keys after rotate", n)
	}
	s.expire(r)
	if keys := s.srv.APIKeys(orgID); len(keys) != 0 {
		t.Fatalf("left: %+v", keys)
	}
	if err := s.keyWorks(issued[1], "198.51.100.7"); err == nil {
		t.Fatal("the key works after the grant ended")
	}
	for _, call := range s.srv.Calls() {
		if call.OperationID == "deleteOrgApiKey" && !call.Challenge && call.Principal != ownerPublicKey {
			t.Fatalf("a key was deleted by %s", call.Principal)
		}
	}
	s.wantCalls(map[string]int{"createGroupApiKey": 2, "deleteOrgApiKey": 2, "createOrgAccessEntry": 2})
	if got := s.reconciled(); len(got) != 0 {
		t.Fatalf("reconcile removed %v", got)
	}
	s.neverStored(issued...)
	s.noViolations()
}

// TestAPIKeyOfTheOrganization: organization roles make an organization
// key, deleted on revoke.
func TestAPIKeyOfTheOrganization(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{}, orgRoles...)
	r := s.grantedKind(flows.KindAPIKey, dave, "acme", "ORG_READ_ONLY", "203.0.113.9", time.Hour)
	c := s.issued(r)[0]
	keys := s.srv.APIKeys(orgID)
	if len(keys) != 1 || !slices.Equal(keys[0].OrgRoles, []string{"ORG_READ_ONLY"}) || len(keys[0].Projects) != 0 {
		t.Fatalf("keys: %+v", keys)
	}
	if _, err := s.svc.Revoke(s.ctx, r.ID, dave, ""); err != nil {
		t.Fatal(err)
	}
	if keys := s.srv.APIKeys(orgID); len(keys) != 0 {
		t.Fatalf("left: %+v", keys)
	}
	s.neverStored(c)
	s.noViolations()
}

// TestAPIKeyRefusals: a flow of API keys must accept that they have no
// backstop, and its integration must have an Organization Owner
// credential; the setting belongs to API key flows only.
func TestAPIKeyRefusals(t *testing.T) {
	flow := func(kind flows.Kind, accept bool) flows.FlowSpec {
		return flows.FlowSpec{Name: "keys", Kind: string(kind), Integration: "acme", Requesters: []string{"*"}, Resources: []string{"*"},
			Roles: []string{"ORG_READ_ONLY"}, AllowedCIDRs: []string{"203.0.113.0/24"}, Approvers: []string{"owners"}, AcceptNoBackstop: accept}
	}
	compile := func(owner bool, f flows.FlowSpec) error {
		_, err := flows.Compile(flows.PolicySpec{
			Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: orgID, Owners: []string{"org-leads@example.com"}, APIKeyOwner: owner}},
			Flows:        []flows.FlowSpec{f},
		})
		return err
	}
	if err := compile(true, flow(flows.KindAPIKey, false)); err == nil || !strings.Contains(err.Error(), "flows[0].accept_no_backstop: Atlas never expires a programmatic API key") {
		t.Fatalf("no opt-in: %v", err)
	}
	if err := compile(false, flow(flows.KindAPIKey, true)); err == nil || !strings.Contains(err.Error(), "flows[0].integration: integration acme has no Organization Owner credential for API keys") {
		t.Fatalf("no owner credential: %v", err)
	}
	if err := compile(true, flow(flows.KindServiceAccount, true)); err == nil || !strings.Contains(err.Error(), "flows[0].accept_no_backstop: a setting of flows of programmatic API keys") {
		t.Fatalf("the opt-in elsewhere: %v", err)
	}
	if err := compile(true, flow(flows.KindAPIKey, true)); err != nil {
		t.Fatalf("a good flow: %v", err)
	}

	// A provisioner whose integration has no owner credential refuses too.
	e := newOrgEnv(t, acme)
	g := flows.Grant{RequestID: "r000000001", Kind: flows.KindAPIKey, Integration: "acme", Requester: dave, Principal: "jit-dave-r000000001",
		Resource: flows.Resource{Integration: "acme", Address: "203.0.113.9/32"}, Roles: []string{"ORG_READ_ONLY"}}
	_, err := NewAPIKeys(e.prov).Create(e.ctx, g)
	wantError(t, err, flows.EINVALID, "has no Organization Owner credential (org_owner)")
}

// TestAPIKeyReconcileRemovesALeftover: a key jitbot made for a request the
// store does not know is deleted by reconcile; a live grant's stays.
func TestAPIKeyReconcileRemovesALeftover(t *testing.T) {
	s := newSAEnv(t, ServiceAccountConfig{}, orgRoles...)
	live := s.grantedKind(flows.KindAPIKey, carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
	lost := flows.Grant{RequestID: "lost000002", Kind: flows.KindAPIKey, Integration: "acme", Requester: dave, Principal: "jit-dave-lost000002",
		Resource: flows.Resource{Integration: "acme", Address: "203.0.113.9/32"}, Roles: []string{"ORG_READ_ONLY"}}
	if _, err := s.keys.Create(s.ctx, lost); err != nil {
		t.Fatal(err)
	}
	if got := s.reconciled(); !slices.Equal(got, []string{"jit-dave-lost000002"}) {
		t.Fatalf("reconcile removed %v", got)
	}
	keys := s.srv.APIKeys(orgID)
	if len(keys) != 1 || !strings.HasPrefix(keys[0].Desc, live.Principal) {
		t.Fatalf("left: %+v", keys)
	}
	s.noViolations()
}

// TestAPIKeySurvivesCrashes: the process dies right before or after each
// call that makes or deletes a key; a new process resumes, the grant
// reaches its end, and no key is left.
func TestAPIKeySurvivesCrashes(t *testing.T) {
	for _, tt := range []struct {
		name           string
		method, suffix string
		before, ending bool
	}{
		{"before making the key", http.MethodPost, "/apiKeys", true, false},
		{"after making the key", http.MethodPost, "/apiKeys", false, false},
		{"after binding the address", http.MethodPost, "/accessList", false, false},
		{"before deleting the key", http.MethodDelete, "/apiKeys/", true, true},
		{"after deleting the key", http.MethodDelete, "/apiKeys/", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSAEnv(t, ServiceAccountConfig{}, orgRoles...)
			var r *flows.Request
			if tt.ending {
				r = s.grantedKind(flows.KindAPIKey, carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
				s.crash.arm(tt.method, tt.suffix, tt.before)
				crashes(t, func() { _, _ = s.svc.Revoke(s.ctx, r.ID, carol, "") })
			} else {
				var err error
				if r, err = s.askKind(flows.KindAPIKey, carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour); err != nil {
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
				keys := s.srv.APIKeys(orgID)
				creds, ok := s.secrets.Lookup(r.ID, got.CredentialsIssuedAt)
				if len(keys) != 1 || !ok {
					t.Fatalf("after resuming: %+v, credentials %v", keys, ok)
				}
				if err := s.keyWorks(creds, "198.51.100.7"); err != nil {
					t.Fatalf("the key after resuming: %v", err)
				}
				s.expire(got)
			}
			if keys := s.srv.APIKeys(orgID); len(keys) != 0 {
				t.Fatalf("left behind: %+v", keys)
			}
			if got := s.reconciled(); len(got) != 0 {
				t.Fatalf("reconcile removed %v", got)
			}
		})
	}
}

// TestAPIKeyReissueKeepsAKey: a reissue makes the new key beside the old
// one and deletes the old one last, so wherever jitbot stops, the active
// grant has a key in Atlas; asked again after the restart, it ends with
// exactly one, which works, and nothing is left once the grant ends.
func TestAPIKeyReissueKeepsAKey(t *testing.T) {
	for _, tt := range []struct {
		name           string
		method, suffix string
		before         bool
	}{
		{"before making the new key", http.MethodPost, "/apiKeys", true},
		{"after making the new key", http.MethodPost, "/apiKeys", false},
		{"after binding the address", http.MethodPost, "/accessList", false},
		{"before deleting the old key", http.MethodDelete, "/apiKeys/", true},
		{"after deleting the old key", http.MethodDelete, "/apiKeys/", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSAEnv(t, ServiceAccountConfig{}, orgRoles...)
			r := s.grantedKind(flows.KindAPIKey, carol, "acme/payments-prod", "GROUP_READ_ONLY", "198.51.100.7", time.Hour)
			s.crash.arm(tt.method, tt.suffix, tt.before)
			crashes(t, func() { _, _ = s.svc.Rotate(s.ctx, r.ID, carol) })
			if keys := s.srv.APIKeys(orgID); len(keys) == 0 {
				t.Fatal("the active grant has no key in Atlas after the crash")
			}
			s.restart(s.newProvisioner())
			if _, err := s.svc.Resume(s.ctx); err != nil {
				t.Fatalf("Resume: %v", err)
			}
			got, err := s.svc.Rotate(s.ctx, r.ID, carol)
			if err != nil || got.State != flows.StateActive {
				t.Fatalf("rotate after the restart: %v %v", got, err)
			}
			keys := s.srv.APIKeys(orgID)
			creds, ok := s.secrets.Lookup(r.ID, got.CredentialsIssuedAt)
			if len(keys) != 1 || !ok || keys[0].PublicKey != field(creds, flows.FieldPublicKey) {
				t.Fatalf("after rotating again: %+v, credentials %v", keys, ok)
			}
			if err := s.keyWorks(creds, "198.51.100.7"); err != nil {
				t.Fatalf("the key after rotating again: %v", err)
			}
			s.expire(got)
			if keys := s.srv.APIKeys(orgID); len(keys) != 0 {
				t.Fatalf("left behind: %+v", keys)
			}
			if got := s.reconciled(); len(got) != 0 {
				t.Fatalf("reconcile removed %v", got)
			}
		})
	}
}

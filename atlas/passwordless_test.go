package atlas

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const idpID = "0oa1b2c3d4"

// pwlEnv is the simulator and a real flows.Service whose flows grant
// database users without a password: OIDC on Cluster0's sales database,
// AWS IAM roles on Cluster1.
type pwlEnv struct {
	*env
	svc     *flows.Service
	store   *flowstest.Store
	secrets *flowstest.Secrets
}

func newPasswordlessEnv(t *testing.T, opts ...option) *pwlEnv {
	t.Helper()
	e := newEnv(t, opts...)
	policy, err := flows.Compile(flows.PolicySpec{
		Groups: map[string][]string{"dba": {"dba@example.com"}},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: projectID, Owners: []string{"group:dba"}, OIDCIdentityProviderID: idpID,
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{
			{Name: "sales-oidc", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"}, Roles: []string{"read", "readWrite"},
				MaxDuration: "8h", Approvers: []string{"integration-owners"}, Auth: "oidc"},
			{Name: "cluster1-iam", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster1"}, Roles: []string{"read"},
				MaxDuration: "8h", Approvers: []string{"integration-owners"}, Auth: "aws_iam", AWSIAMARN: "arn:aws:iam::123456789012:role/dba-{local_part}"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &pwlEnv{env: e, store: flowstest.NewStore(), secrets: &flowstest.Secrets{}}
	p.svc, err = flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: p.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: e.prov}, Catalog: e.prov.Catalog(), Secrets: p.secrets, Clock: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pwlEnv) submit(requester, resource, role string) (*flows.Request, error) {
	res, err := flows.ParseResource(resource)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.svc.Submit(p.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: flows.ParseRoles(role), Duration: time.Hour, Reason: "INC-1"})
}

func (p *pwlEnv) approve(r *flows.Request) *flows.Request {
	p.t.Helper()
	r, err := p.svc.Decide(p.ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba@example.com", Approve: true})
	if err != nil {
		p.t.Fatalf("Decide: %v", err)
	}
	return r
}

// TestPasswordlessLifecycles: an OIDC user and an IAM role, each asked for,
// approved, made in $external without a password, awaited until APPLIED,
// handed over as exact instructions and no secret, extended (the backstop
// moves on the user this request made), refused a rotation, and deleted at
// expiry.
func TestPasswordlessLifecycles(t *testing.T) {
	for _, c := range []struct {
		name, resource, principal, oidc, iam, mechanism string
	}{
		{"oidc", "prod/Cluster0/sales", idpID + "/carol@example.com", "USER", "NONE", "MONGODB-OIDC"},
		{"aws_iam", "prod/Cluster1/reports", "arn:aws:iam::123456789012:role/dba-carol", "NONE", "ROLE", "MONGODB-AWS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPasswordlessEnv(t, withSim(func(so *atlastest.Options) { so.ApplyAfterPolls = 1 }))
			r, err := p.submit("carol@example.com", c.resource, "read")
			if err != nil || r.Principal != c.principal {
				t.Fatalf("submit: %+v %v", r, err)
			}
			r = p.approve(r)
			if r.State != flows.StateActive {
				t.Fatalf("approved: %+v", r)
			}
			u, ok := p.srv.User(projectID, c.principal)
			if !ok || u.DatabaseName != "$external" || u.HasPassword || u.OIDCAuthType != c.oidc || u.AWSIAMType != c.iam ||
				!u.DeleteAfterDate.Equal(r.BackstopAt) || len(u.Scopes) != 1 {
				t.Fatalf("user: %+v", u)
			}
			if req, _ := u.Label(LabelRequest); req != string(r.ID) {
				t.Fatalf("labels: %+v", u.Labels)
			}
			creds := p.secrets.Kept(r.ID)[0].Credentials
			cmd, _ := creds.Field(flows.FieldCommand)
			mech, _ := creds.Field(flows.FieldMechanism)
			cluster := strings.ToLower(strings.Split(c.resource, "/")[1])
			if len(creds.Secrets()) != 0 || mech.Value != c.mechanism || field(creds, flows.FieldUsername) != c.principal ||
				!strings.HasPrefix(cmd.Value, `mongosh "mongodb+srv://`+cluster+`.jitbot.mongodb.net" --authenticationMechanism `+c.mechanism) ||
				strings.Contains(creds.Instructions, "--username") || !strings.Contains(creds.Instructions, "There is no password") {
				t.Fatalf("credentials: %+v", creds)
			}

			if _, err := p.svc.Rotate(p.ctx, r.ID, "carol@example.com"); flows.ErrorCode(err) != flows.EINVALID {
				t.Fatalf("rotate: %v", err)
			}
			p.clock.Advance(time.Minute)
			if r, err = p.svc.Extend(p.ctx, r.ID, "carol@example.com", time.Hour); err != nil {
				t.Fatal(err)
			}
			if u, _ := p.srv.User(projectID, c.principal); !u.DeleteAfterDate.Equal(r.BackstopAt) || u.HasPassword {
				t.Fatalf("after the extension: %+v, want %v", u, r.BackstopAt)
			}

			p.clock.Set(r.ExpiresAt)
			if _, err := p.svc.Sweep(p.ctx, r.ExpiresAt); err != nil {
				t.Fatal(err)
			}
			if r, _ = p.store.Get(p.ctx, r.ID); r.State != flows.StateExpired {
				t.Fatalf("after expiry: %s", r.State)
			}
			if _, ok := p.srv.User(projectID, c.principal); ok {
				t.Fatal("the user outlived its grant")
			}
			p.wantCalls(map[string]int{"createDatabaseUser": 1, "deleteDatabaseUser": 1, "updateDatabaseUser": 1})
			p.noViolations()
		})
	}
}

// TestPasswordlessNeverTouchesOthers: a user of the same identity that
// jitbot did not make (a DBA's own) fails the grant and stays as it was,
// its roles and all; an orphan jitbot made in $external is reconciled away.
func TestPasswordlessNeverTouchesOthers(t *testing.T) {
	p := newPasswordlessEnv(t)
	own := atlastest.User{Username: idpID + "/carol@example.com", DatabaseName: "$external", OIDCAuthType: "USER",
		Roles: []atlastest.Role{{RoleName: "readWriteAnyDatabase", DatabaseName: "admin"}}}
	if err := p.srv.AddUser(projectID, own, ""); err != nil {
		t.Fatal(err)
	}
	orphan := atlastest.User{Username: idpID + "/gone@example.com", DatabaseName: "$external", OIDCAuthType: "USER",
		Labels: []atlastest.Label{{Key: LabelManagedBy, Value: ManagedByValue}, {Key: LabelRequest, Value: "gone000001"}}}
	if err := p.srv.AddUser(projectID, orphan, ""); err != nil {
		t.Fatal(err)
	}
	r, err := p.submit("carol@example.com", "prod/Cluster0/sales", "read")
	if err != nil {
		t.Fatal(err)
	}
	if r = p.approve(r); r.State != flows.StateFailed || !strings.Contains(r.LastError, "not jitbot's") {
		t.Fatalf("a grant onto somebody's user: %s (%s)", r.State, r.LastError)
	}
	if u, ok := p.srv.User(projectID, own.Username); !ok || len(u.Roles) != 1 || u.Roles[0].RoleName != "readWriteAnyDatabase" || len(u.Labels) != 0 {
		t.Fatalf("the DBA's own user was changed: %+v %v", u, ok)
	}
	reps, err := p.svc.Reconcile(p.ctx)
	if err != nil || len(reps) != 1 || len(reps[0].OrphansDeleted) != 1 || reps[0].OrphansDeleted[0] != orphan.Username {
		t.Fatalf("reconcile: %+v %v", reps, err)
	}
	if _, ok := p.srv.User(projectID, own.Username); !ok {
		t.Fatal("reconcile deleted a user jitbot did not make")
	}
	// Deleting for a request that did not make the user leaves it alone.
	g := flows.Grant{RequestID: "other00001", Kind: flows.KindDatabaseUser, Integration: "prod", Principal: own.Username, Auth: flows.AuthOIDC}
	if err := p.prov.Delete(p.ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.srv.User(projectID, own.Username); !ok {
		t.Fatal("Delete removed a user this request did not make")
	}
	p.noViolations()
}

// TestPasswordlessRefusals: a second live grant for one identity, and an
// identity typed in the request.
func TestPasswordlessRefusals(t *testing.T) {
	p := newPasswordlessEnv(t)
	r, err := p.submit("carol@example.com", "prod/Cluster0/sales", "read")
	if err != nil {
		t.Fatal(err)
	}
	p.approve(r)
	_, err = p.submit("carol@example.com", "prod/Cluster0/sales", "readWrite")
	wantError(t, err, flows.ECONFLICT, "jitbot grants one at a time")
	res, _ := flows.ParseResource("prod/Cluster1/reports")
	_, err = p.svc.Submit(p.ctx, flows.SubmitInput{Requester: "dave@example.com", Resource: res, Roles: []string{"read"}, Duration: time.Hour,
		Identity: "arn:aws:iam::123456789012:role/admin"})
	wantError(t, err, flows.EINVALID, "never one typed in a request")
	if n := p.srv.CountCalls("createDatabaseUser"); n != 1 {
		t.Fatalf("%d users made", n)
	}
}

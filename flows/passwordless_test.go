package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

const idpID = "0oa1b2c3d4"

// passwordlessPolicy adds to the test policy an OIDC flow on Cluster0's hr
// database and an AWS IAM flow on Staging, and gives prod its identity
// provider.
func passwordlessPolicy() flows.PolicySpec {
	spec := testPolicy()
	spec.Integrations[0].OIDCIdentityProviderID = idpID
	spec.Flows = append(spec.Flows,
		flows.FlowSpec{Name: "hr-oidc", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/hr"},
			Roles: []string{"read"}, Approvers: []string{"owners"}, Auth: "oidc"},
		flows.FlowSpec{Name: "staging-iam", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Staging/iam*"},
			Roles: []string{"read"}, Approvers: []string{"owners"}, Auth: "aws_iam", AWSIAMARN: "arn:aws:iam::123456789012:role/dba-{local_part}"},
	)
	return spec
}

func TestCompilePasswordlessFlows(t *testing.T) {
	tests := []struct {
		name, path, says string
		edit             func(*flows.PolicySpec)
	}{
		{"an unknown method", "flows[5].auth", `unknown auth "kerberos": use password, oidc or aws_iam`,
			func(s *flows.PolicySpec) { s.Flows[5].Auth = "kerberos" }},
		{"an OIDC group", "flows[5].auth", "would grant a whole identity-provider group (oidcAuthType IDP_GROUP)",
			func(s *flows.PolicySpec) { s.Flows[5].Auth = "idp_group" }},
		{"OIDC without the integration's identity provider", "flows[5].auth", "integration prod has no oidc_identity_provider_id",
			func(s *flows.PolicySpec) { s.Integrations[0].OIDCIdentityProviderID = "" }},
		{"a bad identity provider id", "integrations[0].oidc_identity_provider_id", `"idp/x" is not an Atlas identity provider id`,
			func(s *flows.PolicySpec) { s.Integrations[0].OIDCIdentityProviderID = "idp/x" }},
		{"an unknown placeholder", "flows[5].oidc_username", "unknown placeholder {name}",
			func(s *flows.PolicySpec) { s.Flows[5].OIDCUsername = "{name}" }},
		{"the same identity for everyone", "flows[5].oidc_username", "names the same identity for everyone",
			func(s *flows.PolicySpec) { s.Flows[5].OIDCUsername = "dba@{domain}" }},
		{"an IAM flow without an ARN", "flows[6].aws_iam_arn", "required with auth: aws_iam",
			func(s *flows.PolicySpec) { s.Flows[6].AWSIAMARN = "" }},
		{"not an ARN", "flows[6].aws_iam_arn", "want arn:aws:iam::<12-digit account>:role/<name>",
			func(s *flows.PolicySpec) { s.Flows[6].AWSIAMARN = "dba-{local_part}" }},
		{"one role for everyone", "flows[6].aws_iam_arn", "names the same identity for everyone",
			func(s *flows.PolicySpec) { s.Flows[6].AWSIAMARN = "arn:aws:iam::123456789012:role/dba" }},
		{"an ARN on an OIDC flow", "flows[5].aws_iam_arn", "a setting of flows with auth: aws_iam",
			func(s *flows.PolicySpec) { s.Flows[5].AWSIAMARN = "arn:aws:iam::123456789012:role/x-{local_part}" }},
		{"an OIDC name on a password flow", "flows[0].oidc_username", "a setting of flows with auth: oidc",
			func(s *flows.PolicySpec) { s.Flows[0].OIDCUsername = "{email}" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := passwordlessPolicy()
			tt.edit(&spec)
			_, err := flows.Compile(spec)
			if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("want %s: %s, got %v", tt.path, tt.says, err)
			}
		})
	}
	p := mustCompile(t, passwordlessPolicy())
	if f, _ := p.Flow("hr-oidc"); f.Auth != flows.AuthOIDC || f.OIDCUsername != "{email}" {
		t.Fatalf("OIDC flow: %+v", f)
	}
	if f, _ := p.Flow("prod-read"); f.Auth != flows.AuthPassword {
		t.Fatalf("a flow without auth: %+v", f)
	}
}

func TestPasswordlessIdentities(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) { *s = passwordlessPolicy() })
	oidc := f.mustSubmit("carol@example.com", "prod/Cluster0/hr", "read", time.Hour)
	if oidc.Auth != flows.AuthOIDC || oidc.Principal != idpID+"/carol@example.com" {
		t.Fatalf("OIDC request: auth %q principal %q", oidc.Auth, oidc.Principal)
	}
	if got := flows.DescribeAccess(oidc); got != "read on prod/Cluster0/hr, signing in with OIDC" {
		t.Fatalf("described as %q", got)
	}
	iam := f.mustSubmit("carol@example.com", "prod/Staging/iam_app", "read", time.Hour)
	if iam.Auth != flows.AuthAWSIAM || iam.Principal != "arn:aws:iam::123456789012:role/dba-carol" {
		t.Fatalf("IAM request: auth %q principal %q", iam.Auth, iam.Principal)
	}
	// One live grant per identity: Atlas has one such user per person.
	_, err := f.submit("carol@example.com", "prod/Cluster0/hr/payroll", "read", time.Hour, "INC-1")
	if flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(flows.ErrorMessage(err), "as the OIDC user "+idpID+"/carol@example.com in prod") {
		t.Fatalf("a second OIDC grant: %v", err)
	}
	// Identities are the flow's, never typed.
	res, _ := flows.ParseResource("prod/Staging/iam_other")
	_, err = f.svc.Submit(f.ctx, flows.SubmitInput{Requester: "bob@example.com", Resource: res, Roles: []string{"read"}, Duration: time.Hour,
		Identity: "arn:aws:iam::123456789012:role/admin"})
	if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err),
		"arn:aws:iam::123456789012:role/admin: jitbot grants the identity access flow staging-iam names for you (arn:aws:iam::123456789012:role/dba-bob), never one typed in a request") {
		t.Fatalf("a typed ARN: %v", err)
	}
	// A password flow's user is still named when it is made.
	if pw := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour); pw.Auth != flows.AuthPassword || pw.Principal != "" {
		t.Fatalf("password request: %+v", pw)
	}

	oidc, err = f.decide(oidc.ID, "owner@example.com", true, "")
	if err != nil || oidc.State != flows.StateActive || oidc.Principal != idpID+"/carol@example.com" {
		t.Fatalf("approved: %+v %v", oidc, err)
	}
	if g, ok := f.prov.User(oidc.Principal); !ok || g.Auth != flows.AuthOIDC {
		t.Fatalf("the grant reached the provisioner as %+v", g)
	}
	if _, err := f.svc.Rotate(f.ctx, oidc.ID, "carol@example.com"); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), "signs in with OIDC, without a password") {
		t.Fatalf("rotate: %v", err)
	}
	// Its requester's second grant may come once the first has ended.
	if _, err := f.svc.Revoke(f.ctx, oidc.ID, "carol@example.com", "done"); err != nil {
		t.Fatal(err)
	}
	if r, err := f.submit("carol@example.com", "prod/Cluster0/hr/payroll", "read", time.Hour, "INC-1"); err != nil || r.Principal != oidc.Principal {
		t.Fatalf("after the first ended: %+v %v", r, err)
	}
}

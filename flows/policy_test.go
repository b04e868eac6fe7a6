package flows_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

const projectID = "5cf5a45a9ccf6400e60981b6"

// testPolicy is the policy the service tests run against.
func testPolicy() flows.PolicySpec {
	return flows.PolicySpec{
		Admins: []string{"admin@example.com"},
		Groups: map[string][]string{
			"dba": {"dba1@example.com", "dba2@example.com"},
			"eng": {"alice@example.com", "bob@example.com", "owner@example.com"},
		},
		Integrations: []flows.IntegrationSpec{{
			Name: "prod", ProjectID: projectID, Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`,
		}},
		Flows: []flows.FlowSpec{
			{Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/*"},
				Roles: []string{"read"}, MaxDuration: "8h", Approvers: []string{"owners"}, RequireReason: true, PendingTTL: "1h"},
			{Name: "prod-write", Integration: "prod", Requesters: []string{"group:eng"}, Resources: []string{"Cluster0/sales/*"},
				Roles: []string{"readWrite"}, MaxDuration: "2h", Approvers: []string{"owners", "group:dba"}, Approvals: 2, RequireReason: true},
			{Name: "orders-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/orders"},
				Roles: []string{"read"}, DefaultDuration: "30m", MaxDuration: "4h", Approvers: []string{"user:owner@example.com"},
				ExtendRequiresApproval: true},
			{Name: "staging", Integration: "prod", Requesters: []string{"group:eng"}, Resources: []string{"Staging"},
				Roles: []string{"read", "readWrite", "dbAdmin"}, MaxDuration: "4h", AutoApprove: true},
			{Name: "untagged", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Untagged/*"},
				Roles: []string{"read"}, Approvers: []string{"owners"}},
		},
	}
}

func mustCompile(t testing.TB, spec flows.PolicySpec) *flows.Policy {
	t.Helper()
	p, err := flows.Compile(spec)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func TestCompileDefaults(t *testing.T) {
	p := mustCompile(t, testPolicy())
	f, ok := p.Flow("staging")
	if !ok {
		t.Fatal("flow staging missing")
	}
	if f.DefaultDuration.String() != "1h0m0s" || f.PendingTTL.String() != "1h0m0s" || f.Approvals != 1 {
		t.Fatalf("defaults: %+v", f)
	}
	in, _ := p.Integration("prod")
	if in.OwnerTag != "owner" {
		t.Fatalf("owner tag default: %q", in.OwnerTag)
	}
	if !p.IsAdmin("admin@example.com") || p.IsAdmin("alice@example.com") {
		t.Fatal("admins")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*flows.PolicySpec)
		path    string
		message string
	}{
		{"bad duration", func(s *flows.PolicySpec) { s.Flows[0].MaxDuration = "8 hours" }, "flows[0].max_duration", "unknown unit"},
		{"a week", func(s *flows.PolicySpec) { s.Flows[0].MaxDuration = "7d" }, "flows[0].max_duration", "a week or more"},
		{"max below default", func(s *flows.PolicySpec) { s.Flows[0].DefaultDuration = "9h" }, "flows[0].max_duration", "shorter than default_duration"},
		{"unknown integration", func(s *flows.PolicySpec) { s.Flows[1].Integration = "staging" }, "flows[1].integration", `unknown integration "staging"`},
		{"unknown group", func(s *flows.PolicySpec) { s.Flows[1].Requesters = []string{"group:ops"} }, "flows[1].requesters[0]", `unknown group "ops"`},
		{"no approvers", func(s *flows.PolicySpec) { s.Flows[0].Approvers = nil }, "flows[0].approvers", "required unless auto_approve"},
		{"quorum too large", func(s *flows.PolicySpec) { s.Flows[2].Approvals = 2 }, "flows[2].approvals", "2 approvals needed but only 1"},
		{"bad approver", func(s *flows.PolicySpec) { s.Flows[0].Approvers = []string{"team:dba"} }, "flows[0].approvers[0]", "want user:<email>"},
		{"cluster-wide role", func(s *flows.PolicySpec) { s.Flows[0].Roles = []string{"atlasAdmin"} }, "flows[0].roles[0]", "every database"},
		{"bad glob", func(s *flows.PolicySpec) { s.Flows[0].Resources = []string{"Cluster0/[sales"} }, "flows[0].resources[0]", "bad pattern"},
		{"too deep glob", func(s *flows.PolicySpec) { s.Flows[0].Resources = []string{"a/b/c/d"} }, "flows[0].resources[0]", "want cluster"},
		{"no requesters", func(s *flows.PolicySpec) { s.Flows[0].Requesters = nil }, "flows[0].requesters", "required"},
		{"duplicate flow", func(s *flows.PolicySpec) { s.Flows[1].Name = "prod-read" }, "flows[1].name", "defined twice"},
		{"bad project id", func(s *flows.PolicySpec) { s.Integrations[0].ProjectID = "xyz" }, "integrations[0].project_id", "24 hexadecimal"},
		{"duplicate integration", func(s *flows.PolicySpec) { s.Integrations = append(s.Integrations, s.Integrations[0]) }, "integrations[1].name", "defined twice"},
		{"bad integration name", func(s *flows.PolicySpec) { s.Integrations[0].Name = "Prod/1" }, "integrations[0].name", "lower-case"},
		{"long access details", func(s *flows.PolicySpec) { s.Integrations[0].AccessDetails = strings.Repeat("x", 401) }, "integrations[0].access_details", "at most 400"},
		{"bad group member", func(s *flows.PolicySpec) { s.Groups["dba"] = []string{"not-an-email"} }, "groups.dba[0]", "not an email"},
		{"empty group", func(s *flows.PolicySpec) { s.Groups["empty"] = nil }, "groups.empty", "no members"},
		{"bad admin", func(s *flows.PolicySpec) { s.Admins = []string{"root"} }, "admins[0]", "not an email"},
		{"pending ttl", func(s *flows.PolicySpec) { s.Flows[0].PendingTTL = "8d" }, "flows[0].pending_ttl", "more than a week"},
		{"negative quorum", func(s *flows.PolicySpec) { s.Flows[0].Approvals = -1 }, "flows[0].approvals", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			tt.mutate(&spec)
			_, err := flows.Compile(spec)
			var verr flows.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, fe := range verr {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.message) {
					return
				}
			}
			t.Fatalf("want %s: ...%s..., got:\n%v", tt.path, tt.message, err)
		})
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	spec := testPolicy()
	spec.Flows[0].MaxDuration = "bad"
	spec.Flows[1].Integration = "nope"
	spec.Integrations[0].ProjectID = ""
	_, err := flows.Compile(spec)
	var verr flows.ValidationError
	if !errors.As(err, &verr) || len(verr) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

func TestMatch(t *testing.T) {
	p := mustCompile(t, testPolicy())
	res := func(s string) flows.Resource {
		r, err := flows.ParseResource(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		requester, resource, role string
		flow                      string
		errCode                   flows.Code
		errText                   string
	}{
		{requester: "carol@example.com", resource: "prod/Cluster0/sales/customers", role: "read", flow: "prod-read"},
		// The literal pattern beats the wildcard one.
		{requester: "carol@example.com", resource: "prod/Cluster0/sales/orders", role: "read", flow: "orders-read"},
		{requester: "alice@example.com", resource: "prod/Cluster0/sales/orders", role: "readWrite", flow: "prod-write"},
		{requester: "alice@example.com", resource: "prod/Staging/anything", role: "dbAdmin", flow: "staging"},
		{requester: "alice@example.com", resource: "prod/Staging/anything/coll", role: "read", flow: "staging"},
		// Cluster0/sales/* names collections, never the whole database.
		{requester: "carol@example.com", resource: "prod/Cluster0/sales", role: "read", errCode: flows.EFORBIDDEN, errText: "no access flow covers prod/Cluster0/sales"},
		{requester: "carol@example.com", resource: "prod/Cluster0/sales/orders", role: "readWrite", errCode: flows.EFORBIDDEN, errText: "role readWrite is not offered on prod/Cluster0/sales/orders; you may ask for: read"},
		{requester: "carol@example.com", resource: "prod/Staging/x", role: "read", errCode: flows.EFORBIDDEN, errText: "not among the requesters of the access flows that cover prod/Staging/x (staging)"},
		{requester: "carol@example.com", resource: "prod/Other/x", role: "read", errCode: flows.EFORBIDDEN, errText: "no access flow covers"},
		{requester: "carol@example.com", resource: "dev/Cluster0/x", role: "read", errCode: flows.ENOTFOUND, errText: `no integration "dev"`},
	}
	for _, tt := range tests {
		t.Run(tt.requester+" "+tt.resource+" "+tt.role, func(t *testing.T) {
			f, err := p.Match(tt.requester, flows.KindDatabaseUser, res(tt.resource), []string{tt.role})
			if tt.errCode != "" {
				if flows.ErrorCode(err) != tt.errCode || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("want %s error %q, got %v", tt.errCode, tt.errText, err)
				}
				return
			}
			if err != nil || f.Name != tt.flow {
				t.Fatalf("want flow %s, got %v %v", tt.flow, f, err)
			}
		})
	}
}

func TestGroupsIncludingSlackUserGroups(t *testing.T) {
	spec := testPolicy()
	spec.Groups["oncall"] = []string{"lead@example.com", "slack:db-oncall"}
	spec.Flows = append(spec.Flows, flows.FlowSpec{Name: "oncall-write", Integration: "prod", Requesters: []string{"group:oncall"},
		Resources: []string{"Cluster0/hr"}, Roles: []string{"readWrite"}, Approvers: []string{"group:oncall"}, Approvals: 2})
	p := mustCompile(t, spec) // a quorum of 2 from a group that Slack may enlarge is not refused at load
	if got := p.UserGroups(); len(got) != 1 || got["oncall"][0] != "db-oncall" {
		t.Fatalf("user groups: %v", got)
	}
	hr, _ := flows.ParseResource("prod/Cluster0/hr")
	if _, err := p.Match("sam@example.com", flows.KindDatabaseUser, hr, []string{"readWrite"}); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("before the sync only configured members are in: %v", err)
	}
	if err := p.SetSyncedMembers("oncall", []string{"Sam@Example.com", "not an email"}); err != nil {
		t.Fatal(err)
	}
	if f, err := p.Match("sam@example.com", flows.KindDatabaseUser, hr, []string{"readWrite"}); err != nil || f.Name != "oncall-write" {
		t.Fatalf("after the sync: %v %v", f, err)
	}
	if got := p.GroupMembers("oncall"); len(got) != 2 || got[0] != "lead@example.com" || got[1] != "sam@example.com" {
		t.Fatalf("members: %v", got)
	}
	if err := p.SetSyncedMembers("dba", nil); err == nil {
		t.Fatal("a group without Slack user groups cannot be synced")
	}

	spec.Groups["oncall"] = []string{"slack:DB On-call"}
	if _, err := flows.Compile(spec); err == nil || !strings.Contains(err.Error(), `groups.oncall[0]: "DB On-call" is not a Slack user group handle`) {
		t.Fatalf("bad handle: %v", err)
	}
}

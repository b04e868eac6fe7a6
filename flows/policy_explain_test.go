package flows_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestExplain(t *testing.T) {
	spec := testPolicy()
	spec.Groups["oncall"] = []string{"dba1@example.com", "slack:db-oncall"}
	spec.Flows[1].Approvers = append(spec.Flows[1].Approvers, "group:oncall")
	p := mustCompile(t, spec)

	ex, err := p.Explain("Alice@Example.com", "", "prod/Cluster0/sales/orders", []string{"readWrite"})
	if err != nil {
		t.Fatal(err)
	}
	var covering []string
	for _, c := range ex.Covering {
		covering = append(covering, c.Flow.Name+" "+c.Pattern+" "+c.Admits)
	}
	if want := []string{"prod-read Cluster0/sales/* *", "prod-write Cluster0/sales/* group:eng", "orders-read Cluster0/sales/orders *"}; !slices.Equal(covering, want) {
		t.Fatalf("covering: %q", covering)
	}
	if ex.Person != "alice@example.com" || ex.Refused != "" || len(ex.Routes) != 1 || ex.Routes[0].Flow.Name != "prod-write" {
		t.Fatalf("explanation: %+v", ex)
	}
	rules := ex.Routes[0].Approvers
	if len(rules) != 3 || rules[0].Rule.Kind != flows.Owners || rules[0].OwnerTag != "owner" || !slices.Equal(rules[0].People, []string{"dba1@example.com", "dba2@example.com"}) ||
		!slices.Equal(rules[2].People, []string{"dba1@example.com"}) || !slices.Equal(rules[2].SlackGroups, []string{"db-oncall"}) {
		t.Fatalf("approvers: %+v", rules)
	}

	// No role: every role the person may ask for, each with its route.
	ex, err = p.Explain("carol@example.com", "", "prod/Staging/app", nil)
	if err != nil || len(ex.Routes) != 0 || !strings.Contains(ex.Refused, "not among the requesters") || ex.Covering[0].Admits != "" {
		t.Fatalf("a person no flow admits: %+v %v", ex, err)
	}
	ex, err = p.Explain("bob@example.com", "", "prod/Staging/app", nil)
	if err != nil || len(ex.Routes) != 3 || !ex.Routes[0].Flow.AutoApprove || ex.Routes[2].Roles[0] != "dbAdmin" {
		t.Fatalf("an auto-approved flow: %+v %v", ex, err)
	}
	// The requester never approves their own request.
	ex, _ = p.Explain("dba1@example.com", "", "prod/Cluster0/sales/orders", []string{"read"})
	if len(ex.Routes) != 1 || ex.Routes[0].Flow.Name != "orders-read" {
		t.Fatalf("orders-read: %+v", ex)
	}
	ex, _ = p.Explain("owner@example.com", "", "prod/Cluster0/sales/orders", []string{"read"})
	if !ex.Routes[0].SelfExcluded || len(ex.Routes[0].Approvers[0].People) != 0 {
		t.Fatalf("self approval: %+v", ex.Routes[0])
	}
	// Refusals, as Submit words them.
	ex, _ = p.Explain("alice@example.com", "", "prod/Cluster0/sales/orders", []string{"dbAdmin"})
	if !strings.Contains(ex.Refused, `role "dbAdmin" cannot be limited to collection "orders"`) {
		t.Fatalf("dbAdmin on a collection: %q", ex.Refused)
	}
	for _, tc := range []struct{ person, target, want string }{
		{"alice", "prod/Cluster0/sales", "not an email"},
		{"alice@example.com", "prod/Cluster0/admin", `database "admin" is a system database`},
		{"alice@example.com", "dev/Cluster0/sales", `no integration "dev"`},
	} {
		if _, err := p.Explain(tc.person, "", tc.target, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v", tc.person, tc.target, err)
		}
	}
}

func TestWarnings(t *testing.T) {
	if ws := mustCompile(t, testPolicy()).Warnings(); len(ws) != 0 {
		t.Fatalf("the test policy warns: %v", ws)
	}
	spec := testPolicy()
	spec.Flows = append(spec.Flows,
		flows.FlowSpec{Name: "admin", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/admin", "*/config/*", "Cluster0/sales/system.users"},
			Roles: []string{"read"}, Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "colls", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/*", "Cluster_0"},
			Roles: []string{"read", "dbAdmin"}, Approvers: []string{"owners"}},
		flows.FlowSpec{Name: "mutual", Integration: "prod", Requesters: []string{"group:dba"}, Resources: []string{"Cluster0/hr"},
			Roles: []string{"read"}, Approvers: []string{"group:dba"}, Approvals: 2},
	)
	var got []string
	for _, w := range mustCompile(t, spec).Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`flows[5].resources[0]: "Cluster0/admin" can never match: database "admin" is a system database; jitbot does not grant access to it`,
		`flows[5].resources[1]: "*/config/*" can never match: database "config" is a system database; jitbot does not grant access to it`,
		`flows[5].resources[2]: "Cluster0/sales/system.users" can never match: collection "system.users" is a system collection; jitbot does not grant access to it`,
		"flows[5].resources: none of the patterns can ever match: access flow admin grants nothing",
		`flows[6].resources[1]: "Cluster_0" can never match: cluster "Cluster_0": Atlas cluster names are letters, digits and hyphens, starting with a letter or digit`,
		`flows[6].roles[1]: dbAdmin can never be granted through access flow colls: role "dbAdmin" cannot be limited to collection "any-collection"; ask for read or readWrite, or for the whole database`,
		"flows[7].approvals: access flow mutual needs 2 approvals, but its requesters are among its 2 approvers and nobody approves their own request: at most 1 can ever be given, so every request times out",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKeepSyncedMembers: a reloaded policy starts with the members Slack
// gave the groups it shares with the old one, and only those.
func TestKeepSyncedMembers(t *testing.T) {
	spec := testPolicy()
	spec.Groups["oncall"] = []string{"lead@example.com", "slack:db-oncall"}
	spec.Groups["sre"] = []string{"slack:sre"}
	old := mustCompile(t, spec)
	for g, m := range map[string]string{"oncall": "sam@example.com", "sre": "ann@example.com"} {
		if err := old.SetSyncedMembers(g, []string{m}); err != nil {
			t.Fatal(err)
		}
	}
	spec.Groups["sre"] = []string{"slack:sre-2"} // another Slack user group: its members are not the old ones
	reloaded := mustCompile(t, spec)
	reloaded.KeepSyncedMembers(old)
	if got := reloaded.GroupMembers("oncall"); !slices.Equal(got, []string{"lead@example.com", "sam@example.com"}) {
		t.Fatalf("oncall: %v", got)
	}
	if got := reloaded.GroupMembers("sre"); len(got) != 0 {
		t.Fatalf("sre: %v", got)
	}
}

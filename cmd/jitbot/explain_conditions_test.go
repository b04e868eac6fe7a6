package main

import (
	"strings"
	"testing"
)

// TestExplainApprovalsFrom: explain lists each group's approvals and its
// members, and refuses a member whose request the others cannot approve.
func TestExplainApprovalsFrom(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(policyYAML, "  eng: [alice@example.com, bob@example.com]\n",
		"  eng: [alice@example.com, bob@example.com]\n  security: [sec1@example.com]\n", 1)+`  - name: dual
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/hr/*"]
    roles: [read]
    approvals_from: [{group: dba, count: 1}, {group: security, count: 1}]
`)
	code, out := runCLI("explain", "-config", cfg, "carol@example.com", "prod/Cluster0/hr/people", "read")
	for _, want := range []string{
		"read goes through access flow dual:",
		"approvals from each group (one person counts once, toward one group):",
		"1 from group dba: dba-lead@example.com, dba2@example.com",
		"1 from group security: sec1@example.com",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "approval(s), from:") {
		t.Fatalf("a flow of groups alone has no other approvers:\n%s", out)
	}
	// sec1 is security's only member: their own request cannot be approved.
	code, out = runCLI("explain", "-config", cfg, "sec1@example.com", "prod/Cluster0/hr/people", "read")
	if code != 1 || !strings.Contains(out, "Refused: access flow dual needs 1 of dba and 1 of security, but without sec1@example.com its groups can give at most 1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestExplainHours: explain shows a flow's working hours and what happens
// outside them.
func TestExplainHours(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(policyYAML, "    approvers: [owners]\n",
		"    approvers: [owners]\n    hours: {zone: Europe/Berlin, days: mon-fri, from: \"08:00\", to: \"18:00\", approvals: 2}\n", 1))
	code, out := runCLI("explain", "-config", cfg, "carol@example.com", "prod/Cluster0/sales/orders", "read")
	if want := "  working hours mon-fri 08:00-18:00 Europe/Berlin; outside them: 2 approvals\n"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
	}
}

// TestExplainBreakGlass: a break-glass flow covering the target is shown
// with its rules; ordinary requests never go through it.
func TestExplainBreakGlass(t *testing.T) {
	cfg := writeConfig(t, policyYAML+`  - name: prod-breakglass
    integration: prod
    requesters: [group:eng]
    resources: ["Cluster0/sales/*"]
    roles: [readWrite]
    break_glass: {reviewers: [group:dba], channel: "#security", review_within: 12h}
`)
	code, out := runCLI("explain", "-config", cfg, "alice@example.com", "prod/Cluster0/sales/orders", "readWrite")
	for _, want := range []string{
		"  prod-breakglass is a break-glass (breakglass ...): granted at once without approval, at most 1h, once per 1d per person; reviewed by group:dba within 12h (reminded every 3h); #security is alerted\n",
		"readWrite goes through access flow prod-write:",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
}

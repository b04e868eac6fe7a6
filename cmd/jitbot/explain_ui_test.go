package main

import (
	"strings"
	"testing"
)

// TestExplainAtlasUIAccess: Atlas roles ask about Atlas UI access, on the
// integration's project.
func TestExplainAtlasUIAccess(t *testing.T) {
	cfg := writeConfig(t, policyYAML+`  - name: ui
    kind: atlas_ui
    integration: prod
    requesters: ["*"]
    resources: ["*"]
    roles: [GROUP_READ_ONLY]
    approvers: [integration-owners]
`)
	code, out := runCLI("explain", "-config", cfg, "carol@example.com", "prod", "GROUP_READ_ONLY")
	for _, want := range []string{
		"carol@example.com asking for GROUP_READ_ONLY on prod (Atlas UI access)",
		"GROUP_READ_ONLY goes through access flow ui:",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
	if code, out := runCLI("explain", "-config", cfg, "carol@example.com", "prod", "GROUP_OWNER"); code != 1 || !strings.Contains(out, "never grants it") {
		t.Fatalf("an owner role: exit %d\n%s", code, out)
	}
}

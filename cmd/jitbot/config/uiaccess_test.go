package config

import (
	"strings"
	"testing"
)

const uiAccess = `
  - name: acme
    organization_id: 6b0000000000000000000001
    atlas: {client_id: id2, client_secret: "${ATLAS_SECRET}"}
    owners: [group:dba]
flows:
  - name: ui-db-admin
    kind: atlas_ui
    integration: acme
    requesters: ["*"]
    resources: [payments-prod]
    roles: [GROUP_READ_ONLY, GROUP_DATABASE_ACCESS_ADMIN]
    allow_standing_access: [GROUP_DATABASE_ACCESS_ADMIN]
    max_duration: 2h
    approvers: [owners]`

// TestAtlasUIFlows: a flow of Atlas UI access opts into a standing-access
// role by name; without the opt-in the file is refused at the role's line.
func TestAtlasUIFlows(t *testing.T) {
	text := strings.Replace(withSecretFile(t, good), "flows:", strings.TrimPrefix(uiAccess, "\n"), 1)
	cfg, err := Parse("jitbot.yaml", []byte(text), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Policy.Integration("acme"); !ok {
		t.Fatal("no acme")
	}
	refused := strings.Replace(text, "    allow_standing_access: [GROUP_DATABASE_ACCESS_ADMIN]\n", "", 1)
	_, err = Parse("jitbot.yaml", []byte(refused), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "flows[0].roles[1]: GROUP_DATABASE_ACCESS_ADMIN lets a person create access that outlives the grant") {
		t.Fatalf("without the opt-in: %v", err)
	}
}

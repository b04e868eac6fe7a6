package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// keyFlow is a flow of programmatic API keys, appended to the good
// configuration.
const keyFlow = `  - name: ci-keys
    kind: api_key
    integration: prod
    requesters: ["*"]
    resources: ["*"]
    roles: [GROUP_READ_ONLY]
    allowed_cidrs: [198.51.100.0/24]
    accept_no_backstop: true
    approvers: [group:dba]
`

// TestAPIKeyFlowsNeedTheOrgOwnerCredential: check refuses a flow of API
// keys whose integration has no org_owner, and loads it once the
// credential is there (its secret read from its _file twin).
func TestAPIKeyFlowsNeedTheOrgOwnerCredential(t *testing.T) {
	text := withSecretFile(t, good) + keyFlow
	_, err := Parse("jitbot.yaml", []byte(text), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "flows[1].integration: integration prod has no Organization Owner credential for API keys") {
		t.Fatalf("without org_owner: %v", err)
	}
	secret := filepath.Join(t.TempDir(), "owner")
	if err := os.WriteFile(secret, []byte("8f2c1e0a-7b6d-4c5e-9a3f-2d1b0c9e8f7a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, "    owners: [group:dba]\n", "    owners: [group:dba]\n    org_owner:\n      public_key: ownerpub\n      private_key_file: "+secret+"\n", 1)
	cfg, err := Parse("jitbot.yaml", []byte(text), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := cfg.Policy.Flow("ci-keys")
	if !ok || f.Kind != flows.KindAPIKey || f.Network == nil {
		t.Fatalf("flow: %+v", f)
	}
	if o := cfg.Integrations[0].OrgOwner; o.PublicKey != "ownerpub" || o.PrivateKey != "8f2c1e0a-7b6d-4c5e-9a3f-2d1b0c9e8f7a" {
		t.Fatalf("org_owner: %+v", o)
	}
}

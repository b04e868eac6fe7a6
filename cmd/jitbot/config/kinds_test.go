package config

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// kindsFlows are flows of network access and of passwordless database
// users, appended to the good configuration.
const kindsFlows = `
  - name: office-network
    kind: access_list_entry
    integration: prod
    requesters: ["*"]
    allowed_cidrs: [198.51.100.0/24, "2001:db8::/32"]
    widest_prefix_v4: 28
    widest_prefix_v6: 64
    allow_public: true
    approvers: [group:dba]
  - name: sales-oidc
    integration: prod
    requesters: ["*"]
    resources: [Cluster0/sales]
    roles: [read]
    approvers: [owners]
    auth: oidc
    oidc_username: "{local_part}@corp.example.com"
  - name: sales-iam
    integration: prod
    requesters: ["*"]
    resources: [Cluster1/sales]
    roles: [read]
    approvers: [owners]
    auth: aws_iam
    aws_iam_arn: "arn:aws:iam::123456789012:role/dba-{local_part}"
`

func kindsConfig(t *testing.T) string {
	text := withSecretFile(t, good)
	text = strings.Replace(text, "    owners: [group:dba]\n", "    owners: [group:dba]\n    oidc_identity_provider_id: 0oa1b2c3d4\n", 1)
	return text + strings.TrimPrefix(kindsFlows, "\n")
}

func TestNetworkAndPasswordlessFlowsLoad(t *testing.T) {
	cfg, err := Parse("jitbot.yaml", []byte(kindsConfig(t)), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	nw, ok := cfg.Policy.Flow("office-network")
	if !ok || nw.Kind != flows.KindAccessListEntry || nw.Network == nil || nw.Network.WidestV4 != 28 || nw.Network.WidestV6 != 64 ||
		!nw.Network.AllowPublic || len(nw.Network.AllowedCIDRs) != 2 {
		t.Fatalf("network flow: %+v %+v", nw, nw.Network)
	}
	oidc, _ := cfg.Policy.Flow("sales-oidc")
	iam, _ := cfg.Policy.Flow("sales-iam")
	if oidc.Auth != flows.AuthOIDC || oidc.OIDCUsername != "{local_part}@corp.example.com" || iam.Auth != flows.AuthAWSIAM ||
		iam.AWSIAMARN != "arn:aws:iam::123456789012:role/dba-{local_part}" {
		t.Fatalf("passwordless flows: %+v %+v", oidc, iam)
	}
	if in, _ := cfg.Policy.Integration("prod"); in.OIDCIdentityProviderID != "0oa1b2c3d4" {
		t.Fatalf("integration: %+v", in)
	}
	// The identity provider is the policy's: jitbot explain reads it without secrets.
	if !policyPath("integrations[0].oidc_identity_provider_id") {
		t.Fatal("oidc_identity_provider_id is not a policy key")
	}
}

func TestNetworkAndPasswordlessProblems(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"the whole internet", "198.51.100.0/24,", "0.0.0.0/0,", "flows[1].allowed_cidrs[0]: 0.0.0.0/0 is every address on the internet"},
		{"a bad range", "198.51.100.0/24,", "198.51.100.0/33,", `flows[1].allowed_cidrs[0]: "198.51.100.0/33" is not an IP address or a CIDR range`},
		{"a v4 prefix", "widest_prefix_v4: 28", "widest_prefix_v4: 40", "flows[1].widest_prefix_v4: 40: want a prefix length of 1 to 32"},
		{"a prefix as text", "widest_prefix_v4: 28", "widest_prefix_v4: /28", `flows[1].widest_prefix_v4: want a whole number`},
		{"the whole internet on a database flow (from)", "    max_duration: 8h\n", "    max_duration: 8h\n    allowed_cidrs: [0.0.0.0/0]\n", "flows[0].allowed_cidrs[0]: 0.0.0.0/0 is every address on the internet"},
		{"an OIDC group", "auth: oidc", "auth: idp_group", "flows[2].auth: \"idp_group\" would grant a whole identity-provider group"},
		{"no identity provider", "    oidc_identity_provider_id: 0oa1b2c3d4\n", "", "flows[2].auth: integration prod has no oidc_identity_provider_id"},
		{"an ARN for everyone", "role/dba-{local_part}", "role/dba", "flows[3].aws_iam_arn: \"arn:aws:iam::123456789012:role/dba\" names the same identity for everyone"},
		{"a misspelt key", "allow_public: true", "allow_publik: true", "flows[1].allow_publik: unknown key: did you mean allow_public?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := kindsConfig(t)
			if !strings.Contains(text, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			_, err := Parse("jitbot.yaml", []byte(strings.Replace(text, tt.from, tt.to, 1)), goodEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q in:\n%v", tt.want, err)
			}
		})
	}
}

package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const networkFlowYAML = `  - name: office-network
    kind: access_list_entry
    integration: prod
    requesters: ["*"]
    allowed_cidrs: [198.51.100.0/24]
    max_duration: 8h
    approvers: [integration-owners]
`

const oidcFlowYAML = `  - name: sales-oidc
    integration: prod
    requesters: ["*"]
    resources: [Cluster0/sales]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
    auth: oidc
`

// TestNetworkAccessAndOIDCInChat: through jitbot's real Slack handlers,
// alice asks for network access from her address and for an OIDC database
// user; each is approved by its approver's click, made in Atlas, handed
// over as instructions without a secret, and gone at expiry.
func TestNetworkAccessAndOIDCInChat(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.With(t, rig.Options{Clock: clock, Slack: true, ApplyPolls: 1, Flows: networkFlowYAML})
	// An OIDC flow needs the integration's identity provider: both go in together.
	h.EditConfig("    owner_tag: owner\n", "    owner_tag: owner\n    oidc_identity_provider_id: 0oa1b2c3d4\n")
	h.EditConfig(networkFlowYAML, networkFlowYAML+oidcFlowYAML)
	// The service account of a project with network access flows holds the role they need.
	if err := h.Atlas.AddRoles(atlastest.DefaultClientID, atlastest.RoleNetworkAccessManager); err != nil {
		t.Fatal(err)
	}
	h.Start()
	addr := h.Addr()

	h.Slash(addr, rig.Alice, `network prod 198.51.100.7 1h "INC-7 VPN down"`)
	card := h.WaitDM(rig.Dana, "Approve")
	if !strings.Contains(card.AllText(), "network access from 198.51.100.7/32 to prod") {
		t.Fatalf("approval card:\n%s", card.AllText())
	}
	h.Click(addr, rig.Dana, card, "approve:")
	granted := h.WaitDM(rig.Alice, "Atlas now accepts connections from 198.51.100.7/32")
	if strings.Contains(granted.AllText(), "Password") || strings.Contains(granted.AllText(), "rotate") {
		t.Fatalf("network access DM:\n%s", granted.AllText())
	}
	e, ok := h.Atlas.AccessListEntry(rig.Project, "198.51.100.7")
	if !ok || !strings.HasPrefix(e.Comment, "jitbot ") || e.DeleteAfterDate.IsZero() {
		t.Fatalf("access list entry: %+v %v", e, ok)
	}

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales read 1h INC-8 reports")
	card = h.WaitDM(rig.Olivia, "signing in with OIDC")
	h.Click(addr, rig.Olivia, card, "approve:")
	creds := h.WaitDM(rig.Alice, "MONGODB-OIDC")
	if strings.Contains(creds.AllText(), "Password") || !strings.Contains(creds.AllText(), "0oa1b2c3d4/alice@example.com") {
		t.Fatalf("OIDC DM:\n%s", creds.AllText())
	}
	u, ok := h.Atlas.User(rig.Project, "0oa1b2c3d4/alice@example.com")
	if !ok || u.DatabaseName != "$external" || u.OIDCAuthType != "USER" || u.HasPassword {
		t.Fatalf("OIDC user: %+v %v", u, ok)
	}

	var last time.Time
	for _, r := range requests(t, h) {
		if r.ExpiresAt.After(last) {
			last = r.ExpiresAt
		}
	}
	clock.Set(last)
	h.Main.Sweep(h.Ctx)
	for _, r := range requests(t, h) {
		if r.State != flows.StateExpired {
			t.Fatalf("request %s (%s) is %s after the expiry sweep", r.ID, r.Kind, r.State)
		}
	}
	if _, ok := h.Atlas.AccessListEntry(rig.Project, "198.51.100.7"); ok {
		t.Fatal("the access list entry outlived its grant")
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("%d Atlas users left", n)
	}
	// The grants' times, by kind.
	m := scrape(t, h)
	for _, want := range []string{
		`jitbot_provisioning_seconds_count{kind="access_list_entry"} 1`, `jitbot_provisioning_seconds_count{kind="database_user"} 1`,
		`jitbot_expiry_overstay_seconds_count{kind="access_list_entry"} 1`, `jitbot_expiry_overstay_seconds_count{kind="database_user"} 1`,
		`jitbot_revocation_seconds_count{kind="access_list_entry"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func requests(t *testing.T, h *rigtest.Harness) []*flows.Request {
	t.Helper()
	rs, err := h.Main.Service().Requests(h.Ctx, flows.Query{})
	if err != nil || len(rs) == 0 {
		t.Fatalf("requests: %d %v", len(rs), err)
	}
	return rs
}

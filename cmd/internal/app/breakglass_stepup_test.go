package app_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
)

// breakGlassMFAFlow is a break-glass flow whose uses need a fresh MFA
// sign-in (step_up, added with the identity section); olivia reviews them.
const breakGlassMFAFlow = `  - name: prod-breakglass
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*", "Cluster0/sales"]
    roles: [read]
    break_glass:
      reviewers: [user:olivia@example.com]
`

// TestBreakGlassWithMFAInABrowser: through the real Slack handler and
// the serve wiring, alice (her account linked) breaks glass on a flow
// with step-up: nothing is made, she gets a sign-in link by DM, signs in
// again with a second factor in a real browser and confirms, and only
// then is the access taken: her credentials arrive, the request is a
// break-glass use marked MFA.
func TestBreakGlassWithMFAInABrowser(t *testing.T) {
	h := rigtest.With(t, rig.Options{Slack: true, ApplyPolls: 1, Flows: breakGlassMFAFlow})
	idp, addr := withIdentity(t, h)
	h.EditConfig("      reviewers: [user:olivia@example.com]\n", "      reviewers: [user:olivia@example.com]\n    step_up: {request: true, amr: [mfa]}\n")
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	idp.SignInAs(idptest.Login{Subject: "sub-alice", AMR: []string{"pwd"}})
	h.Start()

	c := newChrome(t, h)

	// alice links her chat account first.
	h.Slash(addr, rig.Alice, "breakglass prod/Cluster0/sales/orders read 30m INC-9 primary down")
	c.open(signInLink.FindString(h.WaitDM(rig.Alice, "/id/l/").AllText()))
	c.waitFor("Link your chat account")
	c.click()
	c.waitFor("Confirm the link")
	c.click()
	c.waitFor("Linked")
	if rs := allRequests(t, h); len(rs) != 0 {
		t.Fatalf("a request was made for an unproven person: %+v", rs[0])
	}

	// Breaking glass asks for a fresh sign-in, and takes nothing yet.
	h.Slash(addr, rig.Alice, "breakglass prod/Cluster0/sales/orders read 30m INC-9 primary down")
	link := signInLink.FindString(h.WaitDM(rig.Alice, "Break glass with a fresh sign-in").AllText())
	if link == "" {
		t.Fatal("no break-glass sign-in link")
	}
	if rs := allRequests(t, h); len(rs) != 0 || len(h.ManagedUsers()) != 0 {
		t.Fatalf("taken before the sign-in: %d requests, %d Atlas users", len(rs), len(h.ManagedUsers()))
	}
	idp.SignInAs(idptest.Login{Subject: "sub-alice", AMR: []string{"pwd", "mfa"}})
	c.open(link)
	c.waitFor("Break glass with a fresh sign-in")
	c.click()
	page := c.waitFor("Break glass on prod/Cluster0/sales/orders?")
	if !strings.Contains(page, "pwd, mfa") {
		t.Fatalf("confirmation page:\n%s", page)
	}
	c.click()
	c.waitFor("access taken with MFA")
	h.WaitDM(rig.Alice, "Password")
	rs := allRequests(t, h)
	if len(rs) != 1 || rs[0].State != flows.StateActive || rs[0].BreakGlass == nil || !rs[0].BreakGlass.MFA || rs[0].Flow != "prod-breakglass" {
		t.Fatalf("the use: %+v", rs)
	}
	h.WaitDM(rig.Olivia, "BREAK-GLASS")
}

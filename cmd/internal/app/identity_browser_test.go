package app_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
)

// chromium finds a headless-capable Chromium (JITBOT_CHROMIUM, which
// .ci/run sets after installing it, so that CI cannot skip), or skips.
func chromium(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("JITBOT_CHROMIUM"); path != "" {
		return path
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium in CI: .ci/run installs it")
	}
	t.Skip("no Chromium on this machine (Debian: apt-get install -y chromium)")
	return ""
}

// withIdentity has jitbot bind chat accounts through a real OpenID
// provider, serving on addr.
func withIdentity(t *testing.T, h *rigtest.Harness) (*idptest.Provider, string) {
	t.Helper()
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)
	idp := idptest.New(t, "http://"+addr+"/id/callback")
	h.EditConfig("admins: [dana@example.com]", "admins: [dana@example.com]\nidentity:\n  oidc:\n    issuer: "+idp.Issuer+
		"\n    client_id: "+idp.ClientID+"\n    client_secret: "+idp.ClientSecret+"\n    redirect_url: http://"+addr+"/id/callback\n")
	return idp, addr
}

var signInLink = regexp.MustCompile(`http://[^\s]+/id/l/[A-Za-z0-9_.-]+`)

// TestSignInInABrowser: with an identity provider configured, alice's
// first request is answered with a sign-in link in her direct messages
// instead of being made; she opens it in a real browser, which shows the
// chat account it links, signs in at the provider, confirms with a POST,
// and from then on her requests go through. The flow wants approvals made
// with MFA: olivia's Approve click answers with a sign-in link instead,
// she signs in again with a second factor in the browser and confirms,
// and the approval counts: alice gets her credentials and the card says
// "Approved with MFA".
func TestSignInInABrowser(t *testing.T) {
	h := rigtest.New(t, nil)
	idp, addr := withIdentity(t, h)
	h.EditConfig("    pending_ttl: 1h\n", "    pending_ttl: 1h\n    step_up: {approve: true, amr: [mfa]}\n")
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-olivia", Email: rig.Olivia.Email, EmailVerified: true})
	idp.SignInAs(idptest.Login{Subject: "sub-alice", AMR: []string{"pwd"}})
	h.Start()

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-42")
	dm := h.WaitDM(rig.Alice, "/id/l/")
	link := signInLink.FindString(dm.AllText())
	if link == "" {
		t.Fatalf("no link in:\n%s", dm.AllText())
	}
	if rs := allRequests(t, h); len(rs) != 0 {
		t.Fatalf("a request was made for an unproven person: %+v", rs[0])
	}

	c := newChrome(t, h)

	c.open(link)
	page := c.waitFor("Link your chat account")
	if !strings.Contains(page, "Slack account "+rig.Alice.ID+" ("+rig.Alice.Email+")") {
		t.Fatalf("the page does not name the chat account:\n%s", page)
	}
	c.click()
	page = c.waitFor("Confirm the link")
	if !strings.Contains(page, "You signed in as "+rig.Alice.Email) {
		t.Fatalf("confirmation page:\n%s", page)
	}
	c.click()
	c.waitFor("Linked")

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-42")
	h.Eventually("alice's request is made", func() bool { return len(allRequests(t, h)) == 1 })
	if r := allRequests(t, h)[0]; r.Requester != rig.Alice.Email {
		t.Fatalf("requester %q", r.Requester)
	}

	// olivia links her account the same way.
	card := h.WaitDM(rig.Olivia, "INC-42")
	h.Click(addr, rig.Olivia, card, "approve:")
	link = signInLink.FindString(h.WaitDM(rig.Olivia, "Sign in to link").AllText())
	idp.SignInAs(idptest.Login{Subject: "sub-olivia", AMR: []string{"pwd"}})
	c.open(link)
	c.waitFor("Slack account " + rig.Olivia.ID)
	c.click()
	c.waitFor("Confirm the link")
	c.click()
	c.waitFor("Linked")

	// Her Approve click now asks for a fresh sign-in with a second factor.
	h.Click(addr, rig.Olivia, card, "approve:")
	link = signInLink.FindString(h.WaitDM(rig.Olivia, "multi-factor").AllText())
	if r := allRequests(t, h)[0]; r.State != flows.StatePending {
		t.Fatalf("approved by a plain click: %s", r.State)
	}
	idp.SignInAs(idptest.Login{Subject: "sub-olivia", AMR: []string{"pwd", "mfa"}})
	c.open(link)
	c.waitFor("Approve with a fresh sign-in")
	c.click()
	page = c.waitFor("Approve request")
	if !strings.Contains(page, "pwd, mfa") {
		t.Fatalf("step-up confirmation:\n%s", page)
	}
	c.click()
	c.waitFor("Approved with MFA")
	h.WaitDM(rig.Alice, "Password")
	if r := allRequests(t, h)[0]; len(r.Approvals) != 1 || !r.Approvals[0].MFA {
		t.Fatalf("approvals %+v", r.Approvals)
	}
	h.Eventually("the approval card says so", func() bool {
		m, ok := rig.LastWith(h.Slack.DMs(rig.Olivia.ID), "INC-42")
		return ok && strings.Contains(m.AllText(), "Approved with MFA by "+rig.Olivia.Email)
	})
	az := idp.Authorizations()
	if last := az[len(az)-1]; !slices.Contains(last.Prompt, "login") || last.MaxAge == nil || *last.MaxAge != 0 {
		t.Fatalf("the step-up did not force a new sign-in: prompt %v max_age %v", last.Prompt, last.MaxAge)
	}
}

func allRequests(t *testing.T, h *rigtest.Harness) []*flows.Request {
	t.Helper()
	rs, err := h.Main.Service().Requests(h.Ctx, flows.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

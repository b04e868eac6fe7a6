package app_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
)

var guestLink = regexp.MustCompile(`http://[^\s"\\]+/id/g/[A-Za-z0-9_-]{43}`)

// chrome is a headless Chromium with helpers that read and click its page.
type chrome struct {
	t   *testing.T
	h   *rigtest.Harness
	ctx context.Context
}

func newChrome(t *testing.T, h *rigtest.Harness) *chrome {
	t.Helper()
	browser := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Flag("headless", "new"), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	return &chrome{t: t, h: h, ctx: bctx}
}

func (c *chrome) text() string {
	s, _ := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("body")))
	return s
}

func (c *chrome) open(u string) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, chromedp.Navigate(u)); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor polls the page's text until it says what (the page navigates
// through the provider meanwhile).
func (c *chrome) waitFor(what string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if page := c.text(); strings.Contains(page, what) {
			return page
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %q; page:\n%s\nlogs:\n%s", what, c.text(), c.h.LogTail(3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *chrome) click() {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, chromedp.Click(chromedp.CSS("#go"))); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chrome) value(id string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("#"+id)))
	if err != nil {
		c.t.Fatalf("#%s: %v\n%s", id, err, c.text())
	}
	return s
}

// bind links user's chat account through the provider in the browser,
// from the sign-in link jitbot sent them.
func (c *chrome) bind(idp *idptest.Provider, user slacktest.User, subject string) {
	c.t.Helper()
	link := signInLink.FindString(c.h.WaitDM(user, "Sign in to link").AllText())
	idp.SignInAs(idptest.Login{Subject: subject, AMR: []string{"pwd"}})
	c.open(link)
	c.waitFor("Slack account " + user.ID)
	c.click()
	c.waitFor("Confirm the link")
	c.click()
	c.waitFor("Linked")
}

// TestThirdPartyAccessInABrowser walks the third-party journey: alice,
// a sponsor, asks in Slack for read access for vendor@partner.com; olivia
// sees who the guest is and who sponsors them, and approves; alice has a
// one-time link made (her answer alone holds it) and passes it on; the
// guest opens it in Chromium (nothing revealed), signs in at the provider
// with a second factor, confirms, and sees a password, once, that Atlas
// accepts; a reload shows nothing; alice and olivia are told each step.
func TestThirdPartyAccessInABrowser(t *testing.T) {
	h := rigtest.New(t, nil)
	idp, addr := withIdentity(t, h)
	h.EditConfig("    pending_ttl: 1h\n", "    pending_ttl: 1h\n    third_party: {sponsors: [alice@example.com], email_domains: [partner.com], amr: [mfa]}\n")
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-olivia", Email: rig.Olivia.Email, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-vendor", Email: "vendor@partner.com", EmailVerified: true})
	h.Start()
	c := newChrome(t, h)

	const ask = `request prod/Cluster0/sales/orders read 1h for vendor@partner.com "INC-77 vendor looks at the orders"`
	h.Slash(addr, rig.Alice, ask)
	c.bind(idp, rig.Alice, "sub-alice")
	h.Slash(addr, rig.Alice, ask)
	h.Eventually("the request is made", func() bool { return len(allRequests(t, h)) == 1 })
	req := allRequests(t, h)[0]
	if req.Requester != rig.Alice.Email || req.Guest == nil || req.Guest.Email != "vendor@partner.com" {
		t.Fatalf("request %+v", req)
	}

	// olivia's card names the guest and the sponsor.
	card := h.WaitDM(rig.Olivia, "INC-77")
	if text := card.AllText(); !strings.Contains(text, "for vendor@partner.com, sponsored by alice@example.com") || !strings.Contains(text, "Sponsor") {
		t.Fatalf("approval card:\n%s", text)
	}
	h.Click(addr, rig.Olivia, card, "approve:")
	c.bind(idp, rig.Olivia, "sub-olivia")
	h.Click(addr, rig.Olivia, card, "approve:")
	ready := h.WaitDM(rig.Alice, "Access for vendor@partner.com is ready")
	if strings.Contains(ready.AllText(), "Password") {
		t.Fatalf("a password came to chat:\n%s", ready.AllText())
	}
	if _, ok := rig.Button(ready, "guestlink:"); !ok {
		t.Fatalf("no guest link button:\n%s", ready.AllText())
	}

	// alice asks for the link; it comes back to her alone.
	form := h.SlashForm(rig.Alice, "guest-link "+string(req.ID), h.Slack.NewTriggerIDFor(rig.Alice.ID))
	p := rig.NewPoster(addr)
	defer p.Close()
	if _, err := p.Send(h.Ctx, "/slack/commands", form); err != nil {
		t.Fatal(err)
	}
	var link string
	h.Eventually("alice's answer holds the link", func() bool {
		for _, post := range h.Slack.ResponsePosts(form.Get("response_url")) {
			if l := guestLink.FindString(string(post.Body)); l != "" {
				link = l
				return post.ResponseType == "ephemeral"
			}
		}
		return false
	})
	for _, m := range append(h.Slack.DMs(rig.Alice.ID), h.Slack.DMs(rig.Olivia.ID)...) {
		if strings.Contains(m.AllText(), "/id/g/") {
			t.Fatalf("the link went to a chat message:\n%s", m.AllText())
		}
	}
	h.WaitDM(rig.Olivia, "Guest link made for vendor@partner.com")

	// The guest opens it: nothing is revealed, nothing changes.
	c.open(link)
	page := c.waitFor("Sign in to receive your access")
	for _, secret := range []string{"vendor@partner.com", "Cluster0", "sales", "alice", "Password"} {
		if strings.Contains(page, secret) {
			t.Fatalf("the link's page shows %q:\n%s", secret, page)
		}
	}
	idp.SignInAs(idptest.Login{Subject: "sub-vendor", AMR: []string{"pwd", "mfa"}})
	c.click()
	page = c.waitFor("Set your password?")
	if !strings.Contains(page, "You signed in as vendor@partner.com") || strings.Contains(page, "Password:") {
		t.Fatalf("confirmation page:\n%s", page)
	}
	h.WaitDM(rig.Alice, "vendor@partner.com signed in")
	c.click()
	c.waitFor("Your access")
	username, password := c.value("v0-username"), c.value("v1-password")
	if !h.Atlas.CheckPassword(rig.Project, username, password) {
		t.Fatalf("Atlas does not take the password shown for %s", username)
	}
	for _, who := range []slacktest.User{rig.Alice, rig.Olivia} {
		h.WaitDM(who, "vendor@partner.com has their password")
		for _, m := range h.Slack.DMs(who.ID) {
			if strings.Contains(m.AllText(), password) {
				t.Fatalf("the password went to %s:\n%s", who.Name, m.AllText())
			}
		}
	}
	if strings.Contains(h.LogTail(1<<20), password) {
		t.Fatal("the password is in the log")
	}

	// A reload (the form posted again) and the link again show nothing.
	if err := chromedp.Do(c.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if page := c.waitFor("Nothing to show"); strings.Contains(page, password) || !strings.Contains(page, "shown once") {
		t.Fatalf("a reload:\n%s", page)
	}
	c.open(link)
	if page := c.waitFor("used already"); strings.Contains(page, password) {
		t.Fatalf("the link again:\n%s", page)
	}
	az := idp.Authorizations()
	if last := az[len(az)-1]; last.MaxAge == nil || *last.MaxAge != 0 || !strings.Contains(strings.Join(last.Prompt, " "), "login") {
		t.Fatalf("the guest's sign-in was not forced fresh: prompt %v max_age %v", last.Prompt, last.MaxAge)
	}
	if r := allRequests(t, h)[0]; r.State != flows.StateActive {
		t.Fatalf("state %s", r.State)
	}
}

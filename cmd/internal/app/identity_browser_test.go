package app_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
// and from then on her requests go through.
func TestSignInInABrowser(t *testing.T) {
	browser := chromium(t)
	h := rigtest.New(t, nil)
	idp, addr := withIdentity(t, h)
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
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

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Flag("headless", "new"), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	text := func() string {
		s, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
		return s
	}
	// waitFor polls the page's text until it says what: the page
	// navigates meanwhile (redirects through the provider), which a poll
	// inside the page would not survive.
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if page := text(); strings.Contains(page, what) {
				return page
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; page:\n%s\nlogs:\n%s", what, text(), h.LogTail(3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	click := func() {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#go"))); err != nil {
			t.Fatal(err)
		}
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	page := waitFor("Link your chat account")
	if !strings.Contains(page, "Slack account "+rig.Alice.ID+" ("+rig.Alice.Email+")") {
		t.Fatalf("the page does not name the chat account:\n%s", page)
	}
	click()
	page = waitFor("Confirm the link")
	if !strings.Contains(page, "You signed in as "+rig.Alice.Email) {
		t.Fatalf("confirmation page:\n%s", page)
	}
	click()
	waitFor("Linked")

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-42")
	h.Eventually("alice's request is made", func() bool { return len(allRequests(t, h)) == 1 })
	if r := requests(t, h)[0]; r.Requester != rig.Alice.Email {
		t.Fatalf("requester %q", r.Requester)
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

func quoteJS(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

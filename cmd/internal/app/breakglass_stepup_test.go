package app_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	browser := chromium(t)
	h := rigtest.With(t, rig.Options{Slack: true, ApplyPolls: 1, Flows: breakGlassMFAFlow})
	idp, addr := withIdentity(t, h)
	h.EditConfig("      reviewers: [user:olivia@example.com]\n", "      reviewers: [user:olivia@example.com]\n    step_up: {request: true, amr: [mfa]}\n")
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	idp.SignInAs(idptest.Login{Subject: "sub-alice", AMR: []string{"pwd"}})
	h.Start()

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
	open := func(link string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Navigate(link)); err != nil {
			t.Fatal(err)
		}
	}
	click := func() {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#go"))); err != nil {
			t.Fatal(err)
		}
	}

	// alice links her chat account first.
	h.Slash(addr, rig.Alice, "breakglass prod/Cluster0/sales/orders read 30m INC-9 primary down")
	open(signInLink.FindString(h.WaitDM(rig.Alice, "/id/l/").AllText()))
	waitFor("Link your chat account")
	click()
	waitFor("Confirm the link")
	click()
	waitFor("Linked")
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
	open(link)
	waitFor("Break glass with a fresh sign-in")
	click()
	page := waitFor("Break glass on prod/Cluster0/sales/orders?")
	if !strings.Contains(page, "pwd, mfa") {
		t.Fatalf("confirmation page:\n%s", page)
	}
	click()
	waitFor("access taken with MFA")
	h.WaitDM(rig.Alice, "Password")
	rs := allRequests(t, h)
	if len(rs) != 1 || rs[0].State != flows.StateActive || rs[0].BreakGlass == nil || !rs[0].BreakGlass.MFA || rs[0].Flow != "prod-breakglass" {
		t.Fatalf("the use: %+v", rs)
	}
	h.WaitDM(rig.Olivia, "BREAK-GLASS")
}

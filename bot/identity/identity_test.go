package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/flows"
)

func TestBindingThroughTheProvider(t *testing.T) {
	r := newRig(t)
	_, link, err := r.ask("U1", alice)
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(flows.ErrorMessage(err), "sign-in link is in your direct messages") {
		t.Fatalf("an unbound person: %v", err)
	}
	if link == "" {
		t.Fatal("no sign-in link was sent")
	}
	// A second command while the link is live sends no second DM.
	if _, again, err := r.ask("U1", alice); err == nil || again != "" {
		t.Fatalf("second ask: %v, link %q", err, again)
	}

	b := r.browser()
	status, body := b.get(link)
	if status != http.StatusOK || !strings.Contains(body, "Slack account U1 (alice@example.com)") {
		t.Fatalf("the link page must name the chat account: %d\n%s", status, body)
	}
	r.idp.SignInAs(idptest.Login{Subject: "sub-alice", AMR: []string{"pwd"}})
	status, body = b.submit(r.srv.URL, body)
	if status != http.StatusOK || !strings.Contains(body, "You signed in as alice@example.com") {
		t.Fatalf("confirmation page: %d\n%s", status, body)
	}
	// Signed in, not yet confirmed: nothing is bound.
	if _, err := r.x.Trust(context.Background(), actor("U1", alice)); err == nil {
		t.Fatal("bound before the confirming POST")
	}
	// What the provider was asked: the code flow with PKCE (S256) and a nonce.
	az := r.idp.Authorizations()
	if len(az) != 1 || az[0].CodeChallengeMethod != "S256" || az[0].CodeChallenge == "" || az[0].Nonce == "" || az[0].ResponseType != "code" {
		t.Fatalf("authorization requests: %+v", az)
	}
	// The session was rotated at sign-in: the pre-sign-in cookie cleared,
	// a new session cookie set, both __Host-, Secure, HttpOnly, Lax.
	var sawSession, clearedPre bool
	for _, c := range b.cookies {
		for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(c, want) {
				t.Errorf("cookie %q lacks %s", c, want)
			}
		}
		if !strings.HasPrefix(c, "__Host-") || strings.Contains(c, "Domain=") {
			t.Errorf("cookie %q is not a __Host- cookie", c)
		}
		sawSession = sawSession || strings.HasPrefix(c, cookieSession+"=") && !strings.Contains(c, "Max-Age=0")
		clearedPre = clearedPre || strings.HasPrefix(c, cookiePre+"=;") && strings.Contains(c, "Max-Age=0")
	}
	if !sawSession || !clearedPre {
		t.Fatalf("session not rotated at sign-in: %q", b.cookies)
	}

	status, body = b.submit(r.srv.URL, body)
	if status != http.StatusOK || !strings.Contains(body, "jitbot now acts for the Slack account U1 as alice@example.com") {
		t.Fatalf("confirm: %d\n%s", status, body)
	}
	who, err := r.x.Trust(context.Background(), actor("U1", alice))
	if err != nil || who.Email != alice {
		t.Fatalf("bound person: %+v, %v", who, err)
	}
	// The link worked once.
	if status, body := r.browser().get(link); status != http.StatusGone || !strings.Contains(body, "used already") {
		t.Fatalf("reopened link: %d\n%s", status, body)
	}
	bs, _ := r.x.Bindings(context.Background())
	if len(bs) != 1 || bs[0].Subject != "sub-alice" || bs[0].ApprovedBy != "" || !bs[0].VerifiedAt.Equal(t0) {
		t.Fatalf("bindings: %+v", bs)
	}
}

func TestLinkExpiresAfterTenMinutes(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	r.clock.Advance(LinkTTL)
	if status, _ := r.browser().get(link); status != http.StatusGone {
		t.Fatalf("a link 10 minutes old: %d, want 410", status)
	}
	// A forged or altered link is not one.
	if status, _ := r.browser().get(link[:len(link)-2] + "xx"); status != http.StatusNotFound {
		t.Fatalf("an altered link: %d, want 404", status)
	}
	// And after it expired, the next command sends a new one.
	if _, again, _ := r.ask("U1", alice); again == "" || again == link {
		t.Fatalf("no new link after expiry: %q", again)
	}
}

func TestEmailsDifferNeedAnAdmin(t *testing.T) {
	r := newRig(t)
	r.bind("UADMIN", admin, "sub-admin")
	r.bind("UBOB", bob, "sub-bob")

	_, link, _ := r.ask("U1", alice)
	b := r.browser()
	// Bob signs in to the link made for alice's chat account.
	status, body := r.signIn(b, link, idptest.Login{Subject: "sub-bob"})
	if status != http.StatusOK || !strings.Contains(body, "an admin must approve") {
		t.Fatalf("confirmation page: %d\n%s", status, body)
	}
	status, body = b.submit(r.srv.URL, body)
	if status != http.StatusOK || !strings.Contains(body, "Waiting for an admin") {
		t.Fatalf("confirm: %d\n%s", status, body)
	}
	_, err := r.x.Trust(context.Background(), actor("U1", alice))
	if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(flows.ErrorMessage(err), "an admin must approve") {
		t.Fatalf("pending binding: %v", err)
	}
	fs := r.findings()
	if len(fs) != 1 || !strings.Contains(fs[0], "signed in as bob@example.com") {
		t.Fatalf("admins told: %q", fs)
	}
	review := regexpFind(t, fs[0], `https://\S+/id/review/\S+`)

	// The review page says nothing of whom it is about before an admin
	// signed in, and a person who is not an admin sees nothing more.
	nb := r.browser()
	status, body = nb.get(review)
	if status != http.StatusOK || strings.Contains(body, "bob@") || strings.Contains(body, alice) {
		t.Fatalf("review page before sign-in: %d\n%s", status, body)
	}
	r.idp.SignInAs(idptest.Login{Subject: "sub-bob"})
	if status, body = nb.submit(r.srv.URL, body); status != http.StatusForbidden || !strings.Contains(body, "only an admin") || strings.Contains(body, alice) {
		t.Fatalf("a non-admin reviewing: %d\n%s", status, body)
	}

	ab := r.browser()
	_, body = ab.get(review)
	r.idp.SignInAs(idptest.Login{Subject: "sub-admin"})
	status, body = ab.submit(r.srv.URL, body)
	if status != http.StatusOK || !strings.Contains(body, "Approve the link") || !strings.Contains(body, "Slack account U1") {
		t.Fatalf("admin's review: %d\n%s", status, body)
	}
	if status, body := ab.submit(r.srv.URL, body); status != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("admin approves: %d\n%s", status, body)
	}
	who, err := r.x.Trust(context.Background(), actor("U1", alice))
	if err != nil || who.Email != alice {
		t.Fatalf("after approval: %+v, %v", who, err)
	}
	bs, _ := r.x.Bindings(context.Background())
	for _, bb := range bs {
		if bb.UserID == "U1" && (bb.ApprovedBy != admin || bb.Subject != "sub-bob") {
			t.Fatalf("approved binding: %+v", bb)
		}
	}
}

func TestUnverifiedEmailNeedsAnAdmin(t *testing.T) {
	r := newRig(t)
	r.idp.AddUser(idptest.User{Subject: "sub-alice", Email: alice, EmailVerified: false})
	_, link, _ := r.ask("U1", alice)
	b := r.browser()
	_, body := r.signIn(b, link, idptest.Login{Subject: "sub-alice"})
	if _, body := b.submit(r.srv.URL, body); !strings.Contains(body, "did not say the email is verified") {
		t.Fatalf("unverified email:\n%s", body)
	}
	if _, err := r.x.Trust(context.Background(), actor("U1", alice)); err == nil {
		t.Fatal("bound on an unverified email")
	}
}

func TestForwardedLinkBindsNothingWithoutThePost(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	other := r.browser()
	status, body := other.get(link)
	if status != http.StatusOK || !strings.Contains(body, "Slack account U1 (alice@example.com)") || !strings.Contains(body, "If that is not your chat account") {
		t.Fatalf("a forwarded link's page must name the account it links: %d\n%s", status, body)
	}
	// Opening it (or a scanner following it) binds nothing.
	if _, err := r.x.Trust(context.Background(), actor("U1", alice)); err == nil {
		t.Fatal("bound by a GET")
	}
	// Signing in without confirming binds nothing either.
	r.idp.SignInAs(idptest.Login{Subject: "sub-bob"})
	if status, body = other.submit(r.srv.URL, body); status != http.StatusOK || !strings.Contains(body, "Slack account U1") {
		t.Fatalf("confirmation page: %d\n%s", status, body)
	}
	if _, err := r.x.Trust(context.Background(), actor("U1", alice)); err == nil {
		t.Fatal("bound without the confirming POST")
	}
	if bs, _ := r.x.Bindings(context.Background()); len(bs) != 0 {
		t.Fatalf("bindings: %+v", bs)
	}
}

func TestProfileEmailChangeDoesNotMoveTheBinding(t *testing.T) {
	r := newRig(t)
	r.bind("U1", alice, "sub-alice")
	// The chat profile now says bob: jitbot still acts as what was proven.
	who, err := r.x.Trust(context.Background(), actor("U1", bob))
	if err != nil || who.Email != alice {
		t.Fatalf("after a profile change: %+v, %v; want alice", who, err)
	}
	// And another chat account claiming alice's email is not alice.
	if _, link, err := r.ask("U2", alice); err == nil || link == "" {
		t.Fatalf("another account with alice's email: %v", err)
	}
}

func TestReverification(t *testing.T) {
	r := newRig(t)
	r.bind("U1", alice, "sub-alice")
	ctx := context.Background()
	r.clock.Advance(29 * 24 * time.Hour)
	if err := r.x.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if l := r.lastLink(); l != "" {
		t.Fatalf("a link before 30 days: %s", l)
	}
	r.clock.Advance(24 * time.Hour)
	if err := r.x.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	link := r.lastLink()
	if link == "" {
		t.Fatal("no re-verification link after 30 days")
	}
	if err := r.x.Sweep(ctx); err != nil || r.lastLink() != "" {
		t.Fatalf("a second sweep sent another link (%v)", err)
	}
	b := r.browser()
	_, body := r.signIn(b, link, idptest.Login{Subject: "sub-alice"})
	if _, body = b.submit(r.srv.URL, body); !strings.Contains(body, "Verified again") {
		t.Fatalf("re-verified:\n%s", body)
	}
	r.clock.Advance(2 * 24 * time.Hour)
	if err := r.x.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if who, err := r.x.Trust(ctx, actor("U1", alice)); err != nil || who.Email != alice {
		t.Fatalf("after re-verifying: %v", err)
	}
	if got := r.rev.all(); len(got) != 0 {
		t.Fatalf("revoked: %q", got)
	}

	// Not re-verified: a day after it falls due, the binding goes and the
	// person's grants are revoked, the admins told.
	r.clock.Advance(28 * 24 * time.Hour)
	if err := r.x.Sweep(ctx); err != nil || r.lastLink() == "" {
		t.Fatalf("second re-verification link: %v", err)
	}
	r.clock.Advance(ReverifyGrace)
	if err := r.x.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.rev.all(); len(got) != 1 || !strings.HasPrefix(got[0], alice+": identity no longer proven") {
		t.Fatalf("revoked: %q", got)
	}
	if fs := r.findings(); len(fs) != 1 || !strings.Contains(fs[0], "is no longer linked") || !strings.Contains(fs[0], "req0000001") {
		t.Fatalf("admins told: %q", fs)
	}
	if _, err := r.x.Trust(ctx, actor("U1", alice)); err == nil {
		t.Fatal("still trusted after failing re-verification")
	}
}

func TestDeactivatedAtTheProviderRevokesGrants(t *testing.T) {
	r := newRig(t)
	r.bind("U1", alice, "sub-alice")
	ctx := context.Background()
	r.clock.Advance(30 * 24 * time.Hour)
	if err := r.x.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	link := r.lastLink()
	r.idp.Disable("sub-alice")
	b := r.browser()
	status, body := r.signIn(b, link, idptest.Login{Subject: "sub-alice"})
	if status != http.StatusForbidden || !strings.Contains(body, "access_denied") {
		t.Fatalf("a disabled person's sign-in: %d\n%s", status, body)
	}
	if got := r.rev.all(); len(got) != 1 || !strings.Contains(got[0], "refused the sign-in (access_denied)") {
		t.Fatalf("revoked: %q", got)
	}
	if fs := r.findings(); len(fs) != 1 || !strings.Contains(fs[0], "Live access revoked: req0000001") {
		t.Fatalf("admins told: %q", fs)
	}
	if _, err := r.x.Trust(ctx, actor("U1", alice)); err == nil {
		t.Fatal("still trusted")
	}
}

func TestReplayedCallbackIsRefused(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	b := r.browser()
	b.stopAt = CallbackPath
	r.signIn(b, link, idptest.Login{Subject: "sub-alice"})
	if b.stopped == "" {
		t.Fatal("never reached the callback")
	}
	cb := b.stopped
	b.stopAt = ""
	if status, body := b.get(cb); status != http.StatusOK || !strings.Contains(body, "Confirm") {
		t.Fatalf("first callback: %d\n%s", status, body)
	}
	if status, body := b.get(cb); status != http.StatusBadRequest || !strings.Contains(body, "used already") {
		t.Fatalf("replayed callback: %d\n%s", status, body)
	}
	// The callback must come back to the browser that started the sign-in.
	_, link2, _ := r.ask("U3", "carol@example.com")
	b2 := r.browser()
	b2.stopAt = CallbackPath
	r.signIn(b2, link2, idptest.Login{Subject: "sub-alice"})
	if status, body := r.browser().get(b2.stopped); status != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Fatalf("callback in another browser: %d\n%s", status, body)
	}
}

func TestIDTokenOfAnotherSignInIsRefused(t *testing.T) {
	// The nonce: an ID token obtained for one sign-in does not complete
	// another, even with its code and verifier.
	r := newRig(t)
	ctx := context.Background()
	r.idp.SignInAs(idptest.Login{Subject: "sub-alice"})
	verifier := "v-0123456789012345678901234567890123456789012"
	to, err := r.x.op.authURL(ctx, "st", "nonce-A", verifier, authOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	b.stopAt = CallbackPath
	b.get(to)
	u, err := url.Parse(b.stopped)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("no code: %q", b.stopped)
	}
	if _, err := r.x.op.exchange(ctx, u.Query().Get("code"), verifier, "nonce-B"); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("exchange with another sign-in's nonce: %v", err)
	}
}

func TestCSRFOnEveryForm(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	b := r.browser()
	_, page := b.get(link)
	good := formOf(page)

	// The start form: a missing or foreign token, or no pre-sign-in cookie.
	bad := url.Values{"link": {good.Get("link")}, "csrf": {"forged"}}
	if status, _ := b.post(r.srv.URL+"/id/start", bad); status != http.StatusForbidden {
		t.Fatalf("start with a forged token: %d", status)
	}
	if status, _ := r.browser().post(r.srv.URL+"/id/start", good); status != http.StatusForbidden {
		t.Fatalf("start from another browser (no cookie): %d", status)
	}
	other := r.browser()
	other.get(link)
	if status, _ := other.post(r.srv.URL+"/id/start", good); status != http.StatusForbidden {
		t.Fatalf("start with another browser's token: %d", status)
	}

	// The confirm form.
	r.idp.SignInAs(idptest.Login{Subject: "sub-alice"})
	_, confirm := b.submit(r.srv.URL, page)
	if status, _ := b.post(r.srv.URL+"/id/confirm", url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
		t.Fatalf("confirm with a forged token: %d", status)
	}
	if status, _ := b.post(r.srv.URL+"/id/confirm", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("confirm with no token: %d", status)
	}
	if status, _ := r.browser().post(r.srv.URL+"/id/confirm", formOf(confirm)); status != http.StatusForbidden {
		t.Fatalf("confirm from another browser: %d", status)
	}
	if _, err := r.x.Trust(context.Background(), actor("U1", alice)); err == nil {
		t.Fatal("bound by a forged form")
	}
	// The refused attempts used nothing up: the real form still works.
	if status, body := b.submit(r.srv.URL, confirm); status != http.StatusOK || !strings.Contains(body, "Linked") {
		t.Fatalf("real confirm: %d\n%s", status, body)
	}

	// The review form (an admin's sign-in to approve) checks its token too.
	r2 := newRig(t)
	r2.bind("UADMIN", admin, "sub-admin")
	_, l2, _ := r2.ask("U1", alice)
	b2 := r2.browser()
	_, p2 := r2.signIn(b2, l2, idptest.Login{Subject: "sub-bob"})
	b2.submit(r2.srv.URL, p2)
	review := regexpFind(t, r2.findings()[0], `https://\S+/id/review/\S+`)
	ab := r2.browser()
	_, rp := ab.get(review)
	f := formOf(rp)
	f.Set("csrf", "forged")
	if status, _ := ab.post(r2.srv.URL+"/id/start", f); status != http.StatusForbidden {
		t.Fatalf("review start with a forged token: %d", status)
	}
}

func TestPagesAreLockedDown(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	resp, err := r.browser().c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP: %q", csp)
	}
}

func regexpFind(t *testing.T, s, pattern string) string {
	t.Helper()
	m := regexpMust(pattern).FindString(s)
	if m == "" {
		t.Fatalf("%q not in %q", pattern, s)
	}
	return strings.TrimRight(m, ".")
}

func TestWrongAccountThenTheRightOne(t *testing.T) {
	r := newRig(t)
	_, link, _ := r.ask("U1", alice)
	b := r.browser()
	_, body := r.signIn(b, link, idptest.Login{Subject: "sub-bob"})
	if _, body = b.submit(r.srv.URL, body); !strings.Contains(body, "Waiting for an admin") {
		t.Fatalf("wrong account:\n%s", body)
	}
	// alice tries again: told why, and sent a new link (once the first
	// one's 10 minutes are over), with which she signs in as herself.
	r.clock.Advance(LinkTTL)
	_, again, err := r.ask("U1", alice)
	if !strings.Contains(flows.ErrorMessage(err), "If you used the wrong account") || again == "" {
		t.Fatalf("retry: %v, link %q", err, again)
	}
	b = r.browser()
	_, body = r.signIn(b, again, idptest.Login{Subject: "sub-alice"})
	if _, body = b.submit(r.srv.URL, body); !strings.Contains(body, "Linked") {
		t.Fatalf("right account:\n%s", body)
	}
	if who, err := r.x.Trust(context.Background(), actor("U1", alice)); err != nil || who.Email != alice {
		t.Fatalf("after the right sign-in: %v", err)
	}
	bs, _ := r.x.Bindings(context.Background())
	if len(bs) != 1 || bs[0].Subject != "sub-alice" {
		t.Fatalf("bindings %+v", bs)
	}
}

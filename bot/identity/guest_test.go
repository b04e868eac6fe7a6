package identity

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const vendor = "vendor@partner.com"

// guestRig is the identity rig with a domain service whose flow lets
// alice sponsor partner.com guests, approved by bob; the guest signs in
// as sub-vendor, with mfa.
type guestRig struct {
	*rig
	svc  *flows.Service
	prov *flowstest.Provisioner
}

func newGuestRig(t *testing.T) *guestRig {
	t.Helper()
	r := newRig(t)
	r.idp.AddUser(idptest.User{Subject: "sub-vendor", Email: vendor, EmailVerified: true})
	r.idp.AddUser(idptest.User{Subject: "sub-other", Email: "other@partner.com", EmailVerified: true})
	policy, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{admin},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{{
			Name: "guests", Integration: "prod", Requesters: []string{"user:" + alice}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read"}, DefaultDuration: "1h", MaxDuration: "8h", Approvers: []string{"user:" + bob}, Approvals: 1, PendingTTL: "1h",
			ThirdParty: &flows.ThirdPartySpec{Sponsors: []string{"user:" + alice}, EmailDomains: []string{"partner.com"}, AMR: []string{"mfa", "hwk"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prov := flowstest.NewProvisioner()
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: r.db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Clock: r.clock,
		Secrets: bot.NewSecrets(r.clock, 0, 0), Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
			{Name: "Cluster0", Databases: map[string][]string{"sales": {"orders"}}},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.x.deps.Guests = svc
	return &guestRig{rig: r, svc: svc, prov: prov}
}

// active is alice's approved request for the vendor.
func (g *guestRig) active(t *testing.T) *flows.Request {
	t.Helper()
	ctx := context.Background()
	res, _ := flows.ParseResource("prod/Cluster0/sales")
	req, err := g.svc.Submit(ctx, flows.SubmitInput{Requester: alice, Resource: res, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-9", Origin: "slack", Guest: vendor})
	if err != nil {
		t.Fatal(err)
	}
	req, err = g.svc.Decide(ctx, flows.DecideInput{RequestID: req.ID, Actor: bob, Approve: true})
	if err != nil || req.State != flows.StateActive {
		t.Fatalf("approve: %v %v", req, err)
	}
	return req
}

var guestLinkPattern = regexp.MustCompile(`https://[^\s]+/id/g/[A-Za-z0-9_-]{43}`)

// link has alice make a link and returns it.
func (g *guestRig) link(t *testing.T, id flows.RequestID) string {
	t.Helper()
	c, err := g.x.GuestLink(context.Background(), actor("UALICE", alice), id)
	if err != nil {
		t.Fatal(err)
	}
	u := guestLinkPattern.FindString(c.Text)
	if u == "" {
		t.Fatalf("no link on the sponsor's card: %+v", c)
	}
	return u
}

// signInAsGuest opens link, signs in as login, and returns the page back
// from the provider.
func (g *guestRig) signInAsGuest(t *testing.T, b *browser, link string, login idptest.Login) (int, string) {
	t.Helper()
	if login.At.IsZero() {
		login.At = g.clock.Now().Add(2 * time.Second)
	}
	return g.signIn(b, link, login)
}

func (g *guestRig) events(id flows.RequestID) []flows.EventType {
	var out []flows.EventType
	for _, ev := range g.db.Events() {
		if ev.RequestID == id && flows.GuestEvent(ev.Type) {
			out = append(out, ev.Type)
		}
	}
	return out
}

var passwordPattern = regexp.MustCompile(`<code id="v1-password">([^<]+)</code>`)

func TestAGuestGetsTheirPasswordOnce(t *testing.T) {
	g := newGuestRig(t)
	req := g.active(t)
	link := g.link(t, req.ID)
	b := g.browser()

	// A GET, or many (link scanners, unfurlers), reveals nothing and spends nothing.
	for range 3 {
		status, body := b.get(link)
		if status != http.StatusOK || !strings.Contains(body, "Continue to sign in") {
			t.Fatalf("open: %d\n%s", status, body)
		}
		for _, secret := range []string{vendor, "sales", "Cluster0", alice, "pw-", "password\"", string(req.ID)} {
			if strings.Contains(body, secret) {
				t.Fatalf("the link's page names %q:\n%s", secret, body)
			}
		}
	}
	if calls := g.prov.Calls(); len(calls) != 2 || calls[1].Op != "wait" {
		t.Fatalf("Atlas was called before the guest confirmed: %+v", calls)
	}
	status, body := g.signInAsGuest(t, b, link, idptest.Login{Subject: "sub-vendor", AMR: []string{"pwd", "mfa"}})
	if status != http.StatusOK || !strings.Contains(body, "Set your password?") || !strings.Contains(body, "You signed in as "+vendor) || strings.Contains(body, "pw-") {
		t.Fatalf("after sign-in: %d\n%s", status, body)
	}
	// The provider was asked for a fresh authentication.
	az := g.idp.Authorizations()
	if last := az[len(az)-1]; last.Prompt[0] != "login" || last.MaxAge == nil || *last.MaxAge != 0 {
		t.Fatalf("authorization %+v", last)
	}
	form := formOf(body)
	resp, err := b.c.PostForm(g.srv.URL+"/id/confirm", form)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reveal: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	m := passwordPattern.FindStringSubmatch(page)
	if m == nil || !strings.HasPrefix(m[1], "pw-") {
		t.Fatalf("no password on the page:\n%s", page)
	}
	password := m[1]
	// It is the reissued one, not the one made at activation.
	if calls := g.prov.Calls(); len(calls) != 3 || calls[2].Op != "rotate" || !strings.HasSuffix(password, "-2") {
		t.Fatalf("calls %+v, password %q", calls, password)
	}
	// A second view (a reload posts again) shows nothing, and says so.
	status, again := b.post(g.srv.URL+"/id/confirm", form)
	if status != http.StatusGone || !strings.Contains(again, "shown once") || strings.Contains(again, password) {
		t.Fatalf("second view: %d\n%s", status, again)
	}
	if status, body := b.get(link); status != http.StatusGone || !strings.Contains(body, "used already") {
		t.Fatalf("the link again: %d\n%s", status, body)
	}
	want := []flows.EventType{flows.EventGuestLinkIssued, flows.EventGuestSignedIn, flows.EventGuestRevealed}
	if got := g.events(req.ID); !equalTypes(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// The password is nowhere in the store: not in the outbox, not in
	// the audit log, not in the sign-in records.
	ds, _ := g.db.Pending(context.Background(), 0)
	for _, d := range ds {
		if strings.Contains(string(d.Payload), password) {
			t.Fatalf("the password is in the outbox: %+v", d)
		}
	}
	for _, ev := range g.db.Events() {
		if strings.Contains(ev.Message, password) {
			t.Fatalf("the password is in the audit log: %+v", ev)
		}
	}
	for _, kind := range []string{kindGuestLink, kindGuestShown, kindSession, kindState, kindGuestWatch, kindGuestCurrent} {
		_ = g.db.EachSignIn(context.Background(), kind, g.clock.Now(), func(_ string, v []byte) error {
			if strings.Contains(string(v), password) {
				t.Fatalf("the password is in a %s record", kind)
			}
			return nil
		})
	}
	// The sponsor and the approver are told each step.
	for _, ev := range g.db.Events() {
		if ev.RequestID == req.ID && flows.GuestEvent(ev.Type) {
			r, _ := g.db.Get(context.Background(), req.ID)
			c, ok := bot.GuestCard(flows.Notice{Event: ev, Request: r}, bot.Viewer{Email: bob})
			if !ok || c.Title == "" {
				t.Fatalf("no card for %s", ev.Type)
			}
		}
	}
}

func equalTypes(a, b []flows.EventType) bool {
	return strings.Join(typeStrings(a), ",") == strings.Join(typeStrings(b), ",")
}

func typeStrings(ts []flows.EventType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

func TestAGuestSignInThatProvesSomethingElseIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		login idptest.Login
		want  string
	}{
		{"another email", idptest.Login{Subject: "sub-other", AMR: []string{"mfa"}}, "you signed in as other@partner.com, but this access is for vendor@partner.com"},
		{"no second factor", idptest.Login{Subject: "sub-vendor", AMR: []string{"pwd"}}, "this access needs one of mfa, hwk"},
		{"an old sign-in", idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}, At: t0.Add(-time.Hour)}, "reused an earlier sign-in"},
		{"an employee", idptest.Login{Subject: "sub-alice", AMR: []string{"mfa"}}, "you signed in as alice@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuestRig(t)
			req := g.active(t)
			link := g.link(t, req.ID)
			b := g.browser()
			status, body := g.signInAsGuest(t, b, link, tc.login)
			if status != http.StatusForbidden || !strings.Contains(body, tc.want) || strings.Contains(body, "<form") {
				t.Fatalf("sign-in: %d\n%s", status, body)
			}
			// Confirming anyway reveals nothing.
			status, body = b.post(g.srv.URL+"/id/confirm", url.Values{"csrf": {"x"}})
			if status == http.StatusOK || strings.Contains(body, "pw-") {
				t.Fatalf("confirm after a refusal: %d\n%s", status, body)
			}
			// The link is spent, the sponsor and approvers told who tried.
			if status, _ := g.browser().get(link); status != http.StatusGone {
				t.Fatalf("the link after a refused sign-in: %d", status)
			}
			want := []flows.EventType{flows.EventGuestLinkIssued, flows.EventGuestRefused}
			if got := g.events(req.ID); !equalTypes(got, want) {
				t.Fatalf("events %v", got)
			}
			if calls := g.prov.Calls(); len(calls) != 2 {
				t.Fatalf("Atlas called: %+v", calls)
			}
		})
	}
}

func TestAGuestLinkExpires(t *testing.T) {
	g := newGuestRig(t)
	req := g.active(t)
	link := g.link(t, req.ID)
	g.clock.Advance(LinkTTL - time.Second)
	if status, _ := g.browser().get(link); status != http.StatusOK {
		t.Fatalf("a second before expiry: %d", status)
	}
	g.clock.Advance(time.Second)
	if status, body := g.browser().get(link); status != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("at expiry: %d\n%s", status, body)
	}
	// The sweep tells the sponsor and the approver, once.
	for range 2 {
		if err := g.x.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []flows.EventType{flows.EventGuestLinkIssued, flows.EventGuestLinkExpired}
	if got := g.events(req.ID); !equalTypes(got, want) {
		t.Fatalf("events %v", got)
	}
	// A link used in time is not told as expired.
	link = g.link(t, req.ID)
	b := g.browser()
	_, body := g.signInAsGuest(t, b, link, idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}})
	if status, page := b.submit(g.srv.URL, body); status != http.StatusOK || !passwordPattern.MatchString(page) {
		t.Fatalf("reveal: %d\n%s", status, page)
	}
	g.clock.Advance(time.Hour)
	if err := g.x.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = append(want, flows.EventGuestLinkIssued, flows.EventGuestSignedIn, flows.EventGuestRevealed)
	if got := g.events(req.ID); !equalTypes(got, want) {
		t.Fatalf("events %v", got)
	}
}

func TestANewGuestLinkReplacesTheOldAndOnlyTheSponsorMakesOne(t *testing.T) {
	g := newGuestRig(t)
	req := g.active(t)
	first := g.link(t, req.ID)
	second := g.link(t, req.ID)
	if status, _ := g.browser().get(first); status != http.StatusGone {
		t.Fatalf("the replaced link: %d", status)
	}
	if status, _ := g.browser().get(second); status != http.StatusOK {
		t.Fatalf("the new link: %d", status)
	}
	if _, err := g.x.GuestLink(context.Background(), actor("UBOB", bob), req.ID); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("the approver makes a link: %v", err)
	}
	if _, err := g.x.GuestLink(context.Background(), actor("UCAROL", "carol@example.com"), req.ID); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("a stranger makes a link: %v", err)
	}
	// Once revoked, no link opens and none is made.
	if _, err := g.svc.Revoke(context.Background(), req.ID, alice, "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.x.GuestLink(context.Background(), actor("UALICE", alice), req.ID); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("a link for a revoked grant: %v", err)
	}
	b := g.browser()
	status, body := g.signInAsGuest(t, b, second, idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}})
	if status == http.StatusOK || strings.Contains(body, "<form") {
		t.Fatalf("sign-in on a revoked grant's link: %d\n%s", status, body)
	}
}

// TestCSRFOnTheGuestForms: neither the start form nor the confirming form
// works without the token made for this browser's page.
func TestCSRFOnTheGuestForms(t *testing.T) {
	g := newGuestRig(t)
	req := g.active(t)
	link := g.link(t, req.ID)
	token := link[strings.LastIndex(link, "/")+1:]
	b := g.browser()
	if status, body := b.get(link); status != http.StatusOK || !strings.Contains(body, "csrf") {
		t.Fatalf("open: %d", status)
	}
	// A form forged elsewhere: the right link, no or another token.
	for _, csrf := range []string{"", "forged", g.x.sign("csrf-guest", "another-browser", token)} {
		status, body := b.post(g.srv.URL+GuestLinkPath+"start", url.Values{"token": {token}, "csrf": {csrf}})
		if status != http.StatusForbidden || !strings.Contains(body, "did not come from the page") {
			t.Fatalf("start with csrf %q: %d\n%s", csrf, status, body)
		}
	}
	// A browser that never opened the link (no pre-sign-in cookie).
	if status, _ := g.browser().post(g.srv.URL+GuestLinkPath+"start", url.Values{"token": {token}, "csrf": {"x"}}); status != http.StatusForbidden {
		t.Fatalf("start without the cookie: %d", status)
	}
	status, body := g.signInAsGuest(t, b, link, idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}})
	if status != http.StatusOK {
		t.Fatalf("sign-in: %d\n%s", status, body)
	}
	for _, csrf := range []string{"", "forged", g.x.sign("csrf-confirm", "another-session")} {
		status, page := b.post(g.srv.URL+"/id/confirm", url.Values{"csrf": {csrf}})
		if status != http.StatusForbidden || strings.Contains(page, "pw-") {
			t.Fatalf("confirm with csrf %q: %d\n%s", csrf, status, page)
		}
	}
	if got := g.events(req.ID); len(got) != 2 {
		t.Fatalf("events after forged confirmations: %v", got)
	}
	// The page's own form still works.
	if status, page := b.submit(g.srv.URL, body); status != http.StatusOK || !passwordPattern.MatchString(page) {
		t.Fatalf("reveal: %d\n%s", status, page)
	}
}

// TestAGuestsReplayedCallbackIsRefused: the provider's redirect back,
// replayed (state and nonce used), signs nobody in again.
func TestAGuestsReplayedCallbackIsRefused(t *testing.T) {
	g := newGuestRig(t)
	req := g.active(t)
	link := g.link(t, req.ID)
	b := g.browser()
	b.stopAt = CallbackPath
	status, body := g.signInAsGuest(t, b, link, idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}})
	if b.stopped == "" {
		t.Fatalf("no callback: %d\n%s", status, body)
	}
	b.stopAt = ""
	callback := b.stopped
	if status, body := b.get(callback); status != http.StatusOK || !strings.Contains(body, "Set your password?") {
		t.Fatalf("callback: %d\n%s", status, body)
	}
	if status, body := b.get(callback); status != http.StatusBadRequest || !strings.Contains(body, "used already") {
		t.Fatalf("replayed callback: %d\n%s", status, body)
	}
	// In another browser too.
	if status, _ := g.browser().get(callback); status != http.StatusBadRequest {
		t.Fatalf("replayed elsewhere: %d", status)
	}
	if got := g.events(req.ID); len(got) != 2 {
		t.Fatalf("events %v", got)
	}
}

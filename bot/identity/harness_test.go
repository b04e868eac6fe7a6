package identity

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

// revoker records the people whose access jitbot ended.
type revoker struct {
	mu    sync.Mutex
	calls []string
}

func (r *revoker) RevokePerson(_ context.Context, person, why string) ([]flows.RequestID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, person+": "+why)
	return []flows.RequestID{"req0000001"}, nil
}

func (r *revoker) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// rig is jitbot's identity surface on TLS, a real provider, a memory
// store and a fake clock.
type rig struct {
	t     *testing.T
	x     *Identities
	idp   *idptest.Provider
	db    *flowstest.Store
	clock *flowstest.Clock
	rev   *revoker
	srv   *httptest.Server
	sent  uint64 // the newest delivery read so far
}

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	admin = "admin@example.com"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	idp := idptest.New(t, srv.URL+CallbackPath)
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: alice, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-bob", Email: bob, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-admin", Email: admin, EmailVerified: true})
	r := &rig{t: t, idp: idp, db: flowstest.NewStore(), clock: flowstest.NewClock(t0), rev: &revoker{}, srv: srv}
	x, err := New(&Config{OIDC: &OIDCConfig{Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURL: srv.URL + CallbackPath}},
		Deps{Records: r.db, Outbox: r.db, Events: r.db, Revoker: r.rev, IsAdmin: func(e string) bool { return e == admin }, Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	r.x = x
	mux.Handle("/id/", x.Handler())
	return r
}

func actor(user, email string) bot.Actor {
	return bot.Actor{Platform: "slack", UserID: user, Email: email}
}

var linkPattern = regexp.MustCompile(`https://[^\s]+/id/l/[A-Za-z0-9_.-]+`)

// ask has user act in chat: it returns the trusted actor, or the link
// sent by DM (rendered as the dispatcher would) and the refusal.
func (r *rig) ask(user, email string) (bot.Actor, string, error) {
	r.t.Helper()
	who, err := r.x.Trust(context.Background(), actor(user, email))
	return who, r.lastLink(), err
}

// lastLink renders the newest sign-in delivery not read yet ("" if none).
func (r *rig) lastLink() string {
	r.t.Helper()
	ds, err := r.db.Pending(context.Background(), 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var dl flows.Delivery
	for _, d := range ds {
		if d.ID > r.sent && d.ID > dl.ID {
			dl = d
		}
	}
	if dl.ID == 0 {
		return ""
	}
	r.sent = dl.ID
	if dl.What != WhatSignIn || strings.Contains(string(dl.Payload), "/id/l/") {
		r.t.Fatalf("delivery %+v: want a sign-in delivery holding no link", dl)
	}
	c, err := r.x.Render(context.Background(), dl)
	if err != nil {
		r.t.Fatalf("render: %v", err)
	}
	return linkPattern.FindString(c.Text)
}

// browser is a person's browser: its own cookies; it follows redirects
// and records every Set-Cookie it is sent.
type browser struct {
	t       *testing.T
	c       *http.Client
	cookies []string
	// stopAt, when set, stops following redirects at URLs with this path
	// (the callback, to replay it).
	stopAt  string
	stopped string
}

type recorder struct {
	b    *browser
	base http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.b.cookies = append(r.b.cookies, resp.Header.Values("Set-Cookie")...)
	}
	return resp, err
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: r.t}
	tr := r.srv.Client().Transport.(*http.Transport).Clone()
	b.c = &http.Client{Jar: jar, Transport: recorder{b: b, base: tr}, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if b.stopAt != "" && req.URL.Path == b.stopAt {
			b.stopped = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
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
	return resp.StatusCode, sb.String()
}

func (b *browser) get(u string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var fieldPattern = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
var actionPattern = regexp.MustCompile(`<form method="post" action="([^"]+)">`)

// submit posts the page's form, as its button does.
func (b *browser) submit(base, body string) (int, string) {
	b.t.Helper()
	m := actionPattern.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no form in the page:\n%s", body)
	}
	return b.post(base+m[1], formOf(body))
}

func formOf(body string) url.Values {
	v := url.Values{}
	for _, f := range fieldPattern.FindAllStringSubmatch(body, -1) {
		v.Set(f[1], htmlUnescape(f[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// signIn opens link in b, signs in at the provider as login, and returns
// the confirmation page.
func (r *rig) signIn(b *browser, link string, login idptest.Login) (int, string) {
	r.t.Helper()
	status, body := b.get(link)
	if status != http.StatusOK {
		r.t.Fatalf("open the link: %d\n%s", status, body)
	}
	r.idp.SignInAs(login)
	return b.submit(r.srv.URL, body)
}

// bind walks the whole journey for user: ask, open, sign in, confirm.
func (r *rig) bind(user, email, subject string) {
	r.t.Helper()
	_, link, err := r.ask(user, email)
	if flows.ErrorCode(err) != flows.EFORBIDDEN || link == "" {
		r.t.Fatalf("unbound %s: %v, link %q", user, err, link)
	}
	b := r.browser()
	status, body := r.signIn(b, link, idptest.Login{Subject: subject})
	if status != http.StatusOK || !strings.Contains(body, "Confirm") {
		r.t.Fatalf("confirmation page: %d\n%s", status, body)
	}
	status, body = b.submit(r.srv.URL, body)
	if status != http.StatusOK || !strings.Contains(body, "Linked") {
		r.t.Fatalf("confirm: %d\n%s", status, body)
	}
}

// findings are the messages the admins were sent.
func (r *rig) findings() []string {
	var out []string
	for _, ev := range r.db.Events() {
		if ev.Type == flows.EventIdentityFinding {
			out = append(out, ev.Message)
		}
	}
	return out
}

func regexpMust(p string) *regexp.Regexp { return regexp.MustCompile(p) }

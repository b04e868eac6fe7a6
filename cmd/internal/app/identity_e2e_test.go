package app_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// loopbackJar keeps cookies per host as a browser does on loopback, which
// it treats as secure: Go's cookiejar sends Secure (__Host-) cookies over
// TLS only, and the rig's jitbot listens on plain http.
type loopbackJar struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (j *loopbackJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m[u.Host] == nil {
		j.m[u.Host] = map[string]string{}
	}
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.m[u.Host], c.Name)
			continue
		}
		j.m[u.Host][c.Name] = c.Value
	}
}

func (j *loopbackJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for k, v := range j.m[u.Host] {
		out = append(out, &http.Cookie{Name: k, Value: v})
	}
	return out
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	formField  = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
)

// signInHTTP walks a sign-in link as a browser: open it, continue to the
// provider, confirm. It returns the last page.
func signInHTTP(t *testing.T, base, link string, steps int) string {
	t.Helper()
	c := &http.Client{Jar: &loopbackJar{m: map[string]map[string]string{}}, Timeout: 20 * time.Second}
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := read(c.Get(link))
	for range steps {
		m := formAction.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form in:\n%s", page)
		}
		form := url.Values{}
		for _, f := range formField.FindAllStringSubmatch(page, -1) {
			form.Set(f[1], strings.ReplaceAll(f[2], "&#43;", "+"))
		}
		page = read(c.PostForm(base+m[1], form))
	}
	return page
}

// TestDisabledAtTheProviderLosesItsGrants: alice links her account and
// holds a grant; at her re-verification the provider refuses her (she was
// disabled): the link goes, her grant is revoked in Atlas, and the admins
// are told.
func TestDisabledAtTheProviderLosesItsGrants(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	idp, addr := withIdentity(t, h)
	idp.AddUser(idptest.User{Subject: "sub-alice", Email: rig.Alice.Email, EmailVerified: true})
	idp.AddUser(idptest.User{Subject: "sub-olivia", Email: rig.Olivia.Email, EmailVerified: true})
	h.Start()
	base := "http://" + addr

	bind := func(user slacktest.User, subject string) {
		t.Helper()
		h.Slash(addr, user, "list")
		link := signInLink.FindString(h.WaitDM(user, "Sign in to link").AllText())
		idp.SignInAs(idptest.Login{Subject: subject})
		if page := signInHTTP(t, base, link, 2); !strings.Contains(page, "Linked") {
			t.Fatalf("linking %s:\n%s", user.Name, page)
		}
	}
	bind(rig.Alice, "sub-alice")
	bind(rig.Olivia, "sub-olivia")

	clock.Advance(30 * 24 * time.Hour)
	if err := h.Main.IdentitySweep(h.Ctx); err != nil {
		t.Fatal(err)
	}
	link := signInLink.FindString(h.WaitDM(rig.Alice, "Sign in again to keep your access").AllText())

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 4h INC-5")
	card := h.WaitDM(rig.Olivia, "INC-5")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")
	if n := len(h.Atlas.Users(rig.Project)); n != 1 {
		t.Fatalf("%d Atlas users", n)
	}

	idp.Disable("sub-alice")
	idp.SignInAs(idptest.Login{Subject: "sub-alice"})
	if page := signInHTTP(t, base, link, 1); !strings.Contains(page, "access_denied") {
		t.Fatalf("a disabled person's re-verification:\n%s", page)
	}
	h.Eventually("alice's grant is revoked in Atlas", func() bool { return len(h.Atlas.Users(rig.Project)) == 0 })
	r := allRequests(t, h)[0]
	if r.State != flows.StateRevoked || r.EndedBy != flows.SystemActor || !strings.Contains(r.EndReason, "refused the sign-in (access_denied)") {
		t.Fatalf("request %s by %q: %q", r.State, r.EndedBy, r.EndReason)
	}
	admin := h.WaitDM(rig.Dana, "is no longer linked")
	if !strings.Contains(admin.AllText(), "Live access revoked: "+string(r.ID)) {
		t.Fatalf("admins told:\n%s", admin.AllText())
	}
	// And alice is a stranger again.
	h.Slash(addr, rig.Alice, "list")
	h.Eventually("a new sign-in link", func() bool { return h.CountDMs(rig.Alice, "Sign in to link") == 2 })
}

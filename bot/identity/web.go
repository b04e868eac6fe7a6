package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/jitbot/jitbot/flows"
)

// The cookies. __Host- cookies are sent over TLS only, to this host only,
// for every path, and cannot be set by a sibling domain.
const (
	cookiePre     = "__Host-jitbot-pre"     // a browser that opened a link, before sign-in
	cookieSession = "__Host-jitbot-session" // a browser signed in, until it confirms
)

// Handler serves the sign-in pages under /id/ on jitbot's public listener.
func (x *Identities) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /id/l/{token}", x.openLink)
	mux.HandleFunc("GET /id/review/{account}", x.openReview)
	mux.HandleFunc("POST /id/start", x.start)
	mux.HandleFunc("GET "+CallbackPath, x.callback)
	mux.HandleFunc("POST /id/confirm", x.confirm)
	// A guest's one-time link (guest.go).
	mux.HandleFunc("GET /id/g/{token}", x.openGuestLink)
	mux.HandleFunc("POST /id/g/start", x.startGuest)
	return mux
}

func (x *Identities) issuerOrigin() string {
	u, err := url.Parse(x.cfg.Issuer)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (x *Identities) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(ttl / time.Second)}
	if ttl <= 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// preCookie is the browser's pre-sign-in cookie, made when missing.
func (x *Identities) preCookie(w http.ResponseWriter, r *http.Request) string {
	if v := cookie(r, cookiePre); len(v) == 43 {
		return v
	}
	v := random()
	x.setCookie(w, cookiePre, v, LinkTTL)
	return v
}

var errLinkGone = []string{"This link was used already, or it has expired (links work once, for 10 minutes).", "Ask jitbot again from chat: it sends a new one."}

// openLink shows what a link is for: the chat account it links, and a
// button to sign in. A GET changes nothing: link scanners and unfurlers
// follow links, and a forwarded link must not bind anyone.
func (x *Identities) openLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	id := x.linkID(token)
	if id == "" {
		x.failed(w, http.StatusNotFound, "Unknown link", "This is not a jitbot sign-in link. Ask jitbot again from chat.")
		return
	}
	var l link
	if err := x.get(r.Context(), kindLink, id, &l); err != nil {
		x.failed(w, http.StatusGone, "Link used or expired", errLinkGone...)
		return
	}
	pre := x.preCookie(w, r)
	p := page{Title: "Link your chat account", Lines: []string{
		fmt.Sprintf("This link is for the %s account %s (%s).", platformName(l.Platform), l.UserID, l.Email),
		"If that is not your chat account, close this page: nothing happens unless you sign in and confirm.",
		"Continue to sign in with your company account; jitbot then asks you to confirm.",
	}}
	switch l.Purpose.Kind {
	case purposeReverify:
		p.Title = "Sign in again"
	case purposeStepUp:
		if l.Purpose.BreakGlass != nil {
			p.Title, p.Lines = breakGlassLinkPage(l)
			break
		}
		p.Title = "Approve with a fresh sign-in"
		p.Lines = []string{
			fmt.Sprintf("This link approves request %s as %s, from the %s account %s.", l.Purpose.Request, l.Purpose.Approver, platformName(l.Platform), l.UserID),
			"The identity provider asks you to sign in again, with your second factor. If you did not click Approve, close this page.",
		}
	}
	p.Form = &form{Action: "/id/start", Button: "Continue to sign in", Fields: map[string]string{"link": token, "csrf": x.sign("csrf-start", pre, token)}}
	x.render(w, http.StatusOK, p)
}

// openReview is where an admin starts reviewing a binding waiting for
// approval. It says nothing of whom the binding is about until an admin
// has signed in: the address names a chat account anyone could guess.
func (x *Identities) openReview(w http.ResponseWriter, r *http.Request) {
	acct := r.PathValue("account")
	var b Binding
	if err := x.get(r.Context(), kindPending, acct, &b); err != nil {
		x.failed(w, http.StatusNotFound, "Nothing to review", "No link between a chat account and a sign-in waits for approval here (approved, or expired after 7 days).")
		return
	}
	pre := x.preCookie(w, r)
	x.render(w, http.StatusOK, page{Title: "Review a link", Lines: []string{
		"A link between a chat account and a sign-in at the identity provider waits for an admin's approval.",
		"Only an admin of jitbot may see and approve it. Sign in with your company account to continue."},
		Form: &form{Action: "/id/start", Button: "Sign in to review", Fields: map[string]string{"review": acct, "csrf": x.sign("csrf-start", pre, "review:"+acct)}}})
}

// describe says what a pending binding links.
func (b Binding) describe() []string {
	verified := "verified"
	if !b.EmailVerified {
		verified = "not verified by the provider"
	}
	return []string{
		fmt.Sprintf("The %s account %s, whose profile says %s,", platformName(b.Platform), b.UserID, b.Email),
		fmt.Sprintf("signed in at the identity provider as %s (%s; subject %s).", b.ProviderEmail, verified, b.Subject),
	}
}

// start sends the browser to the provider, after checking the form came
// from a page jitbot served to this browser.
func (x *Identities) start(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pre := cookie(r, cookiePre)
	token, review := r.PostFormValue("link"), r.PostFormValue("review")
	what := token
	if review != "" {
		what = "review:" + review
	}
	if pre == "" || !x.check(r.PostFormValue("csrf"), "csrf-start", pre, what) {
		x.failed(w, http.StatusForbidden, "Start again", "This form did not come from the page jitbot showed this browser (or cookies are off). Open the link again.")
		return
	}
	pd := pending{Nonce: random(), Verifier: oauth2.GenerateVerifier(), Browser: hash(pre), Started: x.now()}
	switch {
	case token != "":
		id := x.linkID(token)
		var l link
		if id == "" || x.get(ctx, kindLink, id, &l) != nil {
			x.failed(w, http.StatusGone, "Link used or expired", errLinkGone...)
			return
		}
		pd.LinkID, pd.Purpose = id, l.Purpose
	case review != "":
		pd.Purpose = purpose{Kind: purposeReview, Review: review}
	default:
		x.failed(w, http.StatusBadRequest, "Start again", "Nothing to sign in for.")
		return
	}
	state := random()
	if err := x.put(ctx, kindState, state, pd, x.now().Add(LinkTTL)); err != nil {
		x.internal(ctx, w, err)
		return
	}
	opts := authOptions{}
	if pd.Purpose.Kind == purposeStepUp {
		opts = x.stepUpOptions(ctx, pd.Purpose)
	}
	to, err := x.op.authURL(ctx, state, pd.Nonce, pd.Verifier, opts)
	if err != nil {
		x.internal(ctx, w, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (x *Identities) internal(ctx context.Context, w http.ResponseWriter, err error) {
	x.log.ErrorContext(ctx, "sign-in failed", "err", err)
	x.failed(w, http.StatusServiceUnavailable, "Sign-in unavailable", "jitbot could not reach the identity provider or its store. Try again in a minute.")
}

// refusals are the provider's errors that say it will not sign this person
// in (disabled, removed, not allowed to use jitbot).
var refusals = []string{"access_denied", "unauthorized_client", "login_required", "interaction_required", "account_selection_required"}

// callback is where the provider sends the browser back. The state is
// taken (used once), must come back to the browser that started it, and
// the ID token must carry the nonce made for it. The pre-sign-in cookie
// is replaced by a new session: signing in rotates the session.
func (x *Identities) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	var pd pending
	if state := q.Get("state"); state == "" || x.take(ctx, kindState, state, &pd) != nil {
		x.failed(w, http.StatusBadRequest, "Sign-in not recognised", "This sign-in was used already or has expired. Open the link from chat again.")
		return
	}
	pre := cookie(r, cookiePre)
	if pre == "" || hash(pre) != pd.Browser {
		x.failed(w, http.StatusBadRequest, "Sign-in not recognised", "This sign-in was started in another browser. Open the link from chat in this one.")
		return
	}
	if e := q.Get("error"); e != "" {
		x.refused(ctx, w, pd, e)
		return
	}
	claims, err := x.op.exchange(ctx, q.Get("code"), pd.Verifier, pd.Nonce)
	if err != nil {
		x.log.WarnContext(ctx, "sign-in not verified", "err", err)
		x.failed(w, http.StatusBadRequest, "Sign-in not verified", "jitbot could not verify what the identity provider sent back. Open the link from chat again.")
		return
	}
	sid := random()
	if err := x.put(ctx, kindSession, sid, session{Claims: claims, LinkID: pd.LinkID, Purpose: pd.Purpose, Created: x.now()}, x.now().Add(sessionTTL)); err != nil {
		x.internal(ctx, w, err)
		return
	}
	x.setCookie(w, cookiePre, "", 0)
	x.setCookie(w, cookieSession, sid, sessionTTL)
	p, status := x.confirmPage(ctx, pd, claims)
	if p.Form != nil {
		p.Form.Fields = map[string]string{"csrf": x.sign("csrf-confirm", sid)}
	}
	x.render(w, status, p)
}

// refused handles a provider that would not sign the person in. For a
// re-verification that is the provider disabling them: the binding goes,
// and their access with it.
func (x *Identities) refused(ctx context.Context, w http.ResponseWriter, pd pending, code string) {
	if pd.Purpose.Kind == purposeReverify && slices.Contains(refusals, code) {
		var l link
		if err := x.take(ctx, kindLink, pd.LinkID, &l); err == nil {
			if b, ok, err := x.binding(ctx, l.Platform, l.UserID); err == nil && ok {
				_ = x.unbind(ctx, b, "the identity provider refused the sign-in ("+code+")")
			}
		}
	}
	x.failed(w, http.StatusForbidden, "Sign-in refused", "The identity provider did not sign you in ("+code+"). Ask your admins if you think it should.")
}

// confirmPage says what confirming will do.
func (x *Identities) confirmPage(ctx context.Context, pd pending, c Claims) (page, int) {
	who := c.Email
	if who == "" {
		who = "subject " + c.Subject
	}
	switch pd.Purpose.Kind {
	case purposeReview:
		if _, err := x.adminOf(ctx, c.Subject); err != nil {
			return page{Title: "Not an admin", Lines: []string{flows.ErrorMessage(err)}}, http.StatusForbidden
		}
		var b Binding
		if x.get(ctx, kindPending, pd.Purpose.Review, &b) != nil {
			return page{Title: "Nothing to review", Lines: []string{"The link was approved already, or expired."}}, http.StatusGone
		}
		return page{Title: "Approve this link?", Lines: append(b.describe(),
			"You signed in as "+who+". Approving lets jitbot act for that chat account as "+b.Email+"."),
			Form: &form{Action: "/id/confirm", Button: "Approve the link"}}, http.StatusOK
	case purposeStepUp:
		return x.stepUpPage(ctx, pd, c)
	case purposeGuest:
		return x.guestPage(ctx, pd, c)
	}
	var l link
	if x.get(ctx, kindLink, pd.LinkID, &l) != nil {
		return page{Title: "Link used or expired", Lines: errLinkGone}, http.StatusGone
	}
	lines := []string{
		fmt.Sprintf("You signed in as %s.", who),
		fmt.Sprintf("Confirm to link this identity to the %s account %s (%s): jitbot will then act for that account as %s.", platformName(l.Platform), l.UserID, l.Email, l.Email),
	}
	if !c.EmailVerified || c.Email != l.Email {
		lines = append(lines, "The identity provider's verified email is not the chat profile's: after you confirm, an admin must approve the link.")
	}
	return page{Title: "Confirm the link", Lines: lines, Form: &form{Action: "/id/confirm", Button: "Confirm"}}, http.StatusOK
}

// confirm does what the signed-in browser confirmed. The session is used
// once.
func (x *Identities) confirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sid := cookie(r, cookieSession)
	if x.shownBefore(ctx, r.PostFormValue("csrf")) {
		// A guest's password page posted again (a reload): guest.go.
		x.failed(w, http.StatusGone, "Nothing to show", errShownOnce...)
		return
	}
	if sid == "" || !x.check(r.PostFormValue("csrf"), "csrf-confirm", sid) {
		x.failed(w, http.StatusForbidden, "Not confirmed", "This form did not come from the page jitbot showed this browser after you signed in. Open the link from chat again.")
		return
	}
	var s session
	if err := x.take(ctx, kindSession, sid, &s); err != nil {
		x.failed(w, http.StatusGone, "Not confirmed", "Your sign-in expired or was used already. Open the link from chat again.")
		return
	}
	x.setCookie(w, cookieSession, "", 0)
	var p page
	var err error
	switch s.Purpose.Kind {
	case purposeReview:
		p, err = x.approve(ctx, s)
	case purposeStepUp:
		p, err = x.stepUpConfirmed(ctx, s)
	case purposeGuest:
		p, err = x.guestConfirmed(ctx, sid, s)
	default:
		p, err = x.bind(ctx, s)
	}
	if err != nil {
		if code := flows.ErrorCode(err); code == flows.EINTERNAL || code == flows.EUNAVAILABLE {
			x.internal(ctx, w, err)
			return
		}
		x.failed(w, http.StatusForbidden, "Not done", flows.ErrorMessage(err))
		return
	}
	x.render(w, http.StatusOK, p)
}

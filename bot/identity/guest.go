package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Third-party access (flows/thirdparty.go) on the web. Once a guest's
// request is active, its sponsor has a one-time link made (GuestLink): a
// random token, kept in the store only as its hash, valid LinkTTL, one
// live link per request. The guest opens it (a GET shows nothing of the
// access: link scanners and unfurlers follow links), signs in at the
// identity provider afresh (prompt=login, max_age=0, the flow's
// acr_values), and must come back as the guest's verified email with the
// flow's amr or acr; a sign-in as anyone else spends the link. Only the
// confirming POST, CSRF-checked on the signed-in session, sets the
// password (flows.Service.RevealGuest: a reissue, once Atlas applied it)
// and shows it, once, with Cache-Control: no-store; the session and the
// link are spent, so a second view shows nothing. The password is never
// logged, stored or put in the outbox. The sponsor and the approvers hear
// of every step through the outbox, as events.

// Guests is the domain's third-party access (flows.Service).
type Guests interface {
	SponsoredRequest(ctx context.Context, id flows.RequestID, actor string) (*flows.Request, error)
	GuestRequest(ctx context.Context, id flows.RequestID, guest string) (*flows.Request, error)
	NoteGuest(ctx context.Context, id flows.RequestID, t flows.EventType, actor, msg string) (*flows.Request, error)
	RevealGuest(ctx context.Context, id flows.RequestID, guest string) (flows.Credentials, *flows.Request, error)
}

var _ Guests = (*flows.Service)(nil)

// guestLink is a guest's one-time link, stored under the hash of its token.
type guestLink struct {
	Request string    `json:"request"`
	Guest   string    `json:"guest"`
	Sponsor string    `json:"sponsor"`
	ACR     []string  `json:"acr,omitempty"`
	Issued  time.Time `json:"issued"`
}

// guestWatch outlives its link so that a link nobody used is told as
// expired; it goes when the link is used or replaced.
type guestWatch struct {
	Request string    `json:"request"`
	Expires time.Time `json:"expires"`
}

// guestWatchTTL is how long after its link's expiry a watch may still tell
// it (the sweep runs every few minutes, on the leader).
const guestWatchTTL = 24 * time.Hour

// GuestLinkPath is where guest links point.
const GuestLinkPath = "/id/g/"

var errGuestLinkGone = []string{
	"This link was used already, or it has expired (links work once, for 10 minutes).",
	"Ask the person at the company who sponsors your access for a new link.",
}

var errShownOnce = []string{
	"The password was shown once, on the page after you confirmed, and is not shown again.",
	"If you lost it, ask the person at the company who sponsors your access for a new link: it sets a new password.",
}

// GuestLink implements bot.GuestLinker: the sponsor of an active guest
// request has a new one-time link made (replacing any earlier one), sent
// to the guest through the mail relay when one is configured, else
// returned on a card for the sponsor alone to pass on.
func (x *Identities) GuestLink(ctx context.Context, who bot.Actor, id flows.RequestID) (bot.Card, error) {
	if x.deps.Guests == nil {
		return bot.Card{}, flows.Errorf(flows.EUNAVAILABLE, "third-party access is not wired in this jitbot")
	}
	r, err := x.deps.Guests.SponsoredRequest(ctx, id, who.Email)
	if err != nil {
		return bot.Card{}, err
	}
	now := x.now()
	x.dropGuestLink(ctx, id)
	token := random()
	key := hash(token)
	expires := now.Add(LinkTTL)
	l := guestLink{Request: string(r.ID), Guest: r.Guest.Email, Sponsor: r.Requester, ACR: r.Guest.ACRValues, Issued: now}
	if err := x.put(ctx, kindGuestLink, key, l, expires); err != nil {
		return bot.Card{}, err
	}
	if err := x.deps.Records.PutSignIn(ctx, kindGuestCurrent, string(r.ID), []byte(key), expires); err != nil {
		return bot.Card{}, fmt.Errorf("identity: save the guest link: %w", err)
	}
	if err := x.put(ctx, kindGuestWatch, key, guestWatch{Request: string(r.ID), Expires: expires}, expires.Add(guestWatchTTL)); err != nil {
		return bot.Card{}, err
	}
	u := x.base + GuestLinkPath + token
	until := expires.UTC().Format("15:04 UTC")
	c := bot.Card{Title: "One-time link for " + r.Guest.Email, Tone: bot.ToneWarning,
		Status: "Valid until " + who.Viewer().FormatTime(expires) + ", once"}
	how := "given to " + r.Requester + " to pass on"
	if x.smtp != nil {
		body := "Hello,\n\n" + r.Requester + " has given you time-limited access to a database, until " + r.ExpiresAt.UTC().Format(time.RFC1123) + ".\n\n" +
			"To receive it, open this link, sign in with your account (" + r.Guest.Email + ") and your second factor, and confirm. " +
			"A password is then shown to you once.\n\n" + u + "\n\nThe link works once, until " + until + ". If you did not expect it, ignore this message.\n"
		if err := x.smtp.sendMail(ctx, x.deps.MailTLS, r.Guest.Email, "Your database access from "+r.Requester, body, now); err != nil {
			x.dropGuestLink(ctx, id)
			x.log.WarnContext(ctx, "guest link not mailed", "request_id", r.ID, "err", err)
			return bot.Card{}, flows.Errorf(flows.EUNAVAILABLE, "the mail relay did not take the link for %s, so none was made: try again in a minute, or ask an admin", r.Guest.Email)
		}
		how = "sent by email to " + r.Guest.Email
		c.Text = "A one-time link went by email to " + r.Guest.Email + ". They open it, sign in with their own account and multi-factor authentication, confirm, and see a password once."
	} else {
		c.Text = "Pass this link to " + r.Guest.Email + " yourself, by a channel you trust. It works once, for 10 minutes, and only for someone who signs in as " + r.Guest.Email +
			" with multi-factor authentication; the password is then shown to them once:\n" + u
	}
	if _, err := x.deps.Guests.NoteGuest(ctx, r.ID, flows.EventGuestLinkIssued, r.Requester, "Valid until "+until+", once; "+how+"."); err != nil {
		x.dropGuestLink(ctx, id)
		return bot.Card{}, err
	}
	x.log.InfoContext(ctx, "guest link made", "request_id", r.ID, "mailed", x.smtp != nil)
	return c, nil
}

// dropGuestLink spends the live link of request id, if any: a new link
// replaces it, and a failed one must not stay usable.
func (x *Identities) dropGuestLink(ctx context.Context, id flows.RequestID) {
	raw, err := x.deps.Records.TakeSignIn(ctx, kindGuestCurrent, string(id), x.now())
	if err != nil {
		return
	}
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestWatch, string(raw))
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestLink, string(raw))
}

// guestLinkOf reads the live link a token names; key is its hash.
func (x *Identities) guestLinkOf(ctx context.Context, token string) (guestLink, string, bool) {
	if len(token) != 43 {
		return guestLink{}, "", false
	}
	key := hash(token)
	var l guestLink
	if err := x.get(ctx, kindGuestLink, key, &l); err != nil {
		return guestLink{}, "", false
	}
	return l, key, true
}

// openGuestLink shows a guest what the link is for without naming the
// access, its resource or the guest: whoever or whatever follows the link
// learns nothing, and nothing changes. The form goes on.
func (x *Identities) openGuestLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if _, _, ok := x.guestLinkOf(r.Context(), token); !ok {
		x.failed(w, http.StatusGone, "Link used or expired", errGuestLinkGone...)
		return
	}
	pre := x.preCookie(w, r)
	x.render(w, http.StatusOK, page{Title: "Sign in to receive your access", Lines: []string{
		"Someone at the company has given you time-limited access. To receive it, sign in with the account it was given to, with your second factor.",
		"After you sign in, jitbot asks you to confirm; only then is your password set and shown, once. Have a safe place ready for it.",
	}, Form: &form{Action: GuestLinkPath + "start", Button: "Continue to sign in", Fields: map[string]string{"token": token, "csrf": x.sign("csrf-guest", pre, token)}}})
}

// startGuest sends the guest to sign in afresh, after checking the form
// came from the page jitbot served this browser. The link stays live until
// the guest confirms, or a sign-in as someone else spends it.
func (x *Identities) startGuest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pre, token := cookie(r, cookiePre), r.PostFormValue("token")
	if pre == "" || !x.check(r.PostFormValue("csrf"), "csrf-guest", pre, token) {
		x.failed(w, http.StatusForbidden, "Start again", "This form did not come from the page jitbot showed this browser (or cookies are off). Open the link again.")
		return
	}
	l, key, ok := x.guestLinkOf(ctx, token)
	if !ok {
		x.failed(w, http.StatusGone, "Link used or expired", errGuestLinkGone...)
		return
	}
	now := x.now()
	pd := pending{Nonce: random(), Verifier: oauth2.GenerateVerifier(), Browser: hash(pre), Started: now, LinkID: key,
		Purpose: purpose{Kind: purposeGuest, Request: l.Request, ClickAt: now, ACR: l.ACR}}
	state := random()
	if err := x.put(ctx, kindState, state, pd, now.Add(LinkTTL)); err != nil {
		x.internal(ctx, w, err)
		return
	}
	to, err := x.op.authURL(ctx, state, pd.Nonce, pd.Verifier, authOptions{Fresh: true, ACR: l.ACR})
	if err != nil {
		x.internal(ctx, w, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// judgeGuest checks a guest's sign-in against their request: the link
// still live, the request active and for the email the provider verified,
// a fresh sign-in with the flow's amr or acr.
func (x *Identities) judgeGuest(ctx context.Context, linkKey string, p purpose, c Claims) (*flows.Request, error) {
	var l guestLink
	if err := x.get(ctx, kindGuestLink, linkKey, &l); err != nil || l.Request != p.Request {
		return nil, flows.Errorf(flows.ENOTFOUND, "%s", strings.Join(errGuestLinkGone, " "))
	}
	if x.deps.Guests == nil {
		return nil, flows.Errorf(flows.EUNAVAILABLE, "third-party access is not wired in this jitbot")
	}
	r, err := x.deps.Guests.GuestRequest(ctx, flows.RequestID(l.Request), l.Guest)
	if err != nil {
		return nil, err
	}
	if err := r.Guest.CheckSignIn(c.Email, c.EmailVerified, flows.MFAProof{ClickAt: p.ClickAt, AuthTime: c.AuthTime, AMR: c.AMR, ACR: c.ACR}); err != nil {
		return r, err
	}
	return r, nil
}

// guestPage is what a guest sees back from the provider: a refusal (the
// link spent, the sponsor told) or the form that sets the password.
func (x *Identities) guestPage(ctx context.Context, pd pending, c Claims) (page, int) {
	r, err := x.judgeGuest(ctx, pd.LinkID, pd.Purpose, c)
	switch {
	case err == nil:
	case r != nil && flows.ErrorCode(err) == flows.EFORBIDDEN:
		x.refuseGuest(ctx, pd.LinkID, r.ID, c, err)
		return page{Title: "Sign-in refused", Lines: []string{flows.ErrorMessage(err)}}, http.StatusForbidden
	case flows.ErrorCode(err) == flows.EUNAVAILABLE || flows.ErrorCode(err) == flows.EINTERNAL:
		x.log.ErrorContext(ctx, "guest sign-in failed", "err", err)
		return page{Title: "Unavailable", Lines: []string{"jitbot could not check your access just now. Open the link again in a minute."}}, http.StatusServiceUnavailable
	default:
		return page{Title: "Link used or expired", Lines: []string{flows.ErrorMessage(err)}}, http.StatusGone
	}
	how := strings.Join(c.AMR, ", ")
	if c.ACR != "" {
		how = strings.TrimPrefix(how+"; assurance "+c.ACR, "; ")
	}
	if _, err := x.deps.Guests.NoteGuest(ctx, r.ID, flows.EventGuestSignedIn, r.Guest.Email,
		fmt.Sprintf("Signed in at the identity provider as %s (%s) at %s.", c.Email, how, c.AuthTime.UTC().Format("15:04:05 UTC"))); err != nil {
		x.log.WarnContext(ctx, "could not record a guest's sign-in", "request_id", r.ID, "err", err)
	}
	return page{Title: "Set your password?", Lines: []string{
		fmt.Sprintf("You signed in as %s.", c.Email),
		fmt.Sprintf("%s sponsors your access: %s, until %s.", r.Requester, flows.DescribeAccess(r), bot.Viewer{}.FormatTime(r.ExpiresAt)),
		"Confirm to set your password. It is shown once, on the next page, and never again: have a safe place ready for it.",
	}, Form: &form{Action: "/id/confirm", Button: "Set and show my password"}}, http.StatusOK
}

// refuseGuest spends the link a wrong sign-in used, and tells the sponsor
// and the approvers who tried.
func (x *Identities) refuseGuest(ctx context.Context, key string, id flows.RequestID, c Claims, why error) {
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestWatch, key)
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestLink, key)
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestCurrent, string(id))
	msg := fmt.Sprintf("Someone signed in as %s (subject %s): %s.", orSubject(c), c.Subject, strings.TrimSuffix(flows.ErrorMessage(why), "."))
	if _, err := x.deps.Guests.NoteGuest(ctx, id, flows.EventGuestRefused, flows.SystemActor, msg); err != nil {
		x.log.WarnContext(ctx, "could not record a refused guest sign-in", "request_id", id, "err", err)
	}
	x.log.WarnContext(ctx, "guest sign-in refused", "request_id", id, "subject", c.Subject)
}

// guestConfirmed is the confirming POST: the link is spent first (one
// reveal per link, whichever replica or tab gets there first), the
// sign-in judged again, and only then the password set and shown.
func (x *Identities) guestConfirmed(ctx context.Context, sid string, s session) (page, error) {
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestWatch, s.LinkID)
	var l guestLink
	if err := x.take(ctx, kindGuestLink, s.LinkID, &l); err != nil {
		return page{}, flows.Errorf(flows.ECONFLICT, "%s", strings.Join(errGuestLinkGone, " "))
	}
	_ = x.deps.Records.DeleteSignIn(ctx, kindGuestCurrent, l.Request)
	// Judged again on what the session proved: the link is gone now, so
	// judge the request, not the link.
	r, err := x.deps.Guests.GuestRequest(ctx, flows.RequestID(l.Request), l.Guest)
	if err != nil {
		return page{}, err
	}
	c := s.Claims
	if err := r.Guest.CheckSignIn(c.Email, c.EmailVerified, flows.MFAProof{ClickAt: s.Purpose.ClickAt, AuthTime: c.AuthTime, AMR: c.AMR, ACR: c.ACR}); err != nil {
		return page{}, err
	}
	creds, r, err := x.deps.Guests.RevealGuest(ctx, r.ID, r.Guest.Email)
	if err != nil {
		return page{}, err
	}
	// A second view (a reload posts the form again, without the session
	// cookie, which is gone) says the password was shown: marked by the
	// form's token.
	_ = x.deps.Records.PutSignIn(ctx, kindGuestShown, hash(x.sign("csrf-confirm", sid)), []byte(l.Request), x.now().Add(sessionTTL))
	p := page{Title: "Your access", Lines: []string{
		fmt.Sprintf("%s, until %s. Copy the password now: this page is not kept, and it is not shown again.", flows.DescribeAccess(r), bot.Viewer{}.FormatTime(r.ExpiresAt)),
	}}
	for i, f := range creds.Fields {
		text := f.Value
		if f.IsSecret() {
			text = f.Secret.Reveal()
		}
		if text == "" {
			continue
		}
		p.Values = append(p.Values, value{ID: "v" + fmt.Sprint(i) + "-" + f.Key, Label: f.Label, Text: text})
	}
	if creds.Instructions != "" {
		p.Lines = append(p.Lines, creds.Instructions)
	}
	x.log.InfoContext(ctx, "guest credentials shown", "request_id", r.ID)
	return p, nil
}

// shownBefore reports whether a password was shown by the confirming form
// whose token is csrf.
func (x *Identities) shownBefore(ctx context.Context, csrf string) bool {
	if csrf == "" {
		return false
	}
	_, err := x.deps.Records.SignIn(ctx, kindGuestShown, hash(csrf), x.now())
	return err == nil
}

// sweepGuestLinks tells the sponsor and the approvers of links that ran
// out unused.
func (x *Identities) sweepGuestLinks(ctx context.Context, now time.Time) error {
	type due struct {
		key string
		w   guestWatch
	}
	var dues []due
	err := x.deps.Records.EachSignIn(ctx, kindGuestWatch, now, func(key string, v []byte) error {
		var w guestWatch
		if err := json.Unmarshal(v, &w); err != nil {
			return fmt.Errorf("identity: read a guest link's watch: %w", err)
		}
		if !now.Before(w.Expires) {
			dues = append(dues, due{key, w})
		}
		return nil
	})
	if err != nil || x.deps.Guests == nil {
		return err
	}
	for _, d := range dues {
		// Taken first: of two sweeps, one tells.
		if _, err := x.deps.Records.TakeSignIn(ctx, kindGuestWatch, d.key, now); err != nil {
			continue
		}
		_, err := x.deps.Guests.NoteGuest(ctx, flows.RequestID(d.w.Request), flows.EventGuestLinkExpired, flows.SystemActor,
			"Not used by "+d.w.Expires.UTC().Format("15:04 UTC")+".")
		if err != nil && flows.ErrorCode(err) != flows.ECONFLICT {
			x.log.WarnContext(ctx, "could not record an expired guest link", "request_id", d.w.Request, "err", err)
		}
	}
	return nil
}

package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Third-party access: a sponsor (an employee the flow names) asks for
// time-bound access for an external person, known only by an email. The
// request goes through the flow's approvals like any other; once active,
// nothing secret goes to chat: the sponsor has a one-time link made for
// the guest, who signs in at the company's identity provider (a guest
// account) with multi-factor authentication, and confirms; only then is
// the database user's password set (reissued) and shown to them, once.
// flows judges who may sponsor whom, what the guest's sign-in must prove,
// and records every step; the link and the sign-in are the web adapter's
// (bot/identity).

// ThirdPartySpec is a flow's third_party as written.
type ThirdPartySpec struct {
	// Sponsors may ask for access for a guest: people or groups, never
	// everyone (a sponsor vouches for the guest).
	Sponsors []string
	// EmailDomains are the domains a guest's email may be at (exact,
	// lower case: partner.com admits vendor@partner.com only).
	EmailDomains []string
	// AMR and ACRValues are what the guest's sign-in must prove, as a
	// flow's step_up: one of the methods in the token's amr, or its acr
	// among acr_values. At least one is needed.
	AMR       []string
	ACRValues []string
}

// ThirdParty is a flow's compiled third_party; nil on a flow without one.
type ThirdParty struct {
	Sponsors     []Principal
	EmailDomains []string
	AMR          []string
	ACRValues    []string
}

// Guest is the external person a request is for; nil for every other
// request. Copied from the flow at submission, as the approvers are.
type Guest struct {
	Email     string
	AMR       []string
	ACRValues []string
}

// The events of a guest's way to their credentials. They change no state;
// the sponsor and the approvers are told of each.
const (
	// EventGuestLinkIssued: the sponsor had a one-time link made (Message
	// says how it travels and until when it works).
	EventGuestLinkIssued EventType = "guest_link_issued"
	// EventGuestSignedIn: the guest signed in at the identity provider,
	// as the guest's email, with what the flow asks.
	EventGuestSignedIn EventType = "guest_signed_in"
	// EventGuestRefused: a sign-in on the link proved something else
	// (another email, no multi-factor): the link is spent.
	EventGuestRefused EventType = "guest_refused"
	// EventGuestRevealed: the guest confirmed and was shown a new
	// password, once.
	EventGuestRevealed EventType = "guest_revealed"
	// EventGuestLinkExpired: a link nobody used ran out.
	EventGuestLinkExpired EventType = "guest_link_expired"
)

// GuestEvent reports whether t is one of the guest's steps.
func GuestEvent(t EventType) bool {
	switch t {
	case EventGuestLinkIssued, EventGuestSignedIn, EventGuestRefused, EventGuestRevealed, EventGuestLinkExpired:
		return true
	}
	return false
}

// compileThirdParty validates a flow's third_party. It runs after the
// kind's own checks, which set the flow's Auth.
func (p *Policy) compileThirdParty(v *validator, at string, fs FlowSpec, f *Flow) {
	s := fs.ThirdParty
	if s == nil {
		return
	}
	at += ".third_party"
	if len(s.Sponsors) == 0 {
		v.add(at+".sponsors", "required: name who may sponsor a guest, for example [group:partner-managers]")
	}
	tp := &ThirdParty{AMR: slices.Clone(s.AMR), ACRValues: slices.Clone(s.ACRValues)}
	for j, sp := range s.Sponsors {
		path := fmt.Sprintf("%s.sponsors[%d]", at, j)
		if sp == "*" {
			v.add(path, "a sponsor vouches for the guest: name people or groups, not everyone")
			continue
		}
		if pr, ok := p.parsePrincipal(v, path, sp); ok {
			tp.Sponsors = append(tp.Sponsors, pr)
		}
	}
	if len(s.EmailDomains) == 0 {
		v.add(at+".email_domains", "required: the domains a guest's email may be at, for example [partner.com]")
	}
	for j, d := range s.EmailDomains {
		path := fmt.Sprintf("%s.email_domains[%d]", at, j)
		if err := checkDomain(d); err != nil {
			v.add(path, "%v", err)
			continue
		}
		tp.EmailDomains = append(tp.EmailDomains, d)
	}
	if len(s.AMR) == 0 && len(s.ACRValues) == 0 {
		v.add(at, "name amr (methods such as mfa, otp, hwk) or acr_values: a guest signs in with multi-factor authentication, and without one of them jitbot cannot tell it from a password")
	}
	for i, a := range append(slices.Clone(s.ACRValues), s.AMR...) {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t\n") {
			v.add(at, "%q (entry %d) is not a single word", a, i+1)
		}
	}
	switch {
	case f.Kind != "" && f.Kind != KindDatabaseUser:
		v.add(at, "only flows of database users (with a password) can grant access to a guest, not %s", aKind(f.Kind))
	case f.Auth.Passwordless():
		v.add(at, "a guest gets a password, shown once after they sign in: the flow's database users sign in with %s, which a guest does not have", f.Auth)
	}
	if fs.BreakGlass != nil {
		v.add(at, "a break-glass flow cannot grant access to a guest: guests go through approvals")
	}
	if fs.AutoApprove {
		v.add(at, "access for someone outside the company is always approved by a person: remove auto_approve")
	}
	f.ThirdParty = tp
}

// checkDomain accepts a lower-case DNS name of two labels or more.
func checkDomain(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("empty: give a domain such as partner.com")
	case strings.ContainsAny(d, "@*"):
		return fmt.Errorf("%q: give the domain alone (partner.com), without @ or wildcards", excerpt(d))
	case d != strings.ToLower(d):
		return fmt.Errorf("%q: write domains in lower case", excerpt(d))
	case len(d) > 253 || !strings.Contains(d, "."):
		return fmt.Errorf("%q is not a domain name (such as partner.com)", excerpt(d))
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
			return fmt.Errorf("%q is not a domain name (such as partner.com)", excerpt(d))
		}
	}
	return nil
}

// matchGuest finds the flow through which requester may sponsor access for
// a guest: the third-party flows that cover the target and admit the
// sponsor, the most specific first (as matchTagged orders flows).
func (p *Policy) matchGuest(requester string, kind Kind, r Resource, tags TargetTags, roles []string) (*Flow, error) {
	r, err := p.Resolve(r)
	if err != nil {
		return nil, err
	}
	var covering, allowed []*Flow
	for _, f := range p.flows {
		if f.ThirdParty == nil || f.Kind != kind || f.Integration != r.Integration {
			continue
		}
		if _, ok := f.bestGlob(r, tags); !ok {
			continue
		}
		covering = append(covering, f)
		if p.admits(f.ThirdParty.Sponsors, requester) && offersAll(f, roles) {
			allowed = append(allowed, f)
		}
	}
	switch {
	case len(covering) == 0:
		return nil, Errorf(EFORBIDDEN, "no access flow grants access to %s for someone outside the company (third_party)", r)
	case len(allowed) == 0:
		return nil, Errorf(EFORBIDDEN, "you may not sponsor a guest's %s on %s: the flows for guests that cover it (%s) name other sponsors or other roles",
			FormatRoles(roles), r, flowNames(covering))
	}
	best := allowed[0]
	bs, _ := best.bestGlob(r, tags)
	for _, f := range allowed[1:] {
		if s, _ := f.bestGlob(r, tags); bs.less(s) {
			best, bs = f, s
		}
	}
	return best, nil
}

// admitGuest checks the guest's email against the flow and returns what
// the request records of them.
func (f *Flow) admitGuest(requester, email string) (*Guest, error) {
	guest, err := NormalizeEmail(email)
	if err != nil {
		return nil, Errorf(EINVALID, "the guest must be named by an email address: %s", ErrorMessage(err))
	}
	if guest == requester {
		return nil, Errorf(EINVALID, "you cannot sponsor yourself: ask for access the usual way (request ... without for)")
	}
	_, domain, _ := strings.Cut(guest, "@")
	if !slices.Contains(f.ThirdParty.EmailDomains, domain) {
		return nil, Errorf(EFORBIDDEN, "access flow %s admits guests at %s, not at %s", f.Name, strings.Join(f.ThirdParty.EmailDomains, ", "), domain)
	}
	return &Guest{Email: guest, AMR: slices.Clone(f.ThirdParty.AMR), ACRValues: slices.Clone(f.ThirdParty.ACRValues)}, nil
}

// CheckSignIn judges a guest's sign-in: the identity provider must have
// verified the guest's email, and the sign-in must be a fresh one (at or
// after startedAt, when the guest was sent to sign in, and within
// StepUpWindow of it) with what the flow asks (amr, acr), as a step-up.
func (g *Guest) CheckSignIn(email string, verified bool, p MFAProof) error {
	switch {
	case !verified || email == "":
		return Errorf(EFORBIDDEN, "the identity provider did not vouch for your email address: this access is for %s", g.Email)
	case !strings.EqualFold(email, g.Email):
		return Errorf(EFORBIDDEN, "you signed in as %s, but this access is for %s: the link is spent, and your sponsor was told", email, g.Email)
	}
	click := p.ClickAt.Truncate(time.Second)
	switch {
	case p.ClickAt.IsZero() || p.AuthTime.IsZero():
		return Errorf(EFORBIDDEN, "the identity provider did not say when you signed in (auth_time)")
	case p.AuthTime.Before(click):
		return Errorf(EFORBIDDEN, "the identity provider reused an earlier sign-in (%s): a fresh one is needed", p.AuthTime.UTC().Format(time.RFC3339))
	case p.AuthTime.After(p.ClickAt.Add(StepUpWindow)):
		return Errorf(EFORBIDDEN, "you signed in more than %s after starting: open the link again", FormatDuration(StepUpWindow))
	}
	if len(g.AMR) > 0 && !slices.ContainsFunc(p.AMR, func(m string) bool { return slices.Contains(g.AMR, m) }) {
		return Errorf(EFORBIDDEN, "your sign-in used %s; this access needs one of %s", amrText(p.AMR), strings.Join(g.AMR, ", "))
	}
	if len(g.ACRValues) > 0 && !slices.Contains(g.ACRValues, p.ACR) {
		acr := p.ACR
		if acr == "" {
			acr = "no acr"
		}
		return Errorf(EFORBIDDEN, "your sign-in's assurance was %s; this access needs %s", acr, strings.Join(g.ACRValues, " or "))
	}
	return nil
}

// noteGuest records one of the guest's steps on an active guest request.
func (r *Request) noteGuest(now time.Time, t EventType, actor, msg string) (Event, error) {
	if r.Guest == nil {
		return Event{}, Errorf(EINVALID, "request %s is not for a guest", r.ID)
	}
	if !GuestEvent(t) {
		return Event{}, Errorf(EINTERNAL, "%s is not a guest's step", t)
	}
	if r.State != StateActive {
		return Event{}, Errorf(ECONFLICT, "request %s is %s, not active", r.ID, r.describeState())
	}
	if t == EventGuestRevealed {
		r.CredentialsIssuedAt = now
	}
	ev := r.event(t, actor, now, StateActive)
	ev.Message = msg
	return ev, nil
}

// SponsoredRequest returns an active guest request for its sponsor to have
// a link made; anyone else is answered as for an unknown id, or refused.
func (s *Service) SponsoredRequest(ctx context.Context, id RequestID, actor string) (*Request, error) {
	actor, err := NormalizeEmail(actor)
	if err != nil {
		return nil, err
	}
	r, err := s.visible(ctx, id, actor)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Guest == nil:
		return nil, Errorf(EINVALID, "request %s is not for a guest: there is no guest link to make", r.ID)
	case r.Requester != actor:
		return nil, Errorf(EFORBIDDEN, "only %s, who sponsors %s, can have a guest link made for request %s", r.Requester, r.Guest.Email, r.ID)
	case r.State != StateActive:
		return nil, Errorf(ECONFLICT, "request %s is %s, not active: no guest link can be made", r.ID, r.describeState())
	}
	return r, nil
}

// GuestRequest returns the request a guest link names, active and for
// guest, or refuses.
func (s *Service) GuestRequest(ctx context.Context, id RequestID, guest string) (*Request, error) {
	r, err := s.store.Get(ctx, id)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, Errorf(ENOTFOUND, "this access no longer exists")
	case err != nil:
		return nil, err
	case r.Guest == nil || !strings.EqualFold(r.Guest.Email, guest):
		return nil, Errorf(EFORBIDDEN, "this access is not for %s", guest)
	case r.State != StateActive:
		return nil, Errorf(ECONFLICT, "this access is %s, not active", r.describeState())
	}
	return r, nil
}

// NoteGuest records a step of the guest's (t one of the guest events but
// EventGuestRevealed, which RevealGuest records) and tells the sponsor and
// the approvers.
func (s *Service) NoteGuest(ctx context.Context, id RequestID, t EventType, actor, msg string) (*Request, error) {
	if t == EventGuestRevealed {
		return nil, Errorf(EINTERNAL, "the reveal is recorded by RevealGuest")
	}
	return s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		return r.noteGuest(now, t, actor, truncate(msg, 300))
	})
}

// RevealGuest sets a new password for the guest of request id (a reissue,
// returning once Atlas has applied it, as a rotation does) and returns it,
// with the access details, for the web page that shows it once. The secret
// is neither kept nor announced: only the event that it was shown is.
func (s *Service) RevealGuest(ctx context.Context, id RequestID, guest string) (Credentials, *Request, error) {
	r, err := s.GuestRequest(ctx, id, guest)
	if err != nil {
		return Credentials{}, nil, err
	}
	re, ok := s.reissuer(r.Kind)
	if !ok || r.Auth.Passwordless() {
		return Credentials{}, nil, Errorf(EINVALID, "request %s has no password to set", r.ID)
	}
	creds, err := re.Reissue(ctx, s.grant(r))
	if err != nil {
		return Credentials{}, nil, err
	}
	r, err = s.transition(ctx, id, func(r *Request, now time.Time) (Event, error) {
		return r.noteGuest(now, EventGuestRevealed, r.Guest.Email, "")
	})
	if err != nil {
		// Revoked meanwhile: the password just set goes with the user.
		return Credentials{}, nil, err
	}
	return s.withInstructions(r, creds), r, nil
}

// guestAudience is who hears of a guest's steps: the sponsor and the
// approvers (those who decided, and those who could).
func guestAudience(r *Request) []string {
	out := []string{r.Requester}
	for _, d := range r.Approvals {
		out = append(out, d.By)
	}
	return dedupe(append(out, r.Approvers...))
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// sameGuest reports whether two requests are for the same person: both for
// the requester, or both for one guest.
func sameGuest(a, b *Guest) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Email == b.Email
}

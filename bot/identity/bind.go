package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// bind links the chat account a link named to the identity that signed in
// and confirmed. The link is used up here. The binding is keyed on the
// provider's subject; it is trusted at once only when the provider's
// verified email is the chat profile's, otherwise an admin approves it.
func (x *Identities) bind(ctx context.Context, s session) (page, error) {
	var l link
	if err := x.take(ctx, kindLink, s.LinkID, &l); err != nil {
		return page{}, flows.Errorf(flows.ECONFLICT, "this link was used already or has expired: ask jitbot again from chat")
	}
	c, now := s.Claims, x.now()
	acct := accountKey(l.Platform, l.UserID)
	old, bound, err := x.binding(ctx, l.Platform, l.UserID)
	if err != nil {
		return page{}, err
	}
	done := page{Title: "Linked", Lines: []string{fmt.Sprintf("jitbot now acts for the %s account %s as %s. You can close this page and go back to chat.", platformName(l.Platform), l.UserID, l.Email)}}
	if bound && old.Subject == c.Subject {
		// The same person proving it again: a re-verification. The email
		// the binding acts as stays what was proven when it was made.
		old.VerifiedAt, old.ProviderEmail, old.EmailVerified, old.ReverifySent = now, c.Email, c.EmailVerified, time.Time{}
		if err := x.put(ctx, kindBinding, acct, old, time.Time{}); err != nil {
			return page{}, err
		}
		_ = x.deps.Records.DeleteSignIn(ctx, kindSent, acct)
		done.Lines = []string{fmt.Sprintf("Verified again: jitbot keeps acting for the %s account %s as %s.", platformName(l.Platform), l.UserID, old.Email)}
		return done, nil
	}
	if bound && l.Purpose.Kind == purposeReverify {
		// Someone else signed in to re-verify this account.
		_ = x.unbind(ctx, old, "re-verified by another identity ("+c.Email+")")
		return page{}, flows.Errorf(flows.EFORBIDDEN, "this chat account is linked to another identity: its link was removed and the admins told")
	}
	b := Binding{Platform: l.Platform, UserID: l.UserID, Subject: c.Subject, ProviderEmail: c.Email, EmailVerified: c.EmailVerified,
		Email: l.Email, BoundAt: now, VerifiedAt: now}
	if c.EmailVerified && c.Email != "" && c.Email == l.Email && !bound {
		if err := x.put(ctx, kindBinding, acct, b, time.Time{}); err != nil {
			return page{}, err
		}
		_ = x.deps.Records.DeleteSignIn(ctx, kindPending, acct)
		_ = x.deps.Records.DeleteSignIn(ctx, kindSent, acct)
		x.log.InfoContext(ctx, "chat account bound", "platform", l.Platform, "user_id", l.UserID)
		return done, nil
	}
	if err := x.put(ctx, kindPending, acct, b, now.Add(pendingTTL)); err != nil {
		return page{}, err
	}
	why := "the identity provider's email is not the chat profile's"
	switch {
	case bound:
		why = "the chat account is linked to another identity (" + old.ProviderEmail + ")"
	case !c.EmailVerified:
		why = "the identity provider did not say the email is verified"
	}
	x.finding(ctx, fmt.Sprintf("%s account %s (profile %s) signed in as %s (subject %s), but %s: an admin must approve the link at %s",
		platformName(l.Platform), l.UserID, l.Email, c.Email, c.Subject, why, x.base+"/id/review/"+acct))
	return page{Title: "Waiting for an admin", Lines: []string{
		"You signed in as " + c.Email + ", but " + why + ".",
		"The admins were told; once one of them approves the link, jitbot acts for you.",
	}}, nil
}

// approve is an admin approving a pending binding. The admin is who their
// own binding says: a subject bound to a chat account whose email is an
// admin's.
func (x *Identities) approve(ctx context.Context, s session) (page, error) {
	admin, err := x.adminOf(ctx, s.Claims.Subject)
	if err != nil {
		return page{}, err
	}
	var b Binding
	if err := x.get(ctx, kindPending, s.Purpose.Review, &b); err != nil {
		return page{}, flows.Errorf(flows.ENOTFOUND, "no link waits for approval there (approved already, or expired)")
	}
	if b.Subject == s.Claims.Subject {
		return page{}, flows.Errorf(flows.EFORBIDDEN, "you cannot approve a link of your own identity: ask another admin")
	}
	if err := x.take(ctx, kindPending, s.Purpose.Review, &b); err != nil {
		return page{}, flows.Errorf(flows.ECONFLICT, "another admin approved it meanwhile")
	}
	now := x.now()
	b.ApprovedBy, b.BoundAt, b.VerifiedAt = admin, now, now
	if err := x.put(ctx, kindBinding, b.Account(), b, time.Time{}); err != nil {
		return page{}, err
	}
	x.finding(ctx, fmt.Sprintf("%s approved the link of the %s account %s (%s) to %s (subject %s).", admin, platformName(b.Platform), b.UserID, b.Email, b.ProviderEmail, b.Subject))
	return page{Title: "Approved", Lines: []string{fmt.Sprintf("jitbot now acts for the %s account %s as %s.", platformName(b.Platform), b.UserID, b.Email)}}, nil
}

// adminOf returns the admin a subject is bound as, or refuses.
func (x *Identities) adminOf(ctx context.Context, subject string) (string, error) {
	bs, err := x.Bindings(ctx)
	if err != nil {
		return "", err
	}
	for _, b := range bs {
		if b.Subject == subject && x.deps.IsAdmin(b.Email) {
			return b.Email, nil
		}
	}
	return "", flows.Errorf(flows.EFORBIDDEN, "only an admin of jitbot, with a chat account linked to this identity, may approve links")
}

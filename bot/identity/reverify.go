package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sweep re-verifies bindings: a binding verified reverify_days ago is sent
// a new link; one still not verified ReverifyGrace later is removed and its
// person's live grants revoked, the admins told. It also purges expired
// sign-in records. The scheduler runs it (on the leader) every few minutes.
func (x *Identities) Sweep(ctx context.Context) error {
	now := x.now()
	if _, err := x.deps.Records.PurgeSignIns(ctx, now); err != nil {
		return err
	}
	if err := x.sweepGuestLinks(ctx, now); err != nil {
		return err
	}
	bs, err := x.Bindings(ctx)
	if err != nil {
		return err
	}
	every := time.Duration(x.cfg.reverifyDays()) * 24 * time.Hour
	var errs []error
	for _, b := range bs {
		due := b.VerifiedAt.Add(every)
		switch {
		case !now.Before(due.Add(ReverifyGrace)):
			errs = append(errs, x.unbind(ctx, b, fmt.Sprintf("not signed in again within %s of the re-verification falling due", ReverifyGrace)))
		case !now.Before(due) && b.ReverifySent.Before(due):
			if _, err := x.sendLink(ctx, b.Platform, b.UserID, b.Email, purpose{Kind: purposeReverify}); err != nil {
				errs = append(errs, err)
				continue
			}
			// Read again: the person may have confirmed meanwhile, and
			// that must not be written over.
			cur, ok, err := x.binding(ctx, b.Platform, b.UserID)
			if err != nil || !ok || !cur.VerifiedAt.Equal(b.VerifiedAt) {
				errs = append(errs, err)
				continue
			}
			cur.ReverifySent = now
			errs = append(errs, x.put(ctx, kindBinding, cur.Account(), cur, time.Time{}))
		}
	}
	return errors.Join(errs...)
}

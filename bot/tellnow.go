package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/flows"
)

// TellNow sends the card of ev, an event about no request (a store
// alarm, say), to each of to at once, through every platform that reaches
// them, without the outbox: for what must be said while the store takes
// no writes (etcd's NOSPACE alarm), when the outbox cannot hold the
// message. Nothing of it is recorded; the event itself goes into the
// audit log, and through the outbox, once the store takes writes again.
// It returns how many messages went out and what failed; a person no
// platform reaches is skipped.
func TellNow(ctx context.Context, platforms []Platform, to []string, ev flows.Event) (int, error) {
	n := flows.Notice{Event: ev, To: to}
	if _, ok := NoticeCard(n, Viewer{}); !ok {
		return 0, fmt.Errorf("tell now: a %s event has no card of its own", ev.Type)
	}
	return eachFound(ctx, platforms, n, func(p Platform, email string, who Person) error {
		card, _ := NoticeCard(n, Viewer{Email: email, Location: who.Location})
		if _, err := p.Send(ctx, who, card); err != nil {
			return fmt.Errorf("send to %s on %s: %w", email, p.Name(), err)
		}
		return nil
	})
}

// Reachable finds each of to on every platform that would be told ev, as
// TellNow would, and sends nothing: so that each platform has them at hand
// for a TellNow while the store cannot be read (Teams finds a person from
// the conversation it keeps in the store, and remembers the one it last
// read). It returns how many it found and what failed.
func Reachable(ctx context.Context, platforms []Platform, to []string, ev flows.Event) (int, error) {
	return eachFound(ctx, platforms, flows.Notice{Event: ev, To: to}, func(Platform, string, Person) error { return nil })
}

// eachFound runs do for each recipient of n that Tell lets a platform
// tell and the platform finds; it returns how many do took without an
// error, and every error of the look-ups and of do.
func eachFound(ctx context.Context, platforms []Platform, n flows.Notice, do func(p Platform, email string, who Person) error) (int, error) {
	done := 0
	var errs []error
	for _, p := range platforms {
		for _, email := range n.To {
			if !Tell(n, email, p.Name()) {
				continue
			}
			who, found, err := p.Find(ctx, email)
			if err != nil {
				errs = append(errs, fmt.Errorf("find %s on %s: %w", email, p.Name(), err))
				continue
			}
			if !found {
				continue
			}
			if err := do(p, email, who); err != nil {
				errs = append(errs, err)
				continue
			}
			done++
		}
	}
	return done, errors.Join(errs...)
}

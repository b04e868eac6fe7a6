package bot

import (
	"context"
	"strings"
)

// viewerOf is who a stored card was sent to: a person (by email, in their
// time zone, UTC when the platform no longer knows it) or a channel.
func viewerOf(ctx context.Context, p Platform, recipient string) Viewer {
	if !strings.Contains(recipient, "@") {
		return Viewer{}
	}
	v := Viewer{Email: recipient}
	if who, found, err := p.Find(ctx, recipient); err == nil && found {
		v.Location = who.Location
	}
	return v
}

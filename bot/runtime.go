package bot

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Runtime is what every platform is given by the wiring besides its
// configuration: the clock, the HTTP client to its service, the bound on
// the work after an acknowledgement, and the log. Zero values take each
// platform's defaults. A platform's Config embeds it (never read from
// jitbot.yaml).
type Runtime struct {
	// Clock ages caches and paces messages (flows.SystemClock).
	Clock flows.Clock
	// HTTPClient calls the platform. A client without a timeout is given one.
	HTTPClient *http.Client
	// WorkTimeout bounds the work done after an acknowledgement, and each
	// message the engine sends or updates through the platform.
	WorkTimeout time.Duration
	// Log receives the platform's logs when its constructor is given none.
	Log *slog.Logger
	// Inbox records what people send before it is acknowledged and runs it
	// afterwards from the store; the platform registers its handler with
	// it. Required, and shared by every platform: the wiring starts and
	// closes it.
	Inbox *Inbox
}

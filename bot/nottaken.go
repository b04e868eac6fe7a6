package bot

import (
	"time"

	"github.com/jitbot/jitbot/flows"
)

// ReceiveTimeout bounds the commit of a delivery to the inbox before it is
// acknowledged: within Slack's 3 s, so that a store that cannot commit is
// answered with NotTaken rather than with the platform's timeout.
const ReceiveTimeout = 2 * time.Second

// NotTaken answers a delivery the inbox could not record (Inbox.Receive
// failed with err): nothing was done, nothing was half-written, and the
// person should send it again. A store that cannot be reached (several
// replicas on a cluster without a quorum) is said as such: it may last
// minutes, and grants that are due are revoked meanwhile.
func NotTaken(err error) Card {
	if flows.IsStoreUnreachable(err) {
		return Card{Title: "jitbot cannot take requests right now",
			Text: "Its store cannot be reached, so nothing was recorded and nothing was done. Send it again in a few minutes. " +
				"Access that is due to end still ends on time meanwhile.",
			Tone: ToneWarning}
	}
	return Card{Title: "jitbot could not take that", Text: "Nothing was done. Try again in a minute.", Tone: ToneWarning}
}

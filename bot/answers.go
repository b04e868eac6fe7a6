package bot

import (
	"context"
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Answers to people go through the outbox too (DESIGN §4). While an inbox
// item is processed, what its platform answers the person who acted (the
// outcome of a command, a refusal, a form to fill, their App Home) is
// collected rather than sent, and joins the outbox in the transaction that
// finishes the item: an item acted on is answered even if the process dies
// right after, and an item tried again does not answer twice. The platform
// renders the answer when it is collected, into a payload of its own, and
// sends it when the dispatcher hands the delivery back (Replier). An
// answer never carries a secret: credentials are notices, rendered from
// the SecretKeeper when they are sent.

// Replier is a platform whose answers go through the outbox.
type Replier interface {
	// SendReply sends an answer the platform collected (Answer): its
	// payload is the platform's own. Errors are classified as Send's.
	SendReply(ctx context.Context, dl flows.Delivery) error
}

// whatReply is a delivery the platform renders itself (Replier).
const whatReply = "reply"

type answersKey struct{}

// answers collects the answers of one inbox item.
type answers struct {
	now func() time.Time
	mu  sync.Mutex
	ds  []flows.Delivery
}

// collectAnswers returns a context whose answers are collected, and the
// collection.
func collectAnswers(ctx context.Context, clock flows.Clock) (context.Context, *answers) {
	a := &answers{now: clock.Now}
	return context.WithValue(ctx, answersKey{}, a), a
}

func (a *answers) list() []flows.Delivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ds
}

// Answer collects an answer to the person who acted while ctx processes an
// inbox item: platform, conversation (answers of one conversation go out in
// order), recipient and the platform's own payload (never a secret). It
// reports false, collecting nothing, outside an inbox item: the platform
// sends the answer itself.
func Answer(ctx context.Context, platform, conversation, recipient string, payload []byte) bool {
	a, ok := ctx.Value(answersKey{}).(*answers)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ds = append(a.ds, flows.Delivery{Conversation: conversation, Platform: platform, Priority: flows.PriorityActor,
		What: whatReply, Recipient: recipient, Payload: payload, CreatedAt: a.now()})
	return true
}

package teams

import (
	"context"
	"fmt"
	"net/http"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// maxBody bounds one delivery. Activities (a submitted card's inputs included) are a few KB;
// the adapter decodes the body before it authenticates, so the bound is what keeps an
// unauthenticated sender from making us parse megabytes.
const maxBody = 256 << 10

// Handler serves the bot's messaging endpoint, POST /teams/messages. Every delivery is
// authenticated first (our TokenValidator through the adapter's ParseRequest); anything that
// fails gets 401 and does nothing. An authenticated activity is recorded in the inbox before
// its 200 (well inside Teams' 15 seconds) and processed from there by the inbox's workers, so
// a crash right after the ack loses nothing; what needs no record (a typo, a message in a
// group chat) is answered at once instead.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /teams/messages", b.serveMessages)
	return mux
}

func (b *Bot) serveMessages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	act, err := b.parse(ctx, r)
	if err != nil {
		b.log.WarnContext(ctx, "refused a teams delivery", "remote_addr", r.RemoteAddr, "err", err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	log := b.log.With("activity_id", act.ID, "activity_type", string(act.Type), "conversation_id", act.Conversation.ID)
	if !b.accepted(ctx, act) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if card, ok := b.answerNow(act); ok {
		// Nothing is asked of jitbot: the answer needs no record, and a crash losing it loses
		// nothing the person cannot see was not done. The sender's 1:1 chat is remembered too,
		// as for any message there.
		if card != nil {
			b.work.Go(ctx, "answer", func(ctx context.Context) {
				if act.Conversation.ConversationType == personalConversation {
					b.rememberSender(ctx, act)
				}
				b.replyCard(ctx, act, *card)
			})
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if act.ID == "" {
		// Nothing to recognise a redelivery by: processed detached, as it cannot be keyed.
		log.WarnContext(ctx, "an activity without an id; processed without a record")
		if !b.work.Go(ctx, "activity "+string(act.Type), func(ctx context.Context) { _ = b.process(ctx, act) }) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	first, err := b.receive(ctx, act)
	if err != nil && flows.IsStoreUnreachable(err) && act.Type == schema.Message {
		// The store may be out for minutes: the sender is told so now, in
		// their conversation (not through the outbox, which is in the
		// store), and the delivery is acknowledged, so that a redelivery
		// once the store is back does not act on what they were told was
		// not taken.
		log.WarnContext(ctx, "could not record an activity: the store cannot be reached; the sender is told", "err", err)
		if !b.work.Go(ctx, "not taken", func(ctx context.Context) { b.replyCard(ctx, act, bot.NotTaken(err)) }) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil {
		log.ErrorContext(ctx, "could not record an activity", "err", err)
		// Not acknowledged: the Bot Framework tells the sender it failed.
		http.Error(w, "could not take the activity", http.StatusServiceUnavailable)
		return
	}
	if !first {
		// A redelivery (Teams retries what it thinks was lost) or a replay: acknowledged, not
		// redone.
		log.InfoContext(ctx, "ignored a redelivered activity")
	}
	w.WriteHeader(http.StatusOK)
}

// parse decodes and authenticates a delivery through the adapter. A panic in the library (it
// has several on odd input) is an authentication failure, not a crash.
func (b *Bot) parse(ctx context.Context, r *http.Request) (act schema.Activity, err error) {
	defer func() {
		if p := recover(); p != nil {
			act, err = schema.Activity{}, fmt.Errorf("teams: parse activity: panic: %v", p)
		}
	}()
	act, err = b.adapter.ParseRequest(ctx, r)
	if err != nil {
		return schema.Activity{}, fmt.Errorf("teams: parse activity: %w", err)
	}
	return act, nil
}

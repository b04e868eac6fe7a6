package slack

import (
	"cmp"
	"context"
	"encoding/json"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// interaction handles a button click or a modal submission and returns its
// acknowledgement: nothing for clicks (recorded in the inbox first), and
// for submissions either nothing (recorded; the modal closes) or errors to
// show in it.
func (b *Bot) interaction(ctx context.Context, cb *slackgo.InteractionCallback) any {
	switch cb.Type {
	case slackgo.InteractionTypeBlockActions:
		b.blockActions(ctx, cb)
	case slackgo.InteractionTypeViewSubmission:
		switch cb.View.CallbackID {
		case requestCallback:
			return b.submitRequestForm(ctx, cb)
		case denyCallback:
			return b.submitDenyForm(ctx, cb)
		}
		b.log.InfoContext(ctx, "ignored the submission of an unknown view", "callback_id", cb.View.CallbackID)
	}
	return nil
}

func clicker(cb *slackgo.InteractionCallback) actor {
	who := actor{userID: cb.User.ID, responseURL: cb.ResponseURL, channelID: cb.Channel.ID}
	if who.channelID == "" {
		who.channelID = cb.Container.ChannelID
	}
	// Buttons live in messages and in the App Home; a click from a view is
	// a click from the Home tab (jitbot's modals have no buttons).
	who.fromHome = cb.Container.Type == "view" || cb.View.Type == slackgo.VTHomeTab
	return who
}

// blockActions handles button clicks. Deny opens the reason form at once
// (the trigger id expires in 3 s); every other click is recorded in the
// inbox before the ack, under a key a replay shares, and runs from there
// through the engine, whose service authorizes it on the request as it is
// then.
func (b *Bot) blockActions(ctx context.Context, cb *slackgo.InteractionCallback) {
	who := clicker(cb)
	if cb.View.CallbackID == requestCallback && cb.View.ID != "" {
		b.changeRequestForm(ctx, cb)
		return
	}
	for _, act := range cb.ActionCallback.BlockActions {
		a, err := bot.ParseAction(act.ActionID)
		if err != nil {
			b.log.InfoContext(ctx, "ignored a click on an unknown action", "user_id", who.userID, "action_id", act.ActionID)
			continue
		}
		key := clickKey(who, cb.TriggerID, act)
		switch a.Kind {
		case bot.ActionDeny, bot.ActionDenyExtension, bot.ActionReview:
			// Opening a form records nothing: the cache recognises a replay.
			// A break-glass review asks for its note in the same form.
			if !b.seen.Add(key, struct{}{}) {
				b.log.InfoContext(ctx, "ignored a replayed click", "user_id", who.userID, "action_id", act.ActionID)
				continue
			}
			b.openDenyForm(ctx, cb.TriggerID, who, a)
		case bot.ActionAgain:
			if !b.seen.Add(key, struct{}{}) {
				b.log.InfoContext(ctx, "ignored a replayed click", "user_id", who.userID, "action_id", act.ActionID)
				continue
			}
			b.openAgainForm(ctx, cb.TriggerID, who, a)
		default:
			ref := cmp.Or(cb.TriggerID, act.ActionTs)
			if _, err := b.receive(ctx, key, item{
				Kind: itemClick, UserID: who.userID, ChannelID: who.channelID, ResponseURL: who.responseURL,
				FromHome: who.fromHome, Ref: ref, Action: act.ActionID,
			}); err != nil {
				b.work.Go(ctx, "click not taken", func(ctx context.Context) { b.tell(ctx, who, notTaken(err), false) })
			}
		}
	}
}

// openDenyForm opens the form asking why. It runs before the
// acknowledgement, so it uses only what is at hand: the approver's email if
// already known (no Slack call) to read the request from the store and
// learn whether a reason is required; unknown, a reason is asked for. A
// guest or external user already known as such is refused without a form.
func (b *Bot) openDenyForm(ctx context.Context, triggerID string, who actor, a bot.Action) {
	st := denyState{Action: a.ID(), ResponseURL: who.responseURL, Channel: who.channelID, Required: true, FromHome: who.fromHome}
	summary := "Deny request " + string(a.RequestID) + "?"
	p, known := b.people.cached(who.userID)
	if known && p.Outsider {
		b.work.Go(ctx, "deny refused", func(ctx context.Context) {
			refusal := b.engine.Refused(ctx, bot.Actor{Platform: Platform, UserID: who.userID, Ref: triggerID}, flows.Errorf(flows.EFORBIDDEN, outsiderMessage))
			b.deliver(ctx, who, refusal, false)
		})
		return
	}
	if a.Kind == bot.ActionReview {
		summary = "Review break-glass request " + string(a.RequestID) + "?"
	}
	if known && p.Email != "" {
		if r, err := b.engine.Get(ctx, bot.Actor{Platform: Platform, Email: p.Email, Location: p.Loc, UserID: who.userID}, a.RequestID); err == nil {
			st.Required = r.DenyReasonRequired || a.Kind == bot.ActionReview
			summary = denySummary(r, a)
		}
	}
	octx, cancel := context.WithTimeout(ctx, ackBudget)
	defer cancel()
	if _, err := b.api.OpenViewContext(octx, triggerID, denyModal(st, summary)); err != nil {
		b.log.WarnContext(ctx, "could not open the deny form", "user_id", who.userID, "request_id", a.RequestID, "err", err)
		b.work.Go(ctx, "deny form failed", func(ctx context.Context) {
			b.tell(ctx, who, bot.Card{Title: "Could not open the form to deny " + string(a.RequestID), Text: "Slack did not open it in time; click Deny again.", Tone: bot.ToneWarning}, false)
		})
	}
}

// submitDenyForm checks the reason at once (errors go back into the
// modal) and records the denial in the inbox, keyed by the view id.
func (b *Bot) submitDenyForm(ctx context.Context, cb *slackgo.InteractionCallback) any {
	var st denyState
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &st); err != nil {
		b.log.WarnContext(ctx, "deny form with unreadable metadata", "err", err)
		return nil
	}
	a, err := bot.ParseAction(st.Action)
	if err != nil || (a.Kind != bot.ActionDeny && a.Kind != bot.ActionDenyExtension && a.Kind != bot.ActionReview) {
		b.log.WarnContext(ctx, "deny form for no deny action", "action_id", st.Action)
		return nil
	}
	reason := ""
	if cb.View.State != nil {
		reason = strings.TrimSpace(cb.View.State.Values[fieldReason][fieldReason].Value)
	}
	if st.Required && reason == "" {
		if a.Kind == bot.ActionReview {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{fieldReason: "Write a note: what you checked, and what you found."})
		}
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{fieldReason: "Say why you deny it: the requester sees your reason."})
	}
	if len(reason) > bot.MaxReasonLength {
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{fieldReason: "Keep the reason under 500 characters."})
	}
	if _, err := b.receive(ctx, viewKey(cb.View.ID), item{
		Kind: itemDeny, UserID: cb.User.ID, ChannelID: st.Channel, ResponseURL: st.ResponseURL, FromHome: st.FromHome,
		Ref: cb.View.ID, Action: a.ID(), Reason: reason,
	}); err != nil {
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{fieldReason: notTakenText(err)})
	}
	return nil
}

// openRequestForm answers /access alone: it opens a placeholder modal at
// once (views.open must use the trigger within 3 s) and fills it in
// detached, since the choices may need Atlas.
func (b *Bot) openRequestForm(ctx context.Context, cmd slackgo.SlashCommand) any {
	octx, cancel := context.WithTimeout(ctx, ackBudget)
	defer cancel()
	resp, err := b.api.OpenViewContext(octx, cmd.TriggerID, loadingModal())
	if err != nil {
		b.log.WarnContext(ctx, "could not open the request form", "user_id", cmd.UserID, "err", err)
		return ephemeral(bot.Card{
			Title: "Could not open the request form",
			Text:  "Slack did not open it in time. Try again, or ask directly: " + b.cfg.Command + " request prod/Cluster0/sales read 1h \"INC-123\"",
			Tone:  bot.ToneWarning,
		})
	}
	// Filling it in is work like any other: received before the ack, done
	// by the inbox, the filled form sent by the outbox.
	it := item{Kind: itemForm, UserID: cmd.UserID, ChannelID: cmd.ChannelID, ResponseURL: cmd.ResponseURL, Ref: resp.View.ID,
		ViewID: resp.View.ID, Hash: resp.View.Hash}
	if _, err := b.receive(ctx, formKey(resp.View.ID), it); err != nil {
		b.work.Go(ctx, "request form not taken", func(ctx context.Context) {
			if err := b.send(ctx, b.call, answer{Kind: answerForm, UserID: cmd.UserID, ViewID: resp.View.ID, Hash: resp.View.Hash,
				View: mustJSON(messageModal("Request access", notTakenText(err)))}); err != nil {
				b.log.WarnContext(ctx, "could not say the request form was not taken", "user_id", cmd.UserID, "err", err)
			}
		})
	}
	return nil
}

// fillRequestForm answers a form item of the person a (or why they are
// not known, err): the form offering what they may ask for, or why there is
// nothing, in place of the placeholder.
func (b *Bot) fillRequestForm(ctx context.Context, a bot.Actor, err error, it item) error {
	var reply bot.Reply
	if err != nil {
		reply = b.engine.Refused(ctx, a, err)
	} else if it.Again != "" && it.Selection == nil {
		// Request again (again.go): the form filled in as the request was,
		// if it is still this person's to ask again.
		reply = b.engine.Click(ctx, a, bot.Action{Kind: bot.ActionAgain, RequestID: flows.RequestID(it.Again)}, bot.ClickInput{})
	} else {
		reply = b.engine.Run(ctx, a, bot.Command{Verb: bot.VerbForm}, "")
	}
	if bot.Retryable(reply.Err) {
		return reply.Err
	}
	view := messageModal("Request access", "")
	switch {
	case len(reply.Form) > 0 && reply.Prefill != nil && it.Selection == nil:
		view = prefilledModal(reply.Form, *reply.Prefill)
	case len(reply.Form) > 0:
		var sel bot.Selection
		if it.Selection != nil {
			sel = *it.Selection
		}
		view = requestModal(reply.Form, sel)
	case reply.Card != nil:
		view = messageModal("Request access", reply.Card.Text)
	}
	fill := answer{Kind: answerForm, UserID: it.UserID, ViewID: it.ViewID, Hash: it.Hash, View: mustJSON(view)}
	if !b.collect(ctx, fill) {
		return b.send(ctx, b.call, fill)
	}
	return nil
}

// changeRequestForm answers a choice in the request form (a kind, a
// resource: their selects dispatch actions): the form is laid out again for
// it, with the roles and durations of the resource chosen. Like filling the
// form in, it is received before the ack, done by the inbox (the choices
// are read again, never taken from the view) and sent by the outbox
// (views.update, with the view's hash: an older layout never replaces a
// newer one).
func (b *Bot) changeRequestForm(ctx context.Context, cb *slackgo.InteractionCallback) {
	sel := selectionOf(cb)
	actionTs := cb.ActionTs
	for _, act := range cb.ActionCallback.BlockActions {
		actionTs = cmp.Or(actionTs, act.ActionTs)
	}
	it := item{Kind: itemForm, UserID: cb.User.ID, Ref: cb.View.ID, ViewID: cb.View.ID, Hash: cb.View.Hash, Selection: &sel}
	if _, err := b.receive(ctx, formKey(cb.View.ID)+":"+actionTs, it); err != nil {
		b.log.WarnContext(ctx, "could not take a change of the request form", "user_id", cb.User.ID, "err", err)
	}
}

// mustJSON encodes what always encodes (a view jitbot built).
func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic("slack: encode a view: " + err.Error())
	}
	return raw
}

// submitRequestForm validates the form by parsing only (errors go back into
// the modal) and records the submission in the inbox before the modal
// closes; the outcome arrives as a direct message. The view id is the
// idempotency key, so a replayed submission makes one request.
func (b *Bot) submitRequestForm(ctx context.Context, cb *slackgo.InteractionCallback) any {
	f, errs := parseRequestForm(cb.View.State, cb.View.PrivateMetadata)
	if errs != nil {
		return slackgo.NewErrorsViewSubmissionResponse(errs)
	}
	// No response_url: the answer goes by DM.
	if _, err := b.receive(ctx, viewKey(cb.View.ID), item{Kind: itemSubmit, UserID: cb.User.ID, Ref: cb.View.ID, Command: &f}); err != nil {
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{fieldReason: notTakenText(err)})
	}
	return nil
}

// openAgainForm answers a click on Request again: like /access alone, it
// opens a placeholder modal at once (the trigger expires in 3 s) and has
// the inbox fill it in, from the old request as the engine reads it for
// this person (only its requester may: anyone else learns nothing of it).
func (b *Bot) openAgainForm(ctx context.Context, triggerID string, who actor, a bot.Action) {
	octx, cancel := context.WithTimeout(ctx, ackBudget)
	defer cancel()
	resp, err := b.api.OpenViewContext(octx, triggerID, loadingModal())
	if err != nil {
		b.log.WarnContext(ctx, "could not open the request form", "user_id", who.userID, "request_id", a.RequestID, "err", err)
		b.work.Go(ctx, "again form failed", func(ctx context.Context) {
			b.tell(ctx, who, bot.Card{Title: "Could not open the request form", Text: "Slack did not open it in time; click Request again, or type: " +
				b.cfg.Command + " again " + string(a.RequestID), Tone: bot.ToneWarning}, false)
		})
		return
	}
	it := item{Kind: itemForm, UserID: who.userID, ChannelID: who.channelID, ResponseURL: who.responseURL, FromHome: who.fromHome,
		Ref: resp.View.ID, ViewID: resp.View.ID, Hash: resp.View.Hash, Again: string(a.RequestID)}
	if _, err := b.receive(ctx, formKey(resp.View.ID), it); err != nil {
		b.work.Go(ctx, "again form not taken", func(ctx context.Context) {
			if err := b.send(ctx, b.call, answer{Kind: answerForm, UserID: who.userID, ViewID: resp.View.ID, Hash: resp.View.Hash,
				View: mustJSON(messageModal("Request access", notTakenText(err)))}); err != nil {
				b.log.WarnContext(ctx, "could not say the request form was not taken", "user_id", who.userID, "err", err)
			}
		})
	}
}

package slack

import (
	"context"
	"errors"
	"fmt"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// event handles an Events API delivery, over HTTP or Socket Mode. Slack
// retries events it thinks were lost; the event id recognises them.
func (b *Bot) event(ctx context.Context, ev slackevents.EventsAPIEvent, retry string) {
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
		if !b.seen.Add("event:"+cb.EventID, struct{}{}) {
			b.log.InfoContext(ctx, "ignored a retried event", "event_id", cb.EventID, "retry", retry)
			return
		}
	}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if inner.Tab != "home" {
			return
		}
		user := inner.User
		b.work.Go(ctx, "app home", func(ctx context.Context) {
			if err := b.publishHome(ctx, b.call, user); err != nil {
				b.log.WarnContext(ctx, "could not publish the home tab", "user_id", user, "err", err)
			}
		})
	}
}

// homeListMax bounds each section of the Home tab; a view holds at most 100
// blocks and each request takes three.
const homeListMax = 9

// publishHome shows a person their Home tab: their active access (Revoke,
// Extend), their pending requests (Cancel) and what waits for their
// approval (Approve, Deny). call says what a 429 costs.
func (b *Bot) publishHome(ctx context.Context, call caller, userID string) error {
	var blocks []slackgo.Block
	a, err := b.actorOf(ctx, call, actor{userID: userID}, "")
	if rl := bot.RateLimited(nil); errors.As(err, &rl) {
		// Slack will say who they are in a moment: the tab waits for it
		// rather than telling them it could not look them up.
		return err
	}
	if err == nil {
		var ov bot.Overview
		if ov, err = b.engine.Overview(ctx, a); err == nil {
			blocks = homeBlocks(b.cfg.Command, ov)
		}
	}
	if err != nil {
		b.log.WarnContext(ctx, "could not build the home tab", "user_id", userID, "err", err)
		blocks = []slackgo.Block{
			slackgo.NewHeaderBlock(plain("Database access", maxHeaderText), slackgo.HeaderBlockOptionBlockID("title")),
			slackgo.NewSectionBlock(mrkdwn(escape(flows.ErrorMessage(err)), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("error")),
		}
	}
	view := slackgo.HomeTabViewRequest{Type: slackgo.VTHomeTab, Blocks: slackgo.Blocks{BlockSet: blocks}, CallbackID: "jit_home"}
	return call(ctx, "views.publish", func(ctx context.Context) error {
		_, err := b.api.PublishViewContext(ctx, slackgo.PublishViewContextRequest{UserID: userID, View: view})
		return err
	})
}

// homeBlocks lays out the Home tab.
func homeBlocks(command string, ov bot.Overview) []slackgo.Block {
	blocks := []slackgo.Block{
		slackgo.NewHeaderBlock(plain("Database access", maxHeaderText), slackgo.HeaderBlockOptionBlockID("title")),
		slackgo.NewContextBlock("intro", mrkdwn(escape("Ask for temporary access with "+command+"; "+command+" help shows everything you can do."), maxContextText)),
	}
	section := func(id, title, empty string, items []bot.ListItem) {
		blocks = append(blocks, slackgo.NewDividerBlock(),
			slackgo.NewSectionBlock(mrkdwn("*"+escape(title)+"*", maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID(id)))
		if len(items) == 0 {
			blocks = append(blocks, slackgo.NewContextBlock(id+"-empty", mrkdwn(escape(empty), maxContextText)))
			return
		}
		for i, it := range items {
			if i == homeListMax {
				blocks = append(blocks, slackgo.NewContextBlock(id+"-more", mrkdwn(escape(fmt.Sprintf("…and %d more: %s list", len(items)-homeListMax, command)), maxContextText)))
				break
			}
			blocks = append(blocks, renderCompact(it.Card, id+"-"+string(it.RequestID)+"-")...)
		}
	}
	section("active", "Your access", "You have no access right now.", ov.Active)
	section("pending", "Your pending requests", "No requests waiting.", ov.Pending)
	section("waiting", "Waiting for your approval", "Nothing waits for you.", ov.Waiting)
	if len(ov.Ended) > 0 {
		section("ended", "Ended recently", "", ov.Ended) // each with Request again
	}
	return blocks
}

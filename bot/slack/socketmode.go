package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives Slack's deliveries over a Socket Mode connection
// (no public URL, no signing secret) until ctx ends, handing each to the
// same handlers as HTTP and acknowledging it with the same payload. It needs
// Config.AppToken.
func (b *Bot) RunSocketMode(ctx context.Context) error {
	if b.cfg.AppToken == "" {
		return errors.New("slack: socket mode needs app_token")
	}
	client := socketmode.New(b.api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()

	// Each delivery is handled on its own goroutine: opening a modal takes a
	// Slack round trip before the ack, and must not hold up the others.
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		select {
		case <-ctx.Done():
			<-runErr // the client stops with the context; do not leave it behind
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: socket mode: %w", err)
		case evt, ok := <-client.Events:
			if !ok {
				return errors.New("slack: socket mode: the client stopped delivering events")
			}
			handlers.Go(func() { b.socketEvent(ctx, client, evt) })
		}
	}
}

func (b *Bot) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	ack := func(payload any) {
		if evt.Request == nil {
			return
		}
		if err := client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
			b.log.WarnContext(ctx, "could not acknowledge a socket mode request", "type", string(evt.Type), "err", err)
		}
	}
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackgo.SlashCommand)
		if !ok {
			ack(nil)
			return
		}
		ack(b.command(ctx, cmd))
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackgo.InteractionCallback)
		if !ok {
			ack(nil)
			return
		}
		ack(b.interaction(ctx, &cb))
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		// Acknowledge first: events need no payload, and Slack retries
		// anything unacknowledged.
		ack(nil)
		if ok {
			retry := ""
			if evt.Request != nil && evt.Request.RetryAttempt > 0 {
				retry = strconv.Itoa(evt.Request.RetryAttempt)
			}
			b.event(ctx, ev, retry)
		}
	case socketmode.EventTypeConnecting, socketmode.EventTypeHello:
		b.log.DebugContext(ctx, "socket mode", "event", string(evt.Type))
	case socketmode.EventTypeConnected:
		b.log.InfoContext(ctx, "socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		b.log.WarnContext(ctx, "socket mode problem", "event", string(evt.Type), "detail", fmt.Sprint(evt.Data))
	case socketmode.EventTypeDisconnect:
		b.log.InfoContext(ctx, "socket mode: slack asked to reconnect")
	}
}

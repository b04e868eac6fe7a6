package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// checkChat reaches the chat platforms cfg configures, for `jitbot check
// -online`: Slack's tokens, scopes and the channels the flows post to;
// Teams' app credentials and the Bot Framework's signing keys. It prints a
// line for each platform (and one for each warning) and returns what
// failed.
func (e *env) checkChat(ctx context.Context, cfg *config.Config) error {
	var errs []error
	if cfg.Slack != nil {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		rep, err := slack.Check(cctx, *cfg.Slack, cfg.Policy.Channels()...)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stdout, "slack: FAILED: %v\n", err)
			errs = append(errs, errors.New("slack failed the online check"))
		} else {
			fmt.Fprintf(e.stdout, "slack: OK (%s)\n", rep.OK)
		}
		for _, w := range rep.Warnings {
			fmt.Fprintf(e.stdout, "slack: WARNING: %s\n", w)
		}
	}
	if cfg.Teams != nil {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		ok, err := teams.Check(cctx, *cfg.Teams)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stdout, "teams: FAILED: %v\n", err)
			errs = append(errs, errors.New("teams failed the online check"))
		} else {
			fmt.Fprintf(e.stdout, "teams: OK (%s)\n", ok)
		}
	}
	return errors.Join(errs...)
}

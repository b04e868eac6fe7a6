package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// runCheck is `jitbot check`: serve's own loading and validation (load,
// config.Load), run without starting anything, so that the two can never
// disagree. Every problem is reported at once, each with its path and line;
// warnings (what can never take effect) do not fail it unless strict.
func (e *env) runCheck(ctx context.Context, path string, online, strict bool) error {
	cfg, err := e.load(path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(e.stdout, w)
	}
	summary := fmt.Sprintf("%s: OK (%d integration(s), %d flow(s))", path, len(cfg.Integrations), len(cfg.Policy.Flows()))
	if len(cfg.Warnings) > 0 {
		summary += ", " + cfg.Warnings.Summary()
	}
	fmt.Fprintln(e.stdout, summary)
	if strict && len(cfg.Warnings) > 0 {
		return fmt.Errorf("%s in the configuration, and -strict fails on warnings", cfg.Warnings.Summary())
	}
	if !online {
		return nil
	}
	return e.checkOnline(ctx, cfg)
}

// loadError says why the configuration at path could not be loaded.
func loadError(path string, err error) error {
	var ps config.Problems
	switch {
	case errors.As(err, &ps):
		return fmt.Errorf("%s in the configuration:\n%v", ps.Summary(), ps)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no configuration at %s: pass -config, set JITBOT_CONFIG, or start from examples/jitbot.yaml", path)
	}
	return err
}

// hangups delivers serve's SIGHUPs, which ask it to reload its policy, until
// ctx is done. A SIGHUP that comes while one waits is merged with it.
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// policyRow is the policy's row in `jitbot status`: the one in force, and
// a refused reload (its first line: the admin status has all of it) or
// what waits for a restart.
func policyRow(p app.PolicyStatus) string {
	row := fmt.Sprintf("policy\t%s since %s", p.Hash, p.LoadedAt.UTC().Format(time.RFC3339))
	switch {
	case p.ReloadError != "":
		first, _, _ := strings.Cut(p.ReloadError, "\n")
		row += fmt.Sprintf("\treload refused at %s, the running policy kept: %s", p.ReloadFailedAt.UTC().Format(time.RFC3339), first)
	case len(p.RestartNeeded) > 0:
		row += "\tchanged, applied on restart: " + strings.Join(p.RestartNeeded, ", ")
	}
	return row
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/playground"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// next ends a demo that is not kept with what to try after it.
func (d *demo) next() {
	fmt.Fprint(d.out, `
What to try next:
  jitbot demo -keep    the same world stays up, with a playground page on this machine: Slack and
                       Teams as alice, bob, olivia and dana see them; type /access as any of them,
                       click the buttons, watch the Atlas users come and go. Every jitbot command
                       (status, grants, audit) works against it.
  jitbot init          a commented starter jitbot.yaml for your own Slack or Teams and Atlas project;
                       then jitbot check, and jitbot serve.
`)
}

// keep leaves the world up until ctx ends, saying where everything is and
// what to try; its directory outlives it.
func (d *demo) keep(ctx context.Context, page string) error {
	url, err := d.servePlayground(ctx, page)
	if err != nil {
		return err
	}
	cfg := d.rig.ConfigPath
	fmt.Fprintf(d.out, `
-keep: the demo's world stays up until you press Ctrl-C.

  Open the playground: %[11]s
  Slack and Teams as alice, bob, olivia and dana see them (this machine only): type /access as
  any of them, click Approve or Deny, open the App Home, watch Atlas; ⏩ jumps demo time forward.

  jitbot        http://%[1]s  (Slack and Teams post here: /slack/commands, /slack/interactions,
                /slack/events, /teams/messages; also /readyz, /metrics, the admin API)
  Slack fake    %[2]s  (signing secret %[3]s: sign your own /access with it)
  Atlas sim     %[4]s  (project %[5]s)
  admin token   %[6]s
  directory     %[7]s  (kept after exit)
    config      %[8]s
    store       %[9]s
    log         %[10]s

Every jitbot command works against it, from another shell:
  export JITBOT_CONFIG=%[8]s
  jitbot status
  jitbot grants list -state all
  jitbot grants revoke -reason "demo over" <id>
  jitbot audit verify
  jitbot audit export -since 1h
  tail -f %[10]s
`, d.rig.Addr(), d.rig.Slack.APIURL(), rig.SigningSecret, d.rig.Atlas.URL(), rig.Project, rig.AdminToken,
		d.rig.Dir, cfg, d.rig.StorePath(), d.rig.LogPath(), url)
	<-ctx.Done()
	fmt.Fprintf(d.out, "\nStopped. %s stays, with the configuration, the store and the log; with jitbot down,\n"+
		"jitbot grants list and jitbot audit verify read the store directly. Remove it when done: rm -r %s\n", d.rig.Dir, d.rig.Dir)
	return nil
}

// servePlayground serves the playground page on addr (loopback only) until
// ctx ends, and answers its URL.
func (d *demo) servePlayground(ctx context.Context, addr string) (string, error) {
	// From now on demo time runs (at -speed, else with real time), so that
	// what people do on the page happens in order, and ends when jitbot
	// says it will.
	if d.speed == 0 {
		d.clock.SetSpeed(1)
	}
	pg, err := playground.New(playground.Options{Rig: d.rig, Log: d.rig.Log, Advance: d.advance})
	if err != nil {
		return "", err
	}
	ln, err := playground.Listen(addr)
	if err != nil {
		pg.Close()
		return "", err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pg.Close()
		if err := pg.Serve(pctx, ln); err != nil {
			d.rig.Log.Error("the playground stopped", "err", err)
		}
	}()
	// close stops the page before the rig it reads.
	d.stopPlayground = func() { stop(); <-done }
	return "http://" + ln.Addr().String() + "/", nil
}

// advance is the playground's fast-forward: demo time jumps, and jitbot
// does at once what is then due (reminders, expiries).
func (d *demo) advance(ctx context.Context, by time.Duration) {
	d.clock.Advance(by)
	d.rig.Main.Sweep(ctx)
}

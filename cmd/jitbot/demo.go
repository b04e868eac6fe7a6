package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/playground"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// demoFlows is the demo's policy: the rig's read flow, whose extensions
// need the owner's approval too, so that the journey shows one.
const demoFlows = `  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*", "Cluster0/sales"]
    roles: [read]
    default_duration: 1h
    max_duration: 8h
    approvers: [owners]
    require_reason: true
    extend_requires_approval: true
    pending_ttl: 1h
` + uiFlow + kindFlows

// demo is one run of the demo: the world (simulators, jitbot), its
// clock, and the transcript.
type demo struct {
	// stopPlayground stops the playground page and waits for it (nil: none).
	stopPlayground func()
	out            io.Writer
	speed          float64
	clock          *demoClock
	rig            *rig.Rig
	poster         *rig.Poster
	steps          int
	// unchecked says why the Atlas simulator checks nothing against the
	// OpenAPI spec (nil: it checks every call).
	unchecked error
}

// demoPlace is where the demo's world lives: its directory (empty: a
// temporary one the rig removes when it closes) and jitbot's address
// (empty: any free loopback port).
type demoPlace struct {
	dir, listen string
}

func (e *env) demo(ctx context.Context, args []string) error {
	fs := e.flagSet("demo")
	speed := fs.Float64("speed", 0, "0: jump over waiting time; N: let demo time run N times faster than real time (the scheduler then fires on its own)")
	keep := fs.Bool("keep", false, "leave jitbot, the simulators and the playground page running after the journey, until interrupted")
	page := fs.String("playground", "127.0.0.1:0", "with -keep: the loopback address of the playground page")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed < 0 {
		return usageErr("-speed must be 0 or more")
	}
	if err := playground.Loopback(*page); err != nil {
		return usageErr("-playground: %v", err)
	}
	// The demo's directory (configuration, store, log) is its own: kept
	// with -keep, so that the CLI and whoever reads the log find it again,
	// and after a failure, whose story the log tells; removed otherwise.
	var place demoPlace
	var err error
	if place.dir, err = os.MkdirTemp("", "jitbot-demo-"); err != nil {
		return fmt.Errorf("make the demo's directory: %w", err)
	}
	keepDir := *keep
	defer func() {
		if !keepDir {
			_ = os.RemoveAll(place.dir)
		}
	}()
	if *keep {
		// Kept, jitbot must be found again at the address its
		// configuration names.
		if place.listen, err = rig.FreeAddr(); err != nil {
			return fmt.Errorf("find a port for jitbot: %w", err)
		}
	}
	d, err := startDemo(ctx, e.stdout, *speed, e.atlasSpec, place)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.play(ctx); err != nil {
		keepDir = true
		fmt.Fprintf(e.stdout, "\nRESULT: the journey stopped at step %d: %v\n", d.steps, err)
		fmt.Fprintf(e.stdout, "jitbot's log, kept with its configuration and store: %s\n", d.rig.LogPath())
		return fmt.Errorf("demo failed at step %d", d.steps)
	}
	fmt.Fprintf(e.stdout, "\nRESULT: all %d steps happened.\n", d.steps)
	if *keep {
		return d.keep(ctx, *page)
	}
	d.next()
	return nil
}

// startDemo starts the world of the demo. spec finds the Atlas OpenAPI
// spec the simulator checks calls against; where it cannot (the jitbot
// binary has no Go module cache beside it in its container image), the
// simulator only routes, and the demo says so.
func startDemo(ctx context.Context, out io.Writer, speed float64, spec func() (*atlastest.Spec, error), place demoPlace) (d *demo, err error) {
	d = &demo{out: out, speed: speed, clock: newDemoClock(time.Now().UTC().Truncate(time.Second), speed)}
	built := d // the returns below set d to nil; close what was built
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	atlasSpec, err := spec()
	if err != nil {
		d.unchecked = err
		if atlasSpec, err = atlastest.RoutingSpec(); err != nil {
			return nil, err
		}
	}
	// Alice asks in Slack, bob in Teams, the cluster's owner tag names
	// Olivia (in both), Dana is the admin; the simulators log to jitbot.log
	// beside jitbot, at debug level.
	d.rig, err = rig.New(rig.Options{Dir: place.dir, Listen: place.listen, Clock: d.clock, SlackClock: true, Slack: true, Teams: true,
		ApprovalsChannel: true, ApplyPolls: 1, LogLevel: slog.LevelDebug, Spec: atlasSpec, Flows: demoFlows, AtlasRoles: demoAtlasRoles})
	if err != nil {
		return nil, err
	}
	if err := d.addAliceToAtlas(); err != nil {
		return nil, err
	}
	if err := d.useIdentityProvider(); err != nil {
		return nil, err
	}
	if d.unchecked != nil {
		d.rig.Log.Warn("the Atlas simulator runs without the OpenAPI spec: calls are not checked against it", "err", d.unchecked)
	}
	if err := d.rig.Start(ctx, app.Options{}); err != nil {
		return nil, err
	}
	d.poster = rig.NewPoster(d.rig.Addr())
	return d, nil
}

func (d *demo) close() {
	if d.stopPlayground != nil {
		d.stopPlayground()
	}
	if d.poster != nil {
		d.poster.Close()
	}
	if d.rig != nil {
		d.rig.Close()
	}
}

func (d *demo) step(format string, args ...any) {
	d.steps++
	fmt.Fprintf(d.out, "\n[%d] %s\n", d.steps, fmt.Sprintf(format, args...))
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "    %s\n", fmt.Sprintf(format, args...))
}

// said is what a person typed, and where.
func (d *demo) said(who, where, text string) {
	d.say("%s ▸ %s   (%s)", who, text, where)
}

// clicked is a person pressing a button.
func (d *demo) clicked(who, where, button string) {
	d.say("%s clicks [%s]   (%s)", who, button, where)
}

// shown is a message from jitbot as its reader sees it.
func (d *demo) shown(to string, lines []string) {
	d.say("jitbot ▸ %s:", to)
	for _, line := range lines {
		fmt.Fprintf(d.out, "      │ %s\n", strings.TrimSpace(line))
	}
}

// fastForward moves demo time on and lets the scheduler see it.
func (d *demo) fastForward(ctx context.Context, by time.Duration) {
	if d.speed > 0 {
		return // demo time runs by itself; the scheduler's sweeps notice
	}
	d.clock.Advance(by)
	d.rig.Main.Sweep(ctx)
}

func (d *demo) wait(by time.Duration) time.Duration {
	if d.speed > 0 {
		return time.Duration(float64(by)/d.speed) + 30*time.Second
	}
	return 15 * time.Second
}

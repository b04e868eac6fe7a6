package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// demoResource is what alice asks for.
const demoResource = "prod/Cluster0/sales/orders"

// demo is one run of the demo: the world (simulators, jitbot), its
// clock, and the transcript.
type demo struct {
	out    io.Writer
	speed  float64
	clock  *demoClock
	rig    *rig.Rig
	poster *rig.Poster
	steps  int
	// unchecked says why the Atlas simulator checks nothing against the
	// OpenAPI spec (nil: it checks every call).
	unchecked error
}

func (e *env) demo(ctx context.Context, args []string) error {
	fs := e.flagSet("demo")
	speed := fs.Float64("speed", 0, "0: jump over waiting time; N: let demo time run N times faster than real time (the scheduler then fires on its own)")
	keep := fs.Bool("keep", false, "leave jitbot and the simulators running after the journey, until interrupted")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed < 0 {
		return usageErr("-speed must be 0 or more")
	}
	d, err := startDemo(ctx, e.stdout, *speed, e.atlasSpec)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.play(ctx); err != nil {
		fmt.Fprintf(e.stdout, "\nRESULT: the journey stopped at step %d: %v\n", d.steps, err)
		return fmt.Errorf("demo failed at step %d", d.steps)
	}
	fmt.Fprintf(e.stdout, "\nRESULT: all %d steps happened.\n", d.steps)
	if *keep {
		fmt.Fprintf(e.stdout, "\n-keep: jitbot stays up until you press Ctrl-C.\n  jitbot       http://%s (try /metrics, /readyz)\n  Slack fake   %s\n  Atlas sim    %s (project %s)\n  admin token  %s\n  store        %s\n",
			d.rig.Addr(), d.rig.Slack.APIURL(), d.rig.Atlas.URL(), rig.Project, rig.AdminToken, d.rig.StorePath())
		<-ctx.Done()
	}
	return nil
}

// startDemo starts the world of the demo. spec finds the Atlas OpenAPI
// spec the simulator checks calls against; where it cannot (the jitbot
// binary has no Go module cache beside it in its container image), the
// simulator only routes, and the demo says so.
func startDemo(ctx context.Context, out io.Writer, speed float64, spec func() (*atlastest.Spec, error)) (d *demo, err error) {
	d = &demo{out: out, speed: speed, clock: newDemoClock(time.Now().UTC().Truncate(time.Second), speed)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	atlasSpec, err := spec()
	if err != nil {
		d.unchecked = err
		if atlasSpec, err = atlastest.RoutingSpec(); err != nil {
			return nil, err
		}
	}
	// Alice asks, the cluster's owner tag names Olivia, Dana is the admin;
	// the simulators log to jitbot.log beside jitbot, at debug level.
	d.rig, err = rig.New(rig.Options{Clock: d.clock, SlackClock: true, Slack: true, ApprovalsChannel: true, ApplyPolls: 1, LogLevel: slog.LevelDebug, Spec: atlasSpec})
	if err != nil {
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

// show prints a message as its recipient sees it, indented.
func (d *demo) show(who string, text string) {
	d.say("%s sees:", who)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fmt.Fprintf(d.out, "      │ %s\n", line)
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

func (d *demo) play(ctx context.Context) error {
	if d.unchecked == nil {
		fmt.Fprintf(d.out, "jitbot demo: one just-in-time access journey, through jitbot's real HTTP handlers,\n"+
			"against a recording fake of the Slack Web API and an Atlas Admin API simulator that checks\n"+
			"every call against the OpenAPI spec shipped in the Atlas SDK.\n")
	} else {
		fmt.Fprintf(d.out, "jitbot demo: one just-in-time access journey, through jitbot's real HTTP handlers,\n"+
			"against a recording fake of the Slack Web API and an Atlas Admin API simulator.\n"+
			"  NOTE: Atlas calls are NOT checked against the OpenAPI spec in this run: the Atlas SDK's spec is not on this machine (no Go module cache); set %s to check them.\n", atlastest.SpecEnv)
	}
	fmt.Fprintf(d.out, "  cluster Cluster0 carries the Atlas tag owner=%s; policy flow prod-read routes to owners.\n", rig.Olivia.Email)

	d.step("%s types in Slack: /access request %s read 1h INC-123 checkout errors", rig.Alice.Email, demoResource)
	ack, err := d.poster.Send(ctx, "/slack/commands", d.rig.SlashForm(rig.Alice, "request "+demoResource+" read 1h INC-123 checkout errors", d.rig.Slack.NewTriggerID()))
	if err != nil {
		return err
	}
	d.say("jitbot acknowledged at once: %s", strings.TrimSpace(ack))

	d.step("jitbot routes the request to the cluster's owner, %s, by DM", rig.Olivia.Email)
	card, err := d.rig.WaitDM(ctx, rig.Olivia, "Approve", d.wait(0))
	if err != nil {
		return err
	}
	d.show(rig.Olivia.Name, card.AllText())
	approve, ok := rig.Button(card, "approve:")
	if !ok {
		return errors.New("the approval card has no Approve button")
	}

	d.step("%s clicks Approve (jitbot re-checks on the server that she may approve this request)", rig.Olivia.Name)
	form, err := d.rig.ClickForm(rig.Olivia, approve.ActionID, approve.Value, card)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return err
	}

	d.step("jitbot creates a temporary Atlas database user and waits until Atlas reports it APPLIED")
	creds, err := d.rig.WaitDM(ctx, rig.Alice, "jit-alice-", d.wait(0))
	if err != nil {
		return err
	}
	users := d.rig.Atlas.Users(rig.Project)
	if len(users) != 1 {
		return fmt.Errorf("want one Atlas user, found %d", len(users))
	}
	u := users[0]
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = fmt.Sprintf("%s on %s.%s", r.RoleName, r.DatabaseName, r.CollectionName)
	}
	scopes := make([]string, len(u.Scopes))
	for i, s := range u.Scopes {
		scopes[i] = s.Name + " (" + s.Type + ")"
	}
	d.say("Atlas user %s: %s; scoped to %s; Atlas deletes it by itself at %s (backstop)",
		u.Username, strings.Join(roles, ", "), strings.Join(scopes, ", "), u.DeleteAfterDate.UTC().Format(time.RFC3339))

	d.step("%s gets her credentials, privately, once", rig.Alice.Email)
	password := ""
	lines := strings.Split(creds.AllText(), "\n")
	for i, line := range lines {
		if strings.Trim(strings.TrimSpace(line), "*") == "Password" && i+1 < len(lines) {
			password = strings.Trim(strings.TrimSpace(lines[i+1]), "`")
		}
	}
	shown := creds.AllText()
	if password != "" {
		shown = strings.ReplaceAll(shown, password, strings.Repeat("•", 12)+" (hidden in this transcript)")
	}
	d.show(rig.Alice.Name, shown)
	if password == "" || !d.rig.Atlas.CheckPassword(rig.Project, u.Username, password) {
		return errors.New("the password in the DM does not log in to the Atlas user")
	}
	d.say("checked: that password is the Atlas user's password")

	d.step("⏩ 45 minutes later: the reminder (%s before expiry), with Extend buttons", flows.FormatDuration(15*time.Minute))
	d.fastForward(ctx, 45*time.Minute)
	reminder, err := d.rig.WaitDM(ctx, rig.Alice, "Access ends soon", d.wait(45*time.Minute))
	if err != nil {
		return err
	}
	d.show(rig.Alice.Name, reminder.AllText())

	d.step("⏩ 15 minutes later: the grant expires; jitbot deletes the Atlas user")
	d.fastForward(ctx, 15*time.Minute)
	if err := d.rig.WaitSlack(ctx, "the expiry notice", d.wait(15*time.Minute), func() bool {
		_, ok := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access expired")
		return ok && len(d.rig.Atlas.Users(rig.Project)) == 0
	}); err != nil {
		return err
	}
	expiry, _ := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access expired")
	d.show(rig.Alice.Name, expiry.AllText())
	d.say("Atlas now has %d database users in the project", len(d.rig.Atlas.Users(rig.Project)))

	d.step("every approval card was updated in place to show the outcome (no buttons left)")
	for _, m := range d.rig.Slack.Messages() {
		if m.TS != card.TS && m.Channel != rig.ApprovalsChannel || len(m.Updates) == 0 {
			continue
		}
		where := "DM to " + rig.Olivia.Name
		if m.Channel == rig.ApprovalsChannel {
			where = "#db-access"
		}
		if len(m.Buttons()) > 0 {
			return fmt.Errorf("the card in %s still has buttons", where)
		}
		d.show(where+" (after "+fmt.Sprint(len(m.Updates))+" updates)", m.AllText())
	}
	final, _ := d.rig.Slack.Message(card.Channel, card.TS)
	if len(final.Updates) == 0 || len(final.Buttons()) > 0 {
		return errors.New("the owner's approval card was not updated")
	}

	if d.unchecked == nil {
		d.step("the Atlas calls jitbot made (each checked against the Atlas OpenAPI spec)")
	} else {
		d.step("the Atlas calls jitbot made (NOT checked against the Atlas OpenAPI spec: see the note above)")
	}
	counts := map[string]int{}
	var order []string
	for _, c := range d.rig.Atlas.Calls() {
		if c.Challenge {
			continue
		}
		key := fmt.Sprintf("%-6s %-60s %d", c.Method, c.OperationID, c.Status)
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	for _, k := range order {
		d.say("%s  ×%d", k, counts[k])
	}
	if v := d.rig.Atlas.SpecViolations(); len(v) > 0 {
		return fmt.Errorf("requests broke the Atlas spec: %v", v)
	}
	if n := d.rig.Atlas.CountCalls("createDatabaseUser"); n != 1 {
		return fmt.Errorf("want exactly one createDatabaseUser, saw %d", n)
	}
	if n := d.rig.Atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		return fmt.Errorf("want exactly one deleteDatabaseUser, saw %d", n)
	}

	d.step("the audit log: every transition, hash-chained")
	var types []string
	if err := d.rig.Main.Store().Audit(ctx, time.Time{}, func(r flows.AuditRecord) error {
		types = append(types, string(r.Event.Type))
		return nil
	}); err != nil {
		return err
	}
	sum, err := d.rig.Main.Store().VerifyAudit(ctx)
	if err != nil {
		return err
	}
	d.say("%s", strings.Join(types, " → "))
	d.say("%d records; chain verified; head %s…", sum.Records, sum.Head[:16])
	if !slices.Contains(types, "expired") {
		return errors.New("the audit log has no expiry")
	}
	return nil
}

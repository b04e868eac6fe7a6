package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

// demoClock is the demo's time: it jumps when the demo fast-forwards, and
// with a speed it runs that many times faster than real time in between.
type demoClock struct {
	mu     sync.Mutex
	base   time.Time // demo time at realAt
	realAt time.Time
	speed  float64
}

func newDemoClock(start time.Time, speed float64) *demoClock {
	return &demoClock{base: start, realAt: time.Now(), speed: speed}
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *demoClock) nowLocked() time.Time {
	elapsed := time.Since(c.realAt)
	return c.base.Add(time.Duration(float64(elapsed) * c.speed)).Truncate(time.Millisecond)
}

func (c *demoClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.realAt = c.nowLocked().Add(d), time.Now()
}

const (
	demoProject       = "5cf5a45a9ccf6400e60981b6"
	demoSigningSecret = "demo-signing-secret-0123456789"
	demoBotToken      = "xoxb-demo-0000-0000"
	demoAdminToken    = "demo-admin-token-0123456789"
	demoResource      = "prod/Cluster0/sales/orders"
)

type demoPerson struct{ id, name, email, tz string }

var (
	demoAlice  = demoPerson{"U0ALICE", "alice", "alice@example.com", "Europe/Paris"}
	demoOlivia = demoPerson{"U0OLIVIA", "olivia", "olivia@example.com", "America/New_York"}
	demoDana   = demoPerson{"U0DANA", "dana", "dana@example.com", "UTC"}
)

const demoConfig = `
listen: "127.0.0.1:0"
store: {path: STORE}
admin_token: ` + demoAdminToken + `
reminder_before: 15m
admins: [dana@example.com]
slack:
  bot_token: ` + demoBotToken + `
  signing_secret: ` + demoSigningSecret + `
  api_url: SLACK_URL
  approvals_channel: "#db-access"
groups:
  dba: [dana@example.com]
integrations:
  - name: prod
    project_id: ` + demoProject + `
    atlas: {base_url: ATLAS_URL, client_id: CLIENT_ID, client_secret: CLIENT_SECRET}
    owners: [group:dba]
    owner_tag: owner
    access_details: "mongosh \"$CONNECTION_STRING\" --username $USERNAME"
    databases:
      Cluster0: {sales: [orders, customers]}
flows:
  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [read]
    default_duration: 1h
    max_duration: 8h
    approvers: [owners]
    require_reason: true
    pending_ttl: 1h
`

// demo is one run of the demo: the simulators, jitbot, and the transcript.
type demo struct {
	out   io.Writer
	speed float64
	clock *demoClock
	dir   string
	atlas *atlastest.Server
	slack *slacktest.Server
	main  *app.Main
	run   chan error
	steps int
}

func (e *env) demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jitbot demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	speed := fs.Float64("speed", 0, "0: jump over waiting time; N: let demo time run N times faster than real time (the scheduler then fires on its own)")
	keep := fs.Bool("keep", false, "leave jitbot and the simulators running after the journey, until interrupted")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed < 0 {
		return usageErr("-speed must be 0 or more")
	}
	d, err := startDemo(ctx, e.stdout, *speed)
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
			d.main.Addr(), d.slack.APIURL(), d.atlas.URL(), demoProject, demoAdminToken, filepath.Join(d.dir, "jitbot.db"))
		<-ctx.Done()
	}
	return nil
}

func startDemo(ctx context.Context, out io.Writer, speed float64) (d *demo, err error) {
	d = &demo{out: out, speed: speed, run: make(chan error, 1)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.dir, err = os.MkdirTemp("", "jitbot-demo-"); err != nil {
		return nil, err
	}
	d.clock = newDemoClock(time.Now().UTC().Truncate(time.Second), speed)
	logFile, err := os.Create(filepath.Join(d.dir, "jitbot.log"))
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

	d.atlas, err = atlastest.New(atlastest.Options{Clock: d.clock, ApplyAfterPolls: 1, Logger: log.With("component", "atlas-simulator")})
	if err != nil {
		return nil, fmt.Errorf("start the Atlas simulator: %w", err)
	}
	d.atlas.AddProject(demoProject, "prod")
	d.atlas.AddCluster(demoProject, atlastest.Cluster{
		Name: "Cluster0", StandardSrv: "mongodb+srv://cluster0.demo.mongodb.net",
		Tags: []atlastest.Tag{{Key: "owner", Value: demoOlivia.email}, {Key: "env", Value: "prod"}},
	})
	d.slack = slacktest.New(slacktest.WithBotToken(demoBotToken), slacktest.WithClock(d.clock), slacktest.WithLogger(log.With("component", "slack-fake")))
	for _, p := range []demoPerson{demoAlice, demoOlivia, demoDana} {
		d.slack.AddUser(slacktest.User{ID: p.id, Name: p.name, RealName: strings.ToUpper(p.name[:1]) + p.name[1:], Email: p.email, TZ: p.tz})
	}
	d.slack.AddChannel("C0DBACCESS", "db-access")

	text := strings.NewReplacer("STORE", filepath.Join(d.dir, "jitbot.db"), "SLACK_URL", d.slack.APIURL(),
		"ATLAS_URL", d.atlas.URL(), "CLIENT_ID", atlastest.DefaultClientID, "CLIENT_SECRET", atlastest.DefaultClientSecret).Replace(demoConfig)
	cfg, err := config.Parse("demo.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if d.main, err = app.New(ctx, cfg, app.Options{Clock: d.clock, Log: log, Listener: ln}); err != nil {
		return nil, err
	}
	go func() { d.run <- d.main.Run(ctx) }()
	return d, nil
}

func (d *demo) close() {
	if d.main != nil {
		_ = d.main.Close()
	}
	if d.slack != nil {
		d.slack.Close()
	}
	if d.atlas != nil {
		d.atlas.Close()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
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

// waitFor polls the Slack fake until cond holds.
func (d *demo) waitFor(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := d.slack.Wait(ctx, cond); err != nil {
		return fmt.Errorf("%s did not happen within %s", what, timeout)
	}
	return nil
}

// post sends a signed request to jitbot's Slack endpoint, as Slack would.
func (d *demo) post(ctx context.Context, path string, form map[string][]string) (string, error) {
	req, err := slacktest.SignedRequest(ctx, "http://"+d.main.Addr()+path, form, demoSigningSecret, time.Now())
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s: %s", path, resp.Status, body)
	}
	return string(body), nil
}

// fastForward moves demo time on and lets the scheduler see it.
func (d *demo) fastForward(ctx context.Context, by time.Duration) {
	if d.speed > 0 {
		return // demo time runs by itself; the scheduler's sweeps notice
	}
	d.clock.Advance(by)
	d.main.Sweep(ctx)
}

func (d *demo) wait(by time.Duration) time.Duration {
	if d.speed > 0 {
		return time.Duration(float64(by)/d.speed) + 30*time.Second
	}
	return 15 * time.Second
}

func lastWith(msgs []slacktest.Message, needle string) (slacktest.Message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].AllText(), needle) {
			return msgs[i], true
		}
	}
	return slacktest.Message{}, false
}

func (d *demo) play(ctx context.Context) error {
	fmt.Fprintf(d.out, "jitbot demo: one just-in-time access journey, through jitbot's real HTTP handlers,\n"+
		"against a recording fake of the Slack Web API and an Atlas Admin API simulator that checks\n"+
		"every call against the OpenAPI spec shipped in the Atlas SDK.\n")
	fmt.Fprintf(d.out, "  cluster Cluster0 carries the Atlas tag owner=%s; policy flow prod-read routes to owners.\n", demoOlivia.email)

	d.step("%s types in Slack: /access request %s read 1h INC-123 checkout errors", demoAlice.email, demoResource)
	ack, err := d.post(ctx, "/slack/commands", slacktest.SlashCommandForm(slackgo.SlashCommand{
		TeamID: "T0DEMO", ChannelID: "C0GENERAL", UserID: demoAlice.id, UserName: demoAlice.name, Command: "/access",
		Text: "request " + demoResource + " read 1h INC-123 checkout errors", ResponseURL: d.slack.NewResponseURL(), TriggerID: d.slack.NewTriggerID(),
	}))
	if err != nil {
		return err
	}
	d.say("jitbot acknowledged at once: %s", strings.TrimSpace(ack))

	d.step("jitbot routes the request to the cluster's owner, %s, by DM", demoOlivia.email)
	var card slacktest.Message
	if err := d.waitFor(ctx, "the approval card", d.wait(0), func() bool {
		m, ok := lastWith(d.slack.DMs(demoOlivia.id), "Approve")
		card = m
		return ok && len(m.Buttons()) > 0
	}); err != nil {
		return err
	}
	d.show(demoOlivia.name, card.AllText())
	var approve *slackgo.ButtonBlockElement
	for _, b := range card.Buttons() {
		if strings.HasPrefix(b.Value, "approve:") || strings.HasPrefix(b.ActionID, "approve") {
			approve = b
		}
	}
	if approve == nil {
		return errors.New("the approval card has no Approve button")
	}

	d.step("%s clicks Approve (jitbot re-checks on the server that she may approve this request)", demoOlivia.name)
	form, err := slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
		UserID: demoOlivia.id, UserName: demoOlivia.name, TeamID: "T0DEMO", ActionID: approve.ActionID, Value: approve.Value,
		ResponseURL: d.slack.NewMessageResponseURL(card.Channel, card.TS), TriggerID: d.slack.NewTriggerID(),
		ChannelID: card.Channel, MessageTS: card.TS,
	}))
	if err != nil {
		return err
	}
	if _, err := d.post(ctx, "/slack/interactions", form); err != nil {
		return err
	}

	d.step("jitbot creates a temporary Atlas database user and waits until Atlas reports it APPLIED")
	var creds slacktest.Message
	if err := d.waitFor(ctx, "the credentials DM", d.wait(0), func() bool {
		m, ok := lastWith(d.slack.DMs(demoAlice.id), "jit-alice-")
		creds = m
		return ok
	}); err != nil {
		return err
	}
	users := d.atlas.Users(demoProject)
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

	d.step("%s gets her credentials, privately, once", demoAlice.email)
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
	d.show(demoAlice.name, shown)
	if password == "" || !d.atlas.CheckPassword(demoProject, u.Username, password) {
		return errors.New("the password in the DM does not log in to the Atlas user")
	}
	d.say("checked: that password is the Atlas user's password")

	d.step("⏩ 45 minutes later: the reminder (%s before expiry), with Extend buttons", flows.FormatDuration(15*time.Minute))
	d.fastForward(ctx, 45*time.Minute)
	var reminder slacktest.Message
	if err := d.waitFor(ctx, "the reminder", d.wait(45*time.Minute), func() bool {
		m, ok := lastWith(d.slack.DMs(demoAlice.id), "Access ends soon")
		reminder = m
		return ok
	}); err != nil {
		return err
	}
	d.show(demoAlice.name, reminder.AllText())

	d.step("⏩ 15 minutes later: the grant expires; jitbot deletes the Atlas user")
	d.fastForward(ctx, 15*time.Minute)
	if err := d.waitFor(ctx, "the expiry notice", d.wait(15*time.Minute), func() bool {
		_, ok := lastWith(d.slack.DMs(demoAlice.id), "Access expired")
		return ok && len(d.atlas.Users(demoProject)) == 0
	}); err != nil {
		return err
	}
	expiry, _ := lastWith(d.slack.DMs(demoAlice.id), "Access expired")
	d.show(demoAlice.name, expiry.AllText())
	d.say("Atlas now has %d database users in the project", len(d.atlas.Users(demoProject)))

	d.step("every approval card was updated in place to show the outcome (no buttons left)")
	for _, m := range d.slack.Messages() {
		if m.TS != card.TS && m.Channel != "C0DBACCESS" || len(m.Updates) == 0 {
			continue
		}
		where := "DM to " + demoOlivia.name
		if m.Channel == "C0DBACCESS" {
			where = "#db-access"
		}
		if len(m.Buttons()) > 0 {
			return fmt.Errorf("the card in %s still has buttons", where)
		}
		d.show(where+" (after "+fmt.Sprint(len(m.Updates))+" updates)", m.AllText())
	}
	final, _ := d.slack.Message(card.Channel, card.TS)
	if len(final.Updates) == 0 || len(final.Buttons()) > 0 {
		return errors.New("the owner's approval card was not updated")
	}

	d.step("the Atlas calls jitbot made (each checked against the Atlas OpenAPI spec)")
	counts := map[string]int{}
	var order []string
	for _, c := range d.atlas.Calls() {
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
	if v := d.atlas.SpecViolations(); len(v) > 0 {
		return fmt.Errorf("requests broke the Atlas spec: %v", v)
	}
	if n := d.atlas.CountCalls("createDatabaseUser"); n != 1 {
		return fmt.Errorf("want exactly one createDatabaseUser, saw %d", n)
	}
	if n := d.atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		return fmt.Errorf("want exactly one deleteDatabaseUser, saw %d", n)
	}

	d.step("the audit log: every transition, hash-chained")
	var types []string
	if err := d.main.Store().Audit(ctx, time.Time{}, func(r flows.AuditRecord) error {
		types = append(types, string(r.Event.Type))
		return nil
	}); err != nil {
		return err
	}
	sum, err := d.main.Store().VerifyAudit(ctx)
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

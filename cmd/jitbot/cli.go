package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/identity"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

const usage = `jitbot: just-in-time access to MongoDB Atlas from Slack and Teams

Usage:
  jitbot serve  [-config jitbot.yaml] [-log-format json|text]
  jitbot check  [-config jitbot.yaml] [-online] [-strict]
  jitbot explain [-config jitbot.yaml] <person> <resource> [role]
  jitbot status [-config jitbot.yaml] [-json]
  jitbot grants list   [-config jitbot.yaml] [-state live|all|active,...] [-json]
  jitbot grants revoke [-config jitbot.yaml] [-as admin@example.com] [-reason text] <request-id>
  jitbot audit export  [-config jitbot.yaml] [-since 24h|2026-11-01T00:00:00Z]
  jitbot audit verify  [-config jitbot.yaml] [-against sink-copy.jsonl]
  jitbot report [-config jitbot.yaml] [-since 30d] [-until time] [-person email] [-resource glob] [-flow name] [-format csv|json]
  jitbot contacts forget [-config jitbot.yaml] [-as admin@example.com] <email>
  jitbot backup  [-config jitbot.yaml] -o jitbot-backup.db|-
  jitbot restore [-config jitbot.yaml] -i jitbot-backup.db [-force]
  jitbot store copy -from jitbot.yaml|store.db -to jitbot.yaml|store.db [-force]
  jitbot demo   [-speed 0] [-keep] [-playground 127.0.0.1:0]
  jitbot init   [-o jitbot.yaml] [-slack] [-teams] [-project-id id] [-cluster name] [-admin email] [-yes] [-force]
  jitbot version
  jitbot help [command]

Every command answers -h with what it does and its flags; flags may come
before or after its words and arguments (-- ends them).

The config defaults to $JITBOT_CONFIG, else /etc/jitbot/jitbot.yaml.
grants, audit and contacts talk to the running server's admin API
(admin_token) when it is up, and open the store directly when it is not.
contacts forget drops a person's Teams contact and the Microsoft Entra account
their email is bound to: the next account to write to jitbot with that email
binds it (for a re-hired person, a renamed mailbox).
backup takes a consistent snapshot of the store while jitbot serves (through
the admin API) and verifies it; restore, with jitbot stopped, verifies a
backup's audit chain and schema version before it puts it in place.
store copy, with jitbot stopped, moves all of its state from one store to
another (a bbolt file to etcd, and back), the audit chain verified on both.
status asks the running server how its store, Atlas integrations, Slack and
Teams are (serve runs on with an Atlas integration degraded; check -online
fails for it).
report is the access review: every grant held in the period, who held it,
for how long, approved by whom, why, with MFA or not, break-glass or not.
check runs serve's own validation and reports every problem with its path
and line; warnings (flows that can never match) fail it only with -strict.
explain tells, from the policy alone (no secret needed: test it in CI),
which flows apply to a person asking for a resource, who would approve, and
what they may ask for; it exits 1 when the request would be refused.
serve reloads groups and flows on SIGHUP and when the file changes; the
rest of the file applies on restart.
`

// exitError carries an exit status: 1 for failures, 2 for usage errors.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...) + "\nRun 'jitbot help' for usage."}
}

// cmdUsageErr is a usage error of the command name ("grants revoke"),
// pointing at its help.
func cmdUsageErr(name, format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...) + "\nRun 'jitbot " + name + " -h' for usage."}
}

type env struct {
	stdout, stderr io.Writer
	lookup         config.Env
	// atlasSpec finds the Atlas OpenAPI spec the demo's simulator checks
	// calls against (tests pretend it is missing).
	atlasSpec func() (*atlastest.Spec, error)
}

// cli runs one command line and returns the exit status: 0, 1 for a
// failure, 2 for a usage error. Help asked for (-h) goes to stdout with
// status 0; errors go to stderr as one line "jitbot: " and the message.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	e := &env{stdout: stdout, stderr: stderr, lookup: lookup, atlasSpec: atlastest.SharedSpec}
	err := e.run(ctx, args)
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "jitbot: "+onePrefix(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// verbs are the commands, as the command line names them: flags before
// the command are parsed once the first of these is found.
var verbs = []string{"serve", "check", "status", "grants", "audit", "report", "contacts", "backup", "restore", "store", "demo", "bench", "version", "help"}

func (e *env) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		// Nothing asked: the usage, on stderr, as the usage error it is.
		return &exitError{code: 2, msg: "missing command\n\n" + usage}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		args = append([]string{"help"}, args[1:]...)
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	verb, rest := args[0], args[1:]
	if strings.HasPrefix(verb, "-") {
		// Flags before the command: it is the first word that names one.
		var ok bool
		if verb, rest, ok = pickWord(args, verbs); !ok {
			return usageErr("missing command (flags follow a command: jitbot <command> [flags])")
		}
	}
	switch verb {
	case "serve":
		return e.serve(ctx, rest)
	case "check":
		return e.check(ctx, rest)
	case "explain":
		return e.explain(rest)
	case "status":
		return e.status(ctx, rest)
	case "grants":
		return e.grants(ctx, rest)
	case "audit":
		return e.audit(ctx, rest)
	case "report":
		return e.report(ctx, rest)
	case "contacts":
		return e.contacts(ctx, rest)
	case "backup":
		return e.backup(ctx, rest)
	case "restore":
		return e.restore(ctx, rest)
	case "store":
		return e.store(ctx, rest)
	case "demo":
		return e.demo(ctx, rest)
	case "init":
		return e.initConfig(ctx, rest)
	case "bench":
		// The scenarios (load generation, kill loops) are not in this
		// binary: they are a command of their own, run from the source tree.
		moved := "bench has moved out of the jitbot binary: run `" + strings.Join(append([]string{"go run ./cmd/jitbot-bench"}, rest...), " ") +
			"` in jitbot's source tree (see README.md, Performance)"
		if wantsHelp(rest) {
			fmt.Fprintln(e.stdout, moved)
			return errHelp
		}
		return &exitError{code: 2, msg: moved}
	case "version":
		return e.version(rest)
	case "help":
		// help [command [subcommand]]: the command's own -h.
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") || rest[0] == "help" {
			fmt.Fprint(e.stdout, usage)
			return errHelp
		}
		return e.run(ctx, append(slices.Clip(rest), "-h"))
	}
	return usageErr("unknown command %q", verb)
}

// flags is the flag set of a command that reads the configuration, with
// its -config flag.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := e.flagSet(name)
	def := "/etc/jitbot/jitbot.yaml"
	if v, ok := e.lookup("JITBOT_CONFIG"); ok && v != "" {
		def = v
	}
	return fs, fs.String("config", def, "path of jitbot.yaml ($JITBOT_CONFIG when set)")
}

func (e *env) load(path string) (*config.Config, error) {
	cfg, err := config.Load(path, e.lookup)
	if err != nil {
		return nil, loadError(path, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func (e *env) serve(ctx context.Context, args []string) error {
	fs, path := e.flags("serve")
	format := fs.String("log-format", "", "json or text (default: the configuration's log_format)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	if *format == "" {
		*format = cfg.LogFormat
	}
	if *format != "json" && *format != "text" {
		return usageErr("-log-format %q: use json or text", *format)
	}
	log := newLogger(e.stderr, *format)
	m, err := app.New(ctx, cfg, app.Options{Log: log, Env: e.lookup, Reload: hangups(ctx)})
	if err != nil {
		if errors.Is(err, app.ErrBackendLocked) {
			return fmt.Errorf("%v; stop the other jitbot or point store.path elsewhere", err)
		}
		return err
	}
	return m.Run(ctx)
}

func (e *env) check(ctx context.Context, args []string) error {
	fs, path := e.flags("check")
	online := fs.Bool("online", false, "also prove the Atlas credentials work and carry the needed roles")
	strict := fs.Bool("strict", false, "fail on warnings too (flows that can never match...)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return e.runCheck(ctx, *path, *online, *strict)
}

// server returns the admin client of the running jitbot, or nil when none
// runs (the caller then opens the store itself).
func (e *env) server(ctx context.Context, cfg *config.Config) (*app.AdminClient, error) {
	c := app.NewAdminClient(cfg)
	if !c.Up(ctx) {
		return nil, nil
	}
	if cfg.AdminToken == "" {
		return nil, errors.New("jitbot is running; set admin_token in the configuration to use its admin API")
	}
	return c, nil
}

// openStore opens the store when no server runs, failing clearly when one
// holds it after all.
func (e *env) openStore(cfg *config.Config, readOnly bool) (app.Backend, error) {
	db, err := app.OpenBackend(cfg, readOnly, 2*time.Second)
	if errors.Is(err, app.ErrBackendLocked) {
		return nil, fmt.Errorf("the store is held by a running jitbot whose admin API is unreachable; set admin_token and use the server, or stop it")
	}
	return db, err
}

func (e *env) grants(ctx context.Context, args []string) error {
	return e.group("grants", args, func(sub string, args []string) error {
		if sub == "list" {
			return e.grantsList(ctx, args)
		}
		return e.grantsRevoke(ctx, args)
	})
}

func (e *env) grantsList(ctx context.Context, args []string) error {
	fs, path := e.flags("grants list")
	state := fs.String("state", "live", "live, all, or states separated by commas")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	states, err := app.ParseStates(*state)
	if err != nil {
		return usageErr("-state: %v", err)
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	var views []app.GrantView
	if c, err := e.server(ctx, cfg); err != nil {
		return err
	} else if c != nil {
		if views, err = c.Grants(ctx, *state); err != nil {
			return err
		}
	} else {
		db, err := e.openStore(cfg, true)
		if err != nil {
			return err
		}
		defer db.Close()
		rs, err := db.Find(ctx, flows.Query{States: states})
		if err != nil {
			return err
		}
		for _, r := range rs {
			views = append(views, app.ViewOf(r))
		}
	}
	if *asJSON {
		if views == nil {
			views = []app.GrantView{} // [], not null, for scripts
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tREQUESTER\tRESOURCE\tROLE\tEXPIRES")
	for _, v := range views {
		exp := ""
		if !v.ExpiresAt.IsZero() {
			exp = v.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.State, v.Requester, v.Resource, v.Role, exp)
	}
	return tw.Flush()
}

func (e *env) grantsRevoke(ctx context.Context, args []string) error {
	fs, path := e.flags("grants revoke")
	as := fs.String("as", "", "the admin revoking (default: the first admin in the policy)")
	reason := fs.String("reason", "", "why, for the audit log and the requester")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id := fs.Arg(0)
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	if *as, err = actingAdmin(cfg, *as); err != nil {
		return err
	}
	var v app.GrantView
	if c := app.NewAdminClient(cfg); c.Up(ctx) {
		if v, err = c.Revoke(ctx, id, *as, *reason); err != nil {
			return err
		}
	} else if v, err = e.revokeOffline(ctx, cfg, id, *as, *reason); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "request %s is %s\n", v.ID, v.State)
	return nil
}

// revokeOffline revokes a grant when no server runs: against the store and
// Atlas, with no listener, no schedule and no chat adapter.
func (e *env) revokeOffline(ctx context.Context, cfg *config.Config, id, as, reason string) (app.GrantView, error) {
	if !cfg.Policy.IsAdmin(as) {
		return app.GrantView{}, fmt.Errorf("%q is not an admin in the policy", as)
	}
	db, err := e.openStore(cfg, false)
	if err != nil {
		return app.GrantView{}, err
	}
	defer db.Close()
	untold := &untold{}
	o, err := app.NewOffline(ctx, cfg, db, untold, app.Options{Log: newLogger(e.stderr, "text")})
	if err != nil {
		return app.GrantView{}, err
	}
	defer o.Close()
	r, err := o.Service.Revoke(ctx, flows.RequestID(id), as, app.ViaAdmin(reason, "the jitbot CLI"))
	if err != nil {
		return app.GrantView{}, errors.New(flows.ErrorMessage(err))
	}
	if untold.people.Load() {
		fmt.Fprintln(e.stderr, "jitbot: no server runs: the requester and the approvers will be told in Slack or Teams when jitbot next serves")
	}
	return app.ViewOf(r), nil
}

// untold is the notifier of an admin verb run without a server: no chat
// adapter runs, so it only notes whether anyone is to be told (the outbox
// of the next jitbot that serves does it, from the audit log).
type untold struct{ people atomic.Bool }

func (u *untold) Notify(_ context.Context, n flows.Notice) error {
	if len(n.To) > 0 || n.Credentials != nil {
		u.people.Store(true)
	}
	return nil
}

func (e *env) audit(ctx context.Context, args []string) error {
	return e.group("audit", args, func(sub string, args []string) error { return e.auditSub(ctx, sub, args) })
}

func (e *env) auditSub(ctx context.Context, sub string, args []string) error {
	fs, path := e.flags("audit " + sub)
	sinceHelp := "only records from this time (RFC 3339) or this long ago (24h, 7d)"
	if sub == "verify" {
		sinceHelp = "refused: the chain is verified from its first record"
	}
	since := fs.String("since", "", sinceHelp)
	var against, breakGlass *string
	if sub == "export" {
		breakGlass = fs.String("break-glass", "", "only break-glass uses and their reviews, in this review state: all, open, overdue or reviewed (auditbreakglass.go)")
	}
	if sub == "verify" {
		against = fs.String("against", "", "also check the chain against a sink's copy of the streamed events (JSON lines, as a webhook receiver saves them)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if sub == "verify" && *since != "" {
		return usageErr("audit verify: -since does not apply: the chain is verified from its first record")
	}
	// export writes to stdout, or with -break-glass through a pipe
	// filtered on its way there (auditbreakglass.go).
	export := func(write func(io.Writer) error) error { return write(e.stdout) }
	if breakGlass != nil && *breakGlass != "" {
		if err := checkBreakGlassState(*breakGlass); err != nil {
			return usageErr("audit export: %v", err)
		}
		export = func(write func(io.Writer) error) error {
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				err := filterBreakGlass(pr, e.stdout, *breakGlass)
				pr.CloseWithError(err) // a writer still writing stops
				done <- err
			}()
			err := write(pw)
			pw.CloseWithError(err)
			if ferr := <-done; err == nil {
				err = ferr
			}
			return err
		}
	}
	from, err := app.ParseSince(*since, time.Now())
	if err != nil {
		return usageErr("%v", err)
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	if c, err := e.server(ctx, cfg); err != nil {
		return err
	} else if c != nil {
		if sub == "export" {
			return export(func(w io.Writer) error { return c.ExportAudit(ctx, from, w) })
		}
		if against != nil && *against != "" {
			verify := func() error { _, err := c.VerifyAudit(ctx); return err }
			return e.verifyAgainst(*against, verify, serverAuditWalk(ctx, c))
		}
		res, err := c.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "audit log OK: %d records, head %s\n", res.Records, res.Head)
		return nil
	}
	db, err := e.openStore(cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "export" {
		return export(func(w io.Writer) error {
			enc := json.NewEncoder(w)
			return db.Audit(ctx, from, func(r flows.AuditRecord) error { return enc.Encode(app.LineOf(r)) })
		})
	}
	if against != nil && *against != "" {
		verify := func() error { _, err := db.VerifyAudit(ctx); return err }
		return e.verifyAgainst(*against, verify, func(fn func(flows.AuditRecord) error) error { return db.Audit(ctx, time.Time{}, fn) })
	}
	sum, err := db.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit log OK: %d records, head %s\n", sum.Records, sum.Head)
	return nil
}

func (e *env) contacts(ctx context.Context, args []string) error {
	return e.group("contacts", args, func(_ string, args []string) error { return e.contactsForget(ctx, args) })
}

func (e *env) contactsForget(ctx context.Context, args []string) error {
	fs, path := e.flags("contacts forget")
	as := fs.String("as", "", "the admin forgetting the contact (default: the first admin in the policy)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	email, err := flows.NormalizeEmail(fs.Arg(0))
	if err != nil {
		return usageErr("contacts forget: %s", flows.ErrorMessage(err))
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	if *as, err = actingAdmin(cfg, *as); err != nil {
		return err
	}
	if c, err := e.server(ctx, cfg); err != nil {
		return err
	} else if c != nil {
		if err := c.ForgetContact(ctx, email, *as); err != nil {
			return err
		}
	} else {
		admin, err := flows.NormalizeEmail(*as)
		if err != nil || !cfg.Policy.IsAdmin(admin) {
			return fmt.Errorf("%q is not an admin in the policy", *as)
		}
		// No server: no Teams bot holds the contact in memory, the store is all there is.
		if _, err := os.Stat(cfg.StorePath); cfg.StoreEtcd == nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no store at %s: jitbot has not run with this configuration, so it knows no contacts", cfg.StorePath)
		}
		db, err := e.openStore(cfg, false)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := app.ForgetTeamsContact(ctx, app.StoreForget(db), email, admin, "the jitbot CLI", time.Now()); err != nil {
			if flows.ErrorCode(err) == flows.EINTERNAL {
				return err
			}
			return errors.New(flows.ErrorMessage(err))
		}
	}
	fmt.Fprintf(e.stdout, "forgot the Teams contact of %s: the next Microsoft Entra account to write to jitbot with this email binds it\n", email)
	return nil
}

// status prints the running server's status (GET /admin/status). It needs
// the server: the health it reports is what the server's background checks
// found, and a CLI run alone would prove nothing about it.
func (e *env) status(ctx context.Context, args []string) error {
	fs, path := e.flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	c, err := e.server(ctx, cfg)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w at %s: status reports a running jitbot's health (use check -online to test the Atlas credentials without one)", app.ErrNoServer, cfg.Listen)
	}
	s, err := c.Status(ctx)
	if err != nil {
		return err
	}
	// Scripts and humans both learn from the exit status that something
	// needs a look; the server itself runs on.
	var unwell error
	degraded := 0
	for _, in := range s.Integrations {
		if in.State == app.DepDegraded {
			degraded++
		}
	}
	if !s.Ready || degraded > 0 {
		unwell = fmt.Errorf("%d Atlas integration(s) degraded; ready: %v", degraded, s.Ready)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(s), unwell)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	ready := "ready (takes webhooks)"
	if !s.Ready {
		ready = "NOT READY"
	}
	fmt.Fprintf(tw, "jitbot\t%s\n", ready)
	fmt.Fprintf(tw, "store\t%s\t%s\n", s.Store.State, s.Store.Error)
	row := func(name string, d app.DependencyStatus) {
		line := d.State
		if !d.Since.IsZero() {
			line += " since " + d.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, line, d.LastError)
	}
	for _, in := range s.Integrations {
		row("atlas "+in.Integration, in.DependencyStatus)
	}
	if s.Slack != nil {
		row("slack", *s.Slack)
	}
	if s.Teams != nil {
		row("teams", *s.Teams)
	}
	fmt.Fprintf(tw, "atlas watchers\t%d polling, %d waiting\t%d applied, %d timed out, %d failed\n",
		s.Watchers.Watchers, s.Watchers.Waiting, s.Watchers.Applied, s.Watchers.TimedOut, s.Watchers.Failed)
	fmt.Fprintln(tw, policyRow(s.Policy))
	fmt.Fprintf(tw, "pipeline\t%d in the inbox, %d in the outbox\t%s\n", s.Pipeline.Inbox, s.Pipeline.Outbox, s.Pipeline.Error)
	for _, a := range s.AuditSinks {
		fmt.Fprintf(tw, "audit sink %s\t%d acknowledged, %d behind, %d failed sends\t%s\n", a.Sink, a.Acked, a.Behind, a.Failed, a.LastError)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return unwell
}

// checkOnline proves each integration's credentials and roles. Unlike serve,
// which runs on with an integration degraded, it fails for any integration
// that does not answer: proving them is its whole job.
func (e *env) checkOnline(ctx context.Context, cfg *config.Config) error {
	p, err := app.NewAtlas(ctx, cfg, app.Options{Log: newLogger(io.Discard, "text"), Clock: flows.SystemClock{}})
	if err != nil {
		return err
	}
	defer p.Close()
	failed := 0
	storeErr := error(nil)
	if ok, err := app.CheckBackend(ctx, cfg); err != nil {
		storeErr = err
		fmt.Fprintf(e.stdout, "store: FAILED: %v\n", err)
	} else if ok != "" {
		fmt.Fprintln(e.stdout, ok)
	}
	for _, in := range cfg.Integrations {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := p.Check(cctx, in.Name)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(e.stdout, "integration %s: FAILED: %s\n", in.Name, flows.ErrorMessage(err))
			continue
		}
		fmt.Fprintf(e.stdout, "integration %s: OK (credentials work; Project Database Access Admin and Project Read Only confirmed)\n", in.Name)
	}
	var errs []error
	if failed > 0 {
		errs = append(errs, fmt.Errorf("%d integration(s) failed the online check", failed))
	}
	if storeErr != nil {
		errs = append(errs, storeErr)
	}
	if err := e.checkChat(ctx, cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.Identity != nil {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := identity.Discover(cctx, cfg.Identity.OIDC, nil)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stdout, "identity provider %s: FAILED: %v\n", cfg.Identity.OIDC.Issuer, err)
			errs = append(errs, errors.New("the identity provider failed the online check"))
		} else {
			fmt.Fprintf(e.stdout, "identity provider %s: OK (discovered; code flow with PKCE)\n", cfg.Identity.OIDC.Issuer)
		}
	}
	return errors.Join(errs...)
}

// actingAdmin is who an admin verb acts as: -as, else the policy's first
// admin.
func actingAdmin(cfg *config.Config, as string) (string, error) {
	if as != "" {
		return as, nil
	}
	admins := cfg.Policy.Admins()
	if len(admins) == 0 {
		return "", errors.New("the policy has no admins: add one under admins, or pass -as")
	}
	return admins[0], nil
}

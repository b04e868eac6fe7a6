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
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

const usage = `jitbot: just-in-time access to MongoDB Atlas from Slack and Teams

Usage:
  jitbot serve  [-config jitbot.yaml] [-log-format json|text]
  jitbot check  [-config jitbot.yaml] [-online]
  jitbot status [-config jitbot.yaml] [-json]
  jitbot grants list   [-config jitbot.yaml] [-state live|all|active,...] [-json]
  jitbot grants revoke [-config jitbot.yaml] [-as admin@example.com] [-reason text] <request-id>
  jitbot audit export  [-config jitbot.yaml] [-since 24h|2026-11-01T00:00:00Z]
  jitbot audit verify  [-config jitbot.yaml]
  jitbot contacts forget [-config jitbot.yaml] [-as admin@example.com] <email>
  jitbot demo   [-speed 0] [-keep]
  jitbot version

The config defaults to $JITBOT_CONFIG, else /etc/jitbot/jitbot.yaml.
grants, audit and contacts talk to the running server's admin API
(admin_token) when it is up, and open the store directly when it is not.
contacts forget drops a person's Teams contact and the Microsoft Entra account
their email is bound to: the next account to write to jitbot with that email
binds it (for a re-hired person, a renamed mailbox).
status asks the running server how its store, Atlas integrations, Slack and
Teams are (serve runs on with an Atlas integration degraded; check -online
fails for it).
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

type env struct {
	stdout, stderr io.Writer
	lookup         config.Env
	// atlasSpec finds the Atlas OpenAPI spec the demo's simulator checks
	// calls against (tests pretend it is missing).
	atlasSpec func() (*atlastest.Spec, error)
}

// cli runs one command line and returns the exit status.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	e := &env{stdout: stdout, stderr: stderr, lookup: lookup, atlasSpec: atlastest.SharedSpec}
	err := e.run(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "jitbot: "+err.Error())
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (e *env) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErr("missing command")
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "serve":
		return e.serve(ctx, rest)
	case "check":
		return e.check(ctx, rest)
	case "status":
		return e.status(ctx, rest)
	case "grants":
		return e.grants(ctx, rest)
	case "audit":
		return e.audit(ctx, rest)
	case "contacts":
		return e.contacts(ctx, rest)
	case "demo":
		return e.demo(ctx, rest)
	case "bench":
		// The scenarios (load generation, kill loops) are not in this
		// binary: they are a command of their own, run from the source tree.
		return &exitError{code: 2, msg: "bench has moved out of the jitbot binary: run `" + strings.Join(append([]string{"go run ./cmd/jitbot-bench"}, rest...), " ") +
			"` in jitbot's source tree (see README.md, Performance)"}
	case "version", "-version", "--version":
		return e.version(rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	return usageErr("unknown command %q", verb)
}

func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("jitbot "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := "/etc/jitbot/jitbot.yaml"
	if v, ok := e.lookup("JITBOT_CONFIG"); ok && v != "" {
		def = v
	}
	return fs, fs.String("config", def, "path of jitbot.yaml")
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageErr("%s: %v", fs.Name(), err)
	}
	return nil
}

func (e *env) load(path string) (*config.Config, error) {
	cfg, err := config.Load(path, e.lookup)
	var ps config.Problems
	switch {
	case errors.As(err, &ps):
		return nil, fmt.Errorf("%d problem(s) in the configuration:\n%v", len(ps), ps)
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no configuration at %s: pass -config, set JITBOT_CONFIG, or start from examples/jitbot.yaml", path)
	case err != nil:
		return nil, err
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
	m, err := app.New(ctx, cfg, app.Options{Log: log})
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: OK (%d integration(s), %d flow(s))\n", *path, len(cfg.Integrations), len(cfg.Policy.Flows()))
	if !*online {
		return nil
	}
	return e.checkOnline(ctx, cfg)
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
	if len(args) == 0 {
		return usageErr("grants: want list or revoke")
	}
	switch args[0] {
	case "list":
		fs, path := e.flags("grants list")
		state := fs.String("state", "live", "live, all, or states separated by commas")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
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
	case "revoke":
		fs, path := e.flags("grants revoke")
		as := fs.String("as", "", "the admin revoking (default: the first admin in the policy)")
		reason := fs.String("reason", "", "why, for the audit log and the requester")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageErr("grants revoke: want one request id")
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
	return usageErr("grants: unknown subcommand %q; want list or revoke", args[0])
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
	if len(args) == 0 {
		return usageErr("audit: want export or verify")
	}
	sub := args[0]
	fs, path := e.flags("audit " + sub)
	since := fs.String("since", "", "only records from this time (RFC 3339) or this long ago (24h, 7d)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if sub != "export" && sub != "verify" {
		return usageErr("audit: unknown subcommand %q; want export or verify", sub)
	}
	if sub == "verify" && *since != "" {
		return usageErr("audit verify: -since does not apply: the chain is verified from its first record")
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
			return c.ExportAudit(ctx, from, e.stdout)
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
		enc := json.NewEncoder(e.stdout)
		return db.Audit(ctx, from, func(r flows.AuditRecord) error { return enc.Encode(app.LineOf(r)) })
	}
	sum, err := db.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit log OK: %d records, head %s\n", sum.Records, sum.Head)
	return nil
}

func (e *env) contacts(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErr("contacts: want forget")
	}
	if args[0] != "forget" {
		return usageErr("contacts: unknown subcommand %q; want forget", args[0])
	}
	fs, path := e.flags("contacts forget")
	as := fs.String("as", "", "the admin forgetting the contact (default: the first admin in the policy)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("contacts forget: want one email")
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
		if _, err := os.Stat(cfg.StorePath); errors.Is(err, os.ErrNotExist) {
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
	fmt.Fprintf(tw, "pipeline\t%d in the inbox, %d in the outbox\t%s\n", s.Pipeline.Inbox, s.Pipeline.Outbox, s.Pipeline.Error)
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
	if failed > 0 {
		return fmt.Errorf("%d integration(s) failed the online check", failed)
	}
	return nil
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

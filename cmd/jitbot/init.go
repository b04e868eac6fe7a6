package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// starter is what `jitbot init` asks for: the few answers a first
// configuration needs. What is not known becomes a placeholder, marked
// REPLACE where it stands.
type starter struct {
	Path         string // the configuration file, absolute
	Dir, Secrets string // its directory and the secrets directory beside it
	Slack, Teams bool
	ProjectID    string
	Cluster      string
	Admin        string
	Date         string
	// Placeholder* say which values are placeholders.
	PlaceholderProject, PlaceholderAdmin bool
}

// The placeholders a starter writes where it was told nothing: valid, so
// that `jitbot check` accepts the file as it stands, and marked REPLACE.
const (
	placeholderProject = "000000000000000000000000"
	placeholderAdmin   = "admin@example.com"
)

var (
	projectIDPattern = regexp.MustCompile(`^[a-f0-9]{24}$`)
	clusterPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// initConfig is `jitbot init`: it writes a commented starter jitbot.yaml
// from its flags, asking on a terminal for what they leave out, and a
// secrets directory beside it with one file per secret (the admin token
// generated, the others empty, to fill in): the file never holds a secret.
func (e *env) initConfig(_ context.Context, args []string) error {
	// Questions are for a terminal (a character device, /dev/null aside).
	interactive := false
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		null, err := os.Stat(os.DevNull)
		interactive = err != nil || !os.SameFile(fi, null)
	}
	return e.writeStarter(args, os.Stdin, interactive)
}

func (e *env) writeStarter(args []string, in io.Reader, interactive bool) error {
	fs := e.flagSet("init")
	out := fs.String("o", "jitbot.yaml", "the configuration file to write")
	slack := fs.Bool("slack", false, "people ask in Slack")
	teams := fs.Bool("teams", false, "people ask in Microsoft Teams")
	project := fs.String("project-id", "", "the Atlas project ID (24 hex digits; empty: a placeholder)")
	cluster := fs.String("cluster", "Cluster0", "the cluster people ask for access to")
	admin := fs.String("admin", "", "your email: jitbot's first admin, and the approver of clusters with no owner tag")
	yes := fs.Bool("yes", false, "ask nothing: what the flags leave out gets a default or a placeholder")
	force := fs.Bool("force", false, "overwrite the configuration file if it exists")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("init: unexpected %q: flags only", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	if interactive && !*yes {
		q := &questions{in: bufio.NewScanner(in), out: e.stdout}
		fmt.Fprintln(e.stdout, "jitbot init: a few questions for a starter configuration (Enter takes the [default]).")
		if !given["slack"] && !given["teams"] {
			switch q.ask("Where do people ask for access: slack, teams or both?", "slack") {
			case "teams":
				*teams = true
			case "both":
				*slack, *teams = true, true
			default:
				*slack = true
			}
		}
		if !given["project-id"] {
			*project = q.ask("Atlas project ID (24 hex digits, in Atlas under Project Settings; empty: fill it in later)", "")
		}
		if !given["cluster"] {
			*cluster = q.ask("The cluster people ask for access to", *cluster)
		}
		if !given["admin"] {
			*admin = q.ask("Your email (jitbot's first admin)", "")
		}
		switch {
		case errors.Is(q.err, io.ErrUnexpectedEOF):
			fmt.Fprintln(e.stdout, "\n(no more answers: the rest gets defaults and placeholders)")
		case q.err != nil:
			return fmt.Errorf("read the answers: %w", q.err)
		}
	}
	if !*slack && !*teams {
		*slack = true
	}
	*project = strings.ToLower(strings.TrimSpace(*project))
	if *project != "" && !projectIDPattern.MatchString(*project) {
		return usageErr("init: project ID %q: want the 24 hex digits Atlas shows under Project Settings", *project)
	}
	if !clusterPattern.MatchString(*cluster) {
		return usageErr("init: cluster %q: want an Atlas cluster name (letters, digits, hyphens)", *cluster)
	}
	if *admin != "" && !strings.Contains(*admin, "@") {
		return usageErr("init: admin %q: want an email", *admin)
	}

	path, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	s := starter{
		Path: path, Dir: filepath.Dir(path), Secrets: filepath.Join(filepath.Dir(path), "secrets"),
		Slack: *slack, Teams: *teams, ProjectID: *project, Cluster: *cluster, Admin: *admin, Date: time.Now().Format(time.DateOnly),
	}
	if s.ProjectID == "" {
		s.ProjectID, s.PlaceholderProject = placeholderProject, true
	}
	if s.Admin == "" {
		s.Admin, s.PlaceholderAdmin = placeholderAdmin, true
	}
	if _, err := os.Stat(path); err == nil && !*force {
		return fmt.Errorf("%s exists: pass -force to overwrite it, or -o another path", path)
	}
	made, err := s.writeSecrets()
	if err != nil {
		return err
	}
	var text strings.Builder
	if err := starterTemplate.Execute(&text, s); err != nil {
		return fmt.Errorf("write the configuration: %w", err)
	}
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		return fmt.Errorf("write the configuration: %w", err)
	}
	e.toldStarter(s, made)
	return nil
}

// writeSecrets makes the secrets directory and its files, leaving alone
// any that exist (a rerun must not wipe a secret filled in), and answers
// the files made.
func (s starter) writeSecrets() ([]string, error) {
	if err := os.MkdirAll(s.Secrets, 0o700); err != nil {
		return nil, fmt.Errorf("make the secrets directory: %w", err)
	}
	files := map[string]string{"admin_token": rand.Text() + rand.Text()}
	if s.Slack {
		files["slack_bot_token"], files["slack_signing_secret"] = "", ""
	}
	if s.Teams {
		files["teams_app_password"] = ""
	}
	files["atlas_client_secret"] = ""
	var made []string
	for _, name := range []string{"admin_token", "slack_bot_token", "slack_signing_secret", "teams_app_password", "atlas_client_secret"} {
		content, ok := files[name]
		if !ok {
			continue
		}
		f, err := os.OpenFile(filepath.Join(s.Secrets, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write a secret file: %w", err)
		}
		_, werr := f.WriteString(content)
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, fmt.Errorf("write a secret file: %w", err)
		}
		made = append(made, name)
	}
	return made, nil
}

// toldStarter says what was written and what is left to do.
func (e *env) toldStarter(s starter, made []string) {
	fmt.Fprintf(e.stdout, "wrote %s\n", s.Path)
	if len(made) > 0 {
		fmt.Fprintf(e.stdout, "made  %s/{%s} (readable by you only)\n", s.Secrets, strings.Join(made, ","))
	}
	fmt.Fprintln(e.stdout, "\nTo do before jitbot serves (each is marked REPLACE in the file):")
	n := 0
	todo := func(format string, args ...any) {
		n++
		fmt.Fprintf(e.stdout, "  %d. %s\n", n, fmt.Sprintf(format, args...))
	}
	if s.Slack {
		todo("put the Slack app's bot token (xoxb-...) into %s", filepath.Join(s.Secrets, "slack_bot_token"))
		todo("put the Slack app's signing secret into %s", filepath.Join(s.Secrets, "slack_signing_secret"))
	}
	if s.Teams {
		todo("set teams.app_id and teams.tenant_id, and put the Azure bot's client secret into %s", filepath.Join(s.Secrets, "teams_app_password"))
	}
	if s.PlaceholderProject {
		todo("set integrations[0].project_id to your Atlas project ID")
	}
	todo("set the Atlas service account's client_id, and put its secret into %s", filepath.Join(s.Secrets, "atlas_client_secret"))
	if s.PlaceholderAdmin {
		todo("put your email in admins and owners")
	}
	fmt.Fprintf(e.stdout, "\nThen:\n  export JITBOT_CONFIG=%s\n  jitbot check -online\n  jitbot serve\n", s.Path)
}

// questions asks on a terminal, one line per answer.
type questions struct {
	in  *bufio.Scanner
	out io.Writer
	err error
}

func (q *questions) ask(question, def string) string {
	if q.err != nil {
		return def
	}
	fmt.Fprintf(q.out, "%s [%s]: ", question, def)
	if !q.in.Scan() {
		q.err = q.in.Err()
		if q.err == nil {
			q.err = io.ErrUnexpectedEOF
		}
		return def
	}
	if answer := strings.TrimSpace(q.in.Text()); answer != "" {
		return answer
	}
	return def
}

var starterTemplate = template.Must(template.New("jitbot.yaml").Parse(`# jitbot.yaml, written by jitbot init on {{.Date}}.
# Check it:  jitbot check -config {{.Path}}   (-online also tries the Atlas credentials)
# Run it:    jitbot serve -config {{.Path}}
#
# Values marked REPLACE are placeholders: jitbot check accepts them, Slack,
# Teams and Atlas will not. Secrets are never in this file: each *_file key
# names a file holding that one secret, made empty (readable by you only)
# in {{.Secrets}}; fill them in. Every key is explained in examples/jitbot.yaml
# in jitbot's source.

listen: ":8080"                  # Slack and Teams post here, through your HTTPS proxy
store:
  path: {{.Dir}}/jitbot.db       # one bbolt file: back it up like any database
admin_token_file: {{.Secrets}}/admin_token   # generated: the CLI's key to the server's admin API
reminder_before: 15m             # remind the requester this long before access ends
admins: [{{.Admin}}]   #{{if .PlaceholderAdmin}} REPLACE: your email.{{end}} Admins may revoke anything, and hear when a revocation keeps failing
{{if .Slack}}
slack:
  # A Slack app with a bot user (scopes: commands, chat:write, im:write, users:read,
  # users:read.email, usergroups:read, im:history, channels:history, groups:history,
  # channels:read, groups:read),
  # the slash command /access and interactivity pointing at
  # https://<your host>/slack/commands and /slack/interactions.
  bot_token_file: {{.Secrets}}/slack_bot_token            # REPLACE: put the bot token (xoxb-...) in this file
  signing_secret_file: {{.Secrets}}/slack_signing_secret  # REPLACE: put the app's signing secret in this file
  # approvals_channel: "#db-access"   # also post every approval card here
{{end}}{{if .Teams}}
teams:
  # An Azure bot (single tenant) whose messaging endpoint is https://<your host>/teams/messages.
  app_id: 00000000-0000-0000-0000-000000000000             # REPLACE: the bot's Microsoft App ID
  app_password_file: {{.Secrets}}/teams_app_password      # REPLACE: put the bot's client secret in this file
  tenant_id: 00000000-0000-0000-0000-000000000000          # REPLACE: your Directory (tenant) ID
{{end}}
integrations:
  - name: prod
    project_id: {{.ProjectID}}{{if .PlaceholderProject}}   # REPLACE: your Atlas project ID (Project Settings){{end}}
    atlas:
      # An Atlas service account with Project Database Access Admin and Project Read Only.
      client_id: mdb_sa_id_000000000000000000000000          # REPLACE: the service account's client ID
      client_secret_file: {{.Secrets}}/atlas_client_secret  # REPLACE: put its client secret in this file
    owners: [{{.Admin}}]   #{{if .PlaceholderAdmin}} REPLACE: your email.{{end}} They approve for clusters with no owner tag
    owner_tag: owner               # a cluster tagged owner=<emails> is approved by those people

flows:
  - name: read
    integration: prod
    requesters: ["*"]              # anyone in your workspace or tenant may ask
    resources: ["{{.Cluster}}/*", "{{.Cluster}}/*/*"]   # any database of {{.Cluster}}, or one collection
    roles: [read]
    default_duration: 1h
    max_duration: 8h
    approvers: [owners]            # the cluster's owner tag, else the owners above
    require_reason: true
    pending_ttl: 1h                # a request nobody decides on by then times out
`))

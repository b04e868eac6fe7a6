package rig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// The people of the world. olivia owns Cluster0 (its Atlas owner tag names
// her) and approves, in Slack and in Teams; dana is an admin; alice asks in
// Slack, bob in Teams; more requesters are generated (Requester).
var (
	Alice  = slacktest.User{ID: "U0ALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com", TZ: "Europe/Paris"}
	Olivia = slacktest.User{ID: "U0OLIVIA", Name: "olivia", RealName: "Olivia", Email: "olivia@example.com", TZ: "America/New_York"}
	Dana   = slacktest.User{ID: "U0DANA", Name: "dana", RealName: "Dana", Email: "dana@example.com", TZ: "UTC"}
	// OliviaInTeams is olivia as the Bot Framework knows her; OliviaConv is
	// her one-to-one chat with the bot.
	OliviaInTeams = teamstest.Member{ID: "29:olivia", Name: "Olivia", Email: "olivia@example.com", AadObjectID: "aad-olivia"}
	// BobInTeams is in Teams only; BobConv is his one-to-one chat with the
	// bot.
	BobInTeams = teamstest.Member{ID: "29:bob", Name: "Bob", Email: "bob@example.com", AadObjectID: "aad-bob"}
)

const (
	OliviaConv = "a:olivia-1on1"
	BobConv    = "a:bob-1on1"
	// Project is the Atlas project of the one integration, prod.
	Project     = "5cf5a45a9ccf6400e60981b6"
	ClusterName = "Cluster0"
	// SigningSecret signs what the rig sends to jitbot's Slack endpoints.
	SigningSecret = "rig-signing-secret-0123456789"
	BotToken      = "xoxb-rig-0000-0000"
	AdminToken    = "rig-admin-token-0123456789"
	// ApprovalsChannel is the Slack channel that gets a copy of each
	// approval card when Options.ApprovalsChannel is set.
	ApprovalsChannel     = "C0DBACCESS"
	approvalsChannelName = "db-access"
)

// Requester is the nth generated requester.
func Requester(n int) slacktest.User {
	return slacktest.User{ID: fmt.Sprintf("U%05d", n), Name: fmt.Sprintf("user%05d", n), Email: fmt.Sprintf("user%05d@example.com", n), TZ: "UTC"}
}

// ReadFlow is the approval flow the rig configures unless told otherwise:
// anyone may ask for read access to Cluster0's sales database or one of its
// collections, for up to 8 hours, with a reason; the cluster's owner
// approves.
const ReadFlow = `  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*", "Cluster0/sales"]
    roles: [read]
    default_duration: 1h
    max_duration: 8h
    approvers: [owners]
    require_reason: true
    pending_ttl: 1h
`

// Clock is the time the world runs on when it is not the real one.
type Clock interface {
	Now() time.Time
}

// Options describe one world.
type Options struct {
	// Dir holds the configuration, the store and the log; empty: a
	// temporary directory Close removes.
	Dir string
	// Clock is jitbot's and the Atlas simulator's time (nil: real time);
	// with SlackClock the Slack fake's too (its response URLs and message
	// timestamps then follow the demo's time), with TeamsClock the Bot
	// Framework fake's (its tokens, recorded times and outages).
	Clock                  Clock
	SlackClock, TeamsClock bool
	// Slack and Teams run the Slack fake and the Bot Framework fake and
	// configure jitbot for them.
	Slack, Teams bool
	// ApprovalsChannel configures #db-access as the approvals channel.
	ApprovalsChannel bool
	// Listen is jitbot's address ("127.0.0.1:0" when empty).
	Listen string
	// RateLimit configures the integration's atlas.rate_limit (a YAML flow map).
	RateLimit string
	// Flows is the configuration's flows: section (ReadFlow when empty).
	Flows string
	// Clusters replace the default Cluster0 owned by olivia.
	Clusters []atlastest.Cluster
	// SlackUsers are added to the Slack fake, besides alice, olivia and dana.
	SlackUsers []slacktest.User
	// SlackOptions are added to the Slack fake's (slacktest.WithPacingLimit).
	SlackOptions []slacktest.Option
	// NobodyInSlack leaves the Slack workspace empty, so no direct message is
	// sent. Scenarios on a frozen simulated clock need it: Slack's one
	// message per second per channel would otherwise cost a real second for
	// each message sent at the same simulated instant.
	NobodyInSlack bool
	// AtlasRoles are the Atlas roles of jitbot's service account in the
	// simulator (nil: its least-privilege default for database users).
	AtlasRoles []string
	// OrgOwner gives the integration a second credential, an Organization
	// Owner API key (org_owner), which programmatic API keys need.
	OrgOwner bool
	// ApplyPolls and ApplyDelay are the simulator's change-status delay.
	ApplyPolls int
	ApplyDelay time.Duration
	// Reporter receives the simulator's spec violations (tests pass t).
	Reporter atlastest.Reporter
	// Spec is what the Atlas simulator checks calls against (nil: the
	// spec shipped in the Atlas SDK, atlastest.SharedSpec).
	Spec *atlastest.Spec
	// LogLevel of jitbot's log file (Info when zero).
	LogLevel slog.Level
	// StorePath puts jitbot's store elsewhere than in Dir.
	StorePath string
}

// Rig is one world: the simulators, jitbot's configuration and store in a
// directory of their own, and jitbot when it runs in this process.
type Rig struct {
	Dir string
	// ConfigPath is jitbot.yaml's; tests may rewrite it before Start.
	ConfigPath string
	Atlas      *atlastest.Server
	Slack      *slacktest.Server       // nil without Options.Slack
	BF         *teamstest.BotFramework // nil without Options.Teams
	// Log is what jitbot and the simulators log, to jitbot.log in Dir.
	Log *slog.Logger
	// Main is jitbot, between Start and Stop.
	Main *app.Main

	opts   Options
	ownDir bool
	// seq makes the ids of clicks and events the rig builds unique.
	seq    atomic.Int64
	logf   *os.File
	runErr chan error
}

const configTemplate = `
listen: LISTEN
store: {path: STORE}
admin_token: ` + AdminToken + `
reminder_before: 15m
admins: [dana@example.com]
SLACK
TEAMS
groups:
  dba: [dana@example.com]
integrations:
  - name: prod
    project_id: ` + Project + `
    atlas: {base_url: ATLAS_URL, client_id: CLIENT_ID, client_secret: CLIENT_SECRET RATE_LIMIT}
ORG_OWNER    owners: [group:dba]
    owner_tag: owner
    access_details: "mongosh \"$CONNECTION_STRING\" --username $USERNAME"
    databases:
      Cluster0: {sales: [orders, customers]}
flows:
FLOWS
`

// The Organization Owner API key of Options.OrgOwner.
const OrgOwnerPublicKey, OrgOwnerPrivateKey = "rigowner", "6b1e0c7a-3d2f-4a9b-8e5c-1f0d2a3b4c5e"

// New builds the world o describes and writes jitbot's configuration;
// Start runs jitbot in it.
func New(o Options) (r *Rig, err error) {
	r = &Rig{opts: o, Dir: o.Dir}
	built := r // the returns below set r to nil; close what was built
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	if r.Dir == "" {
		if r.Dir, err = os.MkdirTemp("", "jitbot-rig-"); err != nil {
			return nil, err
		}
		r.ownDir = true
	}
	if r.logf, err = os.Create(r.LogPath()); err != nil {
		return nil, err
	}
	r.Log = slog.New(slog.NewJSONHandler(r.logf, &slog.HandlerOptions{Level: o.LogLevel}))
	var clock atlastest.Clock
	if o.Clock != nil {
		clock = o.Clock
	}
	var ownerKeys []atlastest.Credential
	if o.OrgOwner {
		ownerKeys = []atlastest.Credential{{ID: OrgOwnerPublicKey, Secret: OrgOwnerPrivateKey, Roles: []string{atlastest.RoleOrgOwner}}}
	}
	r.Atlas, err = atlastest.New(atlastest.Options{T: o.Reporter, Clock: clock, ApplyAfterPolls: o.ApplyPolls, ApplyDelay: o.ApplyDelay,
		Roles: o.AtlasRoles, APIKeys: ownerKeys, Spec: o.Spec, Logger: r.Log.With("component", "atlas-simulator")})
	if err != nil {
		return nil, fmt.Errorf("start the Atlas simulator: %w", err)
	}
	r.Atlas.AddProject(Project, "prod")
	clusters := o.Clusters
	if clusters == nil {
		clusters = []atlastest.Cluster{{Name: ClusterName, StandardSrv: "mongodb+srv://cluster0.demo.mongodb.net",
			Tags: []atlastest.Tag{{Key: "owner", Value: Olivia.Email}, {Key: "env", Value: "prod"}}}}
	}
	for _, c := range clusters {
		r.Atlas.AddCluster(Project, c)
	}

	slackYAML, teamsYAML := "", ""
	if o.Slack {
		opts := []slacktest.Option{slacktest.WithBotToken(BotToken), slacktest.WithLogger(r.Log.With("component", "slack-fake"))}
		if o.SlackClock && o.Clock != nil {
			opts = append(opts, slacktest.WithClock(o.Clock))
		}
		r.Slack = slacktest.New(append(opts, o.SlackOptions...)...)
		if !o.NobodyInSlack {
			for _, u := range append([]slacktest.User{Alice, Olivia, Dana}, o.SlackUsers...) {
				r.Slack.AddUser(u)
			}
		}
		approvals := ""
		if o.ApprovalsChannel {
			r.Slack.AddChannel(ApprovalsChannel, approvalsChannelName)
			approvals = `, approvals_channel: "#` + approvalsChannelName + `"`
		}
		slackYAML = fmt.Sprintf("slack: {bot_token: %s, signing_secret: %s, api_url: %q%s}", BotToken, SigningSecret, r.Slack.APIURL(), approvals)
	}
	if o.Teams {
		var opts []teamstest.Option
		if o.TeamsClock && o.Clock != nil {
			opts = append(opts, teamstest.WithClock(o.Clock))
		}
		r.BF = teamstest.New(opts...)
		r.BF.AddMember(teamstest.AllConversations, OliviaInTeams)
		r.BF.AddMember(teamstest.AllConversations, BobInTeams)
		// The fake's users are in its tenant, and its connector is on loopback, not on
		// Microsoft's service hosts.
		teamsYAML = fmt.Sprintf("teams: {app_id: %q, app_password: %q, tenant_id: %q, openid_metadata_url: %q, token_url: %q, service_hosts: [127.0.0.1]}",
			r.BF.AppID(), r.BF.AppPassword(), r.BF.TenantID(), r.BF.MetadataURL(), r.BF.TokenURL(r.BF.TenantID()))
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	rateLimit := ""
	if o.RateLimit != "" {
		rateLimit = ", rate_limit: " + o.RateLimit
	}
	flowsYAML := o.Flows
	if flowsYAML == "" {
		flowsYAML = ReadFlow
	}
	orgOwner := ""
	if o.OrgOwner {
		orgOwner = "    org_owner: {public_key: " + OrgOwnerPublicKey + ", private_key: " + OrgOwnerPrivateKey + "}\n"
	}
	text := strings.NewReplacer("ORG_OWNER", orgOwner, "LISTEN", fmt.Sprintf("%q", listen), "STORE", r.StorePath(),
		"SLACK", slackYAML, "TEAMS", teamsYAML, "ATLAS_URL", r.Atlas.URL(), "CLIENT_ID", atlastest.DefaultClientID,
		"CLIENT_SECRET", atlastest.DefaultClientSecret, " RATE_LIMIT", rateLimit, "FLOWS", flowsYAML).Replace(configTemplate)
	r.ConfigPath = filepath.Join(r.Dir, "jitbot.yaml")
	if err := os.WriteFile(r.ConfigPath, []byte(text), 0o600); err != nil {
		return nil, err
	}
	if _, err := r.Config(); err != nil {
		return nil, fmt.Errorf("the rig's configuration: %w", err)
	}
	return r, nil
}

// StorePath is where jitbot's store is.
func (r *Rig) StorePath() string {
	if r.opts.StorePath != "" {
		return r.opts.StorePath
	}
	return filepath.Join(r.Dir, "jitbot.db")
}

// Config loads jitbot.yaml as `jitbot serve` would.
func (r *Rig) Config() (*config.Config, error) {
	return config.Load(r.ConfigPath, func(string) (string, bool) { return "", false })
}

// Start runs jitbot in this process and waits until it has resumed and
// swept once. opts are the options a caller needs beyond the rig's log and
// clock (a fake clock's sleep, no scheduler, a listener).
func (r *Rig) Start(ctx context.Context, opts app.Options) error {
	cfg, err := r.Config()
	if err != nil {
		return err
	}
	opts.Log = r.Log
	if r.opts.Clock != nil {
		opts.Clock = r.opts.Clock
	}
	if opts.Listener == nil {
		if opts.Listener, err = net.Listen("tcp", cfg.Listen); err != nil {
			return err
		}
	}
	if r.Main, err = app.New(ctx, cfg, opts); err != nil {
		return err
	}
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.Main.Run(ctx) }()
	select {
	case <-r.Main.Started():
		return nil
	case err := <-r.runErr:
		r.Main = nil
		return fmt.Errorf("jitbot stopped at start-up: %v", err)
	}
}

// Stop closes jitbot as a shutdown would.
func (r *Rig) Stop() error {
	if r.Main == nil {
		return nil
	}
	err := r.Main.Close()
	if rerr := <-r.runErr; rerr != nil {
		err = errors.Join(err, rerr)
	}
	r.Main = nil
	return err
}

// Close stops jitbot and the simulators, and removes the directory the rig
// made.
func (r *Rig) Close() {
	_ = r.Stop()
	if r.Slack != nil {
		r.Slack.Close()
	}
	if r.BF != nil {
		r.BF.Close()
	}
	if r.Atlas != nil {
		r.Atlas.Close()
	}
	if r.logf != nil {
		_ = r.logf.Close()
	}
	if r.ownDir {
		_ = os.RemoveAll(r.Dir)
	}
}

// Now is the world's time: the clock of Options, else the real one.
func (r *Rig) Now() time.Time {
	if r.opts.Clock != nil {
		return r.opts.Clock.Now()
	}
	return time.Now()
}

// Addr is where the running jitbot listens.
func (r *Rig) Addr() string { return r.Main.Addr() }

// LogPath is the file jitbot and the simulators log to.
func (r *Rig) LogPath() string { return filepath.Join(r.Dir, "jitbot.log") }

// Logs is jitbot's log so far.
func (r *Rig) Logs() string {
	raw, _ := os.ReadFile(r.LogPath())
	return string(raw)
}

// LogTail is the end of jitbot's log, for failure reports.
func (r *Rig) LogTail(n int) string { return Tail(r.Logs(), n) }

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// ManagedUsers are the simulator's users labelled as jitbot's.
func (r *Rig) ManagedUsers() []atlastest.User {
	var out []atlastest.User
	for _, u := range r.Atlas.Users(Project) {
		if v, _ := u.Label("managed-by"); v == "jitbot" {
			out = append(out, u)
		}
	}
	return out
}

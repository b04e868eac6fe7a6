package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// The people of the end-to-end tests: alice asks, olivia owns Cluster0 (its
// Atlas owner tag names her) and uses both Slack and Teams, dana is an admin.
var (
	alice  = demoPerson{"U0ALICE", "alice", "alice@example.com", "Europe/Paris"}
	olivia = demoPerson{"U0OLIVIA", "olivia", "olivia@example.com", "America/New_York"}
	dana   = demoPerson{"U0DANA", "dana", "dana@example.com", "UTC"}

	oliviaTeams = teamstest.Member{ID: "29:olivia", Name: "Olivia", Email: "olivia@example.com", AadObjectID: "aad-olivia"}
	oliviaConv  = "a:olivia-1on1"
)

const testProject = "5cf5a45a9ccf6400e60981b6"

// testConfig is the configuration the end-to-end tests run; placeholders
// name the simulators' URLs.
const testConfig = `
listen: "127.0.0.1:0"
store: {path: STORE}
admin_token: test-admin-token-0123456789
reminder_before: 15m
admins: [dana@example.com]
slack:
  bot_token: xoxb-test-token
  signing_secret: test-signing-secret
  api_url: SLACK_URL
  approvals_channel: "#db-access"
TEAMS
groups:
  dba: [dana@example.com]
integrations:
  - name: prod
    project_id: ` + testProject + `
    atlas: {base_url: ATLAS_URL, client_id: CLIENT_ID, client_secret: CLIENT_SECRET}
    owners: [group:dba]
    access_details: "mongosh \"$CONNECTION_STRING\" --username $USERNAME"
    databases:
      Cluster0: {sales: [orders, customers]}
flows:
  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*"]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
    require_reason: true
`

// harness is a jitbot with every outside party simulated: Atlas, the Slack
// Web API and the Bot Framework.
type harness struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	clock  *flowstest.Clock
	atlas  *atlastest.Server
	slack  *slacktest.Server
	bf     *teamstest.BotFramework
	cfg    string // path of jitbot.yaml
	logs   *syncBuffer
	main   *app.Main
	runErr chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, clock *flowstest.Clock) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), dir: t.TempDir(), clock: clock, logs: &syncBuffer{}}
	var simClock atlastest.Clock
	if clock != nil {
		simClock = clock
	}
	var err error
	h.atlas, err = atlastest.New(atlastest.Options{T: t, Clock: simClock, ApplyAfterPolls: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.atlas.Close)
	h.atlas.AddProject(testProject, "prod")
	h.atlas.AddCluster(testProject, atlastest.Cluster{Name: "Cluster0", StandardSrv: "mongodb+srv://cluster0.test.mongodb.net",
		Tags: []atlastest.Tag{{Key: "owner", Value: olivia.email}}})

	h.slack = slacktest.New(slacktest.WithBotToken("xoxb-test-token"))
	t.Cleanup(h.slack.Close)
	for _, p := range []demoPerson{alice, olivia, dana} {
		h.slack.AddUser(slacktest.User{ID: p.id, Name: p.name, Email: p.email, TZ: p.tz})
	}
	h.slack.AddChannel("C0DBACCESS", "db-access")

	h.bf = teamstest.New()
	t.Cleanup(h.bf.Close)
	h.bf.AddMember(teamstest.AllConversations, oliviaTeams)

	// The fake's users are in its tenant, and its connector is on loopback, not on Microsoft's
	// service hosts.
	teams := fmt.Sprintf("teams:\n  app_id: %s\n  app_password: %s\n  tenant_id: %s\n  openid_metadata_url: %s\n  token_url: %s\n  service_hosts: [127.0.0.1]\n",
		h.bf.AppID(), h.bf.AppPassword(), h.bf.TenantID(), h.bf.MetadataURL(), h.bf.TokenURL(h.bf.TenantID()))
	text := strings.NewReplacer("STORE", filepath.Join(h.dir, "jitbot.db"), "SLACK_URL", h.slack.APIURL(), "TEAMS\n", teams,
		"ATLAS_URL", h.atlas.URL(), "CLIENT_ID", atlastest.DefaultClientID, "CLIENT_SECRET", atlastest.DefaultClientSecret).Replace(testConfig)
	h.cfg = filepath.Join(h.dir, "jitbot.yaml")
	if err := os.WriteFile(h.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs jitbot in this process.
func (h *harness) start() {
	h.t.Helper()
	cfg, err := config.Load(h.cfg, func(string) (string, bool) { return "", false })
	if err != nil {
		h.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	opts := app.Options{Listener: ln, Log: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if h.clock != nil {
		opts.Clock = h.clock
	}
	h.main, err = app.New(h.ctx, cfg, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.runErr = make(chan error, 1)
	go func() { h.runErr <- h.main.Run(h.ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.main == nil {
		return
	}
	if err := h.main.Close(); err != nil {
		h.t.Errorf("close: %v", err)
	}
	if err := <-h.runErr; err != nil {
		h.t.Errorf("run: %v", err)
	}
	h.main = nil
}

func (h *harness) url(path string) string { return "http://" + h.main.Addr() + path }

// sweep runs the scheduler's sweep now, at the harness clock's time.
func (h *harness) sweep() {
	h.main.Sweep(h.ctx)
}

// slash sends a signed slash command as user and returns jitbot's ack.
func (h *harness) slash(addr string, user demoPerson, text string) string {
	h.t.Helper()
	return h.postSlack(addr, "/slack/commands", slacktest.SlashCommandForm(slackgo.SlashCommand{
		TeamID: "T0TEST", ChannelID: "C0GENERAL", UserID: user.id, UserName: user.name, Command: "/access", Text: text,
		ResponseURL: h.slack.NewResponseURL(), TriggerID: h.slack.NewTriggerID(),
	}))
}

// click presses the button of msg whose value starts with prefix, as user.
func (h *harness) click(addr string, user demoPerson, msg slacktest.Message, prefix string) {
	h.t.Helper()
	for _, b := range msg.Buttons() {
		if strings.HasPrefix(b.Value, prefix) {
			form, err := slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
				UserID: user.id, UserName: user.name, TeamID: "T0TEST", ActionID: b.ActionID, Value: b.Value,
				ResponseURL: h.slack.NewMessageResponseURL(msg.Channel, msg.TS), TriggerID: h.slack.NewTriggerID(),
				ChannelID: msg.Channel, MessageTS: msg.TS,
			}))
			if err != nil {
				h.t.Fatal(err)
			}
			h.postSlack(addr, "/slack/interactions", form)
			return
		}
	}
	h.t.Fatalf("no button %q in:\n%s", prefix, msg.AllText())
}

func (h *harness) postSlack(addr, path string, form map[string][]string) string {
	h.t.Helper()
	req, err := slacktest.SignedRequest(h.ctx, "http://"+addr+path, form, "test-signing-secret", time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("%s: %s %s", path, resp.Status, body)
	}
	return string(body)
}

// waitDM waits for a Slack DM to user containing needle.
func (h *harness) waitDM(user demoPerson, needle string) slacktest.Message {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	var found slacktest.Message
	if err := h.slack.Wait(ctx, func() bool {
		m, ok := lastWith(h.slack.DMs(user.id), needle)
		found = m
		return ok
	}); err != nil {
		h.t.Fatalf("no DM to %s containing %q; DMs:\n%s\nlogs:\n%s", user.name, needle, dump(h.slack.DMs(user.id)), tail(h.logs.String(), 3000))
	}
	return found
}

func dump(msgs []slacktest.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "--- %s\n%s\n", m.TS, m.AllText())
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitTeams waits for an activity to olivia's Teams chat matching match.
func (h *harness) waitTeams(match func(teamstest.Activity) bool) teamstest.Activity {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	a, err := h.bf.Wait(ctx, match)
	if err != nil {
		h.t.Fatalf("no matching Teams activity: %v\nlogs:\n%s", err, tail(h.logs.String(), 3000))
	}
	return a
}

// teams delivers a signed activity from olivia to jitbot's Teams endpoint.
func (h *harness) teams(addr string, act any) {
	h.t.Helper()
	var resp *http.Response
	var err error
	switch a := act.(type) {
	case string:
		resp, err = h.bf.Deliver(h.ctx, "http://"+addr+"/teams/messages", h.bf.Message(oliviaConv, oliviaTeams, a))
	default:
		h.t.Fatalf("unsupported activity %T", act)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("teams delivery: %s", resp.Status)
	}
}

func atlasDown() atlastest.Fault {
	return atlastest.Fault{OperationID: "getGroup", Kind: atlastest.FaultServerError}
}

func tryGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// slowCreate makes Atlas take 3 seconds to create a user (twice: the
// transport may retry).
func slowCreate() atlastest.Fault {
	return atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultLatency, Latency: 3 * time.Second, Times: 2}
}

package slack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var t0 = flowstest.T0

// Slack users of the tests. Alice asks, Bob owns Cluster0, Carol is the
// other DBA, Dave is an admin, Eve approves nothing.
var (
	alice = slacktest.User{ID: "UALICE", Name: "alice", Email: "alice@example.com", TZ: "Europe/Paris"}
	bob   = slacktest.User{ID: "UBOB", Name: "bob", Email: "bob@example.com", TZ: "America/New_York"}
	carol = slacktest.User{ID: "UCAROL", Name: "carol", Email: "carol@example.com", TZ: "UTC"}
	dave  = slacktest.User{ID: "UDAVE", Name: "dave", Email: "dave@example.com", TZ: "Asia/Tokyo"}
	eve   = slacktest.User{ID: "UEVE", Name: "eve", Email: "eve@example.com"}
)

type setup struct {
	spec      flows.PolicySpec
	owners    []string // Cluster0's owner tag
	channel   string
	pacing    time.Duration
	slackOpts []slacktest.Option
	cfg       func(*Config)
}

type option func(*setup)

func withQuorum(n int) option {
	return func(s *setup) {
		s.spec.Flows[0].Approvals = n
		s.owners = []string{"group:dba"}
	}
}

func withChannel(ch string) option      { return func(s *setup) { s.channel = ch } }
func withPacing(d time.Duration) option { return func(s *setup) { s.pacing = d } }
func withExtendApproval() option {
	return func(s *setup) { s.spec.Flows[0].ExtendRequiresApproval = true }
}

func testPolicy() flows.PolicySpec {
	return flows.PolicySpec{
		Admins: []string{"dave@example.com"},
		Groups: map[string][]string{"dba": {"bob@example.com", "carol@example.com"}},
		Integrations: []flows.IntegrationSpec{{
			Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`,
		}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read", "readWrite"}, DefaultDuration: "1h", MaxDuration: "8h", Approvers: []string{"owners"},
			Approvals: 1, RequireReason: true, PendingTTL: "1h",
		}},
	}
}

// harness runs the real handler over httptest against the fake Slack
// API, with the chat engine and a real flows.Service on flowstest's fakes
// behind it.
type harness struct {
	t      testing.TB
	ctx    context.Context
	slack  *slacktest.Server
	clock  *flowstest.Clock // the domain's clock; Slack runs on wall time
	store  *flowstest.Store
	prov   *flowstest.Provisioner
	svc    *flows.Service
	engine *bot.Engine
	outbox *bot.Dispatcher
	bot    *Bot
	inbox  *bot.Inbox
	// what boot builds the service from
	setup   *setup
	policy  *flows.Policy
	prov2   flows.Provisioner
	catalog flows.Catalog
	srv     *httptest.Server
	logs    *bottest.Logs // what the bot says; never a password
	// hold leaves what a delivery recorded in the inbox unprocessed after
	// its ack, as a crash right after the 200 would.
	hold bool
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	s := &setup{spec: testPolicy(), owners: []string{"bob@example.com"}, pacing: 10 * time.Millisecond}
	for _, o := range opts {
		o(s)
	}
	ctx := t.Context()
	h := &harness{t: t, ctx: ctx, clock: flowstest.NewClock(t0), store: flowstest.NewStore(), logs: &bottest.Logs{}}

	h.slack = slacktest.New(append([]slacktest.Option{slacktest.WithPacing(s.pacing)}, s.slackOpts...)...)
	t.Cleanup(h.slack.Close)
	for _, u := range []slacktest.User{alice, bob, carol, dave, eve} {
		h.slack.AddUser(u)
	}
	h.slack.AddChannel("CAPPROVALS", "#db-access")

	policy, err := flows.Compile(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	h.prov = flowstest.NewProvisioner()
	var prov flows.Provisioner = h.prov
	catalog := flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
		{Name: "Cluster0", Owners: s.owners, Databases: map[string][]string{"sales": {"orders", "customers"}}},
	}})
	h.setup, h.policy, h.prov2, h.catalog = s, policy, prov, catalog
	h.boot()
	return h
}

// boot builds the engine, the service, the inbox and the bot on the
// harness's store, clock and fake Slack, and serves the bot. A restart
// boots again on the same store.
func (h *harness) boot() {
	t, s := h.t, h.setup
	log := h.logs.Logger()
	var err error
	h.engine = bot.NewEngine(log)
	// A new process holds no secret of the last one's.
	secrets := bot.NewSecrets(h.clock, 0, 0)
	// Every kind is provisioned by the same fake (a grant's Kind says which).
	provs := flows.Provisioners{}
	for _, k := range []flows.Kind{flows.KindDatabaseUser, flows.KindAtlasUI, flows.KindAccessListEntry, flows.KindServiceAccount, flows.KindAPIKey} {
		provs[k] = h.prov2
	}
	h.svc, err = flows.NewService(flows.Config{Policy: h.policy}, flows.Deps{
		Store: h.store, Provisioners: provs, Catalog: h.catalog, Secrets: secrets, Clock: h.clock, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.engine.SetService(h.svc)
	h.outbox = bottest.NewDispatcher(t, h.store, h.engine, h.svc, secrets, h.clock, log)
	// The inbox runs on the domain's clock and is not started: the tests
	// process it when they say (idle), so they can look at what a delivery
	// recorded before anything acts on it.
	inbox, err := bot.NewInbox(bot.InboxConfig{Store: h.store, Clock: h.clock, Log: log, Backoff: time.Second, MaxBackoff: time.Second,
		Answered: h.outbox.Schedule})
	if err != nil {
		t.Fatal(err)
	}
	h.inbox = inbox
	cfg := Config{
		BotToken: h.slack.BotToken(), SigningSecret: signingSecret, AppToken: h.slack.AppToken(), APIURL: h.slack.APIURL(),
		ApprovalsChannel: s.channel, Pacing: s.pacing, Runtime: bot.Runtime{WorkTimeout: 20 * time.Second, Inbox: inbox},
	}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	b, err := New(cfg, h.engine, log)
	if err != nil {
		t.Fatal(err)
	}
	h.bot = b
	h.engine.Register(b)
	srv := httptest.NewServer(b.Handler())
	h.srv = srv
	t.Cleanup(func() {
		srv.Close()
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := inbox.Close(); err != nil {
			t.Errorf("close the inbox: %v", err)
		}
		if strings.Contains(h.logs.String(), "pw-") {
			t.Errorf("a password reached the logs:\n%s", h.logs.String())
		}
	})
}

// restart stops the bot as a crash would, right after its acks (nothing
// left in the inbox is processed), and boots a new one on the same store.
func (h *harness) restart() {
	h.srv.Close()
	_ = h.inbox.Close()
	_ = h.bot.Close()
	h.boot()
}

// send posts a signed form to one of the bot's endpoints and waits for the
// work it started.
func (h *harness) send(path string, form url.Values) (int, []byte) {
	h.t.Helper()
	req, err := slacktest.SignedRequest(h.ctx, h.srv.URL+path, form, signingSecret, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, []byte) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if !h.hold {
		h.idle()
	}
	return resp.StatusCode, body
}

// slash runs /access with text as user and returns the ack and the
// response_url the outcome goes to.
// ackMessage is a slash command's acknowledgement as Slack reads it.
type ackMessage struct {
	ResponseType string         `json:"response_type"`
	Text         string         `json:"text"`
	Blocks       slackgo.Blocks `json:"blocks"`
}

func (h *harness) slash(u slacktest.User, text string) (ack ackMessage, responseURL string) {
	h.t.Helper()
	responseURL = h.slack.NewResponseURL()
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", Text: text, UserID: u.ID, UserName: u.Name, TeamID: h.slack.TeamID(), ChannelID: "CGENERAL",
		TriggerID: h.slack.NewTriggerIDFor(u.ID), ResponseURL: responseURL,
	})
	status, body := h.send("/slack/commands", form)
	if status != http.StatusOK {
		h.t.Fatalf("/access %s: status %d %s", text, status, body)
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &ack); err != nil {
			h.t.Fatalf("ack %s: %v", body, err)
		}
	}
	return ack, responseURL
}

// outcome is the last thing posted to a response_url.
func (h *harness) outcome(responseURL string) slacktest.ResponsePost {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
	posts := h.slack.ResponsePosts(responseURL)
	if len(posts) == 0 {
		h.t.Fatalf("nothing posted to %s", responseURL)
	}
	return posts[len(posts)-1]
}

// interact posts an interaction payload and returns the status and body.
func (h *harness) interact(cb *slackgo.InteractionCallback) (int, []byte) {
	h.t.Helper()
	form, err := slacktest.InteractionForm(cb)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.send("/slack/interactions", form)
}

// click presses the button with actionID on a message as user, and returns
// the response_url Slack would give the click.
func (h *harness) click(u slacktest.User, m slacktest.Message, actionID string) string {
	h.t.Helper()
	ru := h.slack.NewMessageResponseURL(m.Channel, m.TS)
	status, body := h.interact(slacktest.BlockActions(slacktest.Click{
		UserID: u.ID, UserName: u.Name, TeamID: h.slack.TeamID(), ActionID: actionID, BlockID: "actions", Value: actionID,
		ResponseURL: ru, TriggerID: h.slack.NewTriggerIDFor(u.ID), ChannelID: m.Channel, MessageTS: m.TS,
	}))
	if status != http.StatusOK || len(body) != 0 {
		h.t.Fatalf("click %s: %d %s", actionID, status, body)
	}
	return ru
}

// submitSalesRead submits the request form view, as u, for read on
// prod/Cluster0/sales for 1h with reason, and checks the empty 200.
func (h *harness) submitSalesRead(u slacktest.User, view slacktest.View, reason string) {
	h.t.Helper()
	status, body := h.interact(slacktest.ViewSubmission(slacktest.Submission{
		UserID: u.ID, TeamID: h.slack.TeamID(), ViewID: view.ID, CallbackID: requestCallback,
		Values: map[string]map[string]slackgo.BlockAction{
			fieldResource: {fieldResource: slacktest.OptionValue("database_user:prod/Cluster0/sales")},
			fieldRole:     {fieldRole: slacktest.OptionValue("read")},
			fieldDuration: {fieldDuration: slacktest.OptionValue("1h")},
			fieldReason:   {fieldReason: slacktest.TextValue(reason)},
		},
	}))
	if status != http.StatusOK || len(body) != 0 {
		h.t.Fatalf("submission ack: %d %s", status, body)
	}
}

// dms are the direct messages u got, once the outbox has delivered what it
// holds.
func (h *harness) dms(u slacktest.User) []slacktest.Message {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
	return h.slack.DMs(u.ID)
}

// message, channelMessages and messages read the fake Slack once the
// outbox has delivered what it holds.
func (h *harness) message(channel, ts string) (slacktest.Message, bool) {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
	return h.slack.Message(channel, ts)
}

func (h *harness) channelMessages(channel string) []slacktest.Message {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
	return h.slack.ChannelMessages(channel)
}

func (h *harness) messages() []slacktest.Message {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
	return h.slack.Messages()
}

func (h *harness) lastDM(u slacktest.User) slacktest.Message {
	h.t.Helper()
	ms := h.dms(u)
	if len(ms) == 0 {
		h.t.Fatalf("no direct message to %s", u.Name)
	}
	return ms[len(ms)-1]
}

// mine returns the one live request of a person.
func (h *harness) only(email string) *flows.Request {
	h.t.Helper()
	rs, err := h.svc.Mine(h.ctx, email)
	if err != nil || len(rs) != 1 {
		h.t.Fatalf("requests of %s: %d, %v", email, len(rs), err)
	}
	return rs[0]
}

func (h *harness) get(id string) *flows.Request {
	h.t.Helper()
	r, err := h.store.Get(h.ctx, flows.RequestID(id))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// sweepAt moves the domain's clock and runs the sweep, as the scheduler does.
func (h *harness) sweepAt(at time.Time) flows.SweepReport {
	h.t.Helper()
	h.clock.Set(at)
	rep, err := h.svc.Sweep(h.ctx, at)
	if err != nil {
		h.t.Fatal(err)
	}
	bottest.Settle(h.t, h.outbox)
	return rep
}

func (h *harness) noViolations() {
	h.t.Helper()
	if v := h.slack.Violations(); len(v) > 0 {
		h.t.Errorf("Slack limits broken: %+v", v)
	}
}

func actionIDs(m interface {
	Buttons() []*slackgo.ButtonBlockElement
}) []string {
	var out []string
	for _, b := range m.Buttons() {
		out = append(out, b.ActionID)
	}
	return out
}

// buttonsOf lists the action ids of buttons in raw blocks (revisions).
func buttonsOf(blocks slackgo.Blocks) []string {
	var out []string
	for _, b := range blocks.BlockSet {
		if a, ok := b.(*slackgo.ActionBlock); ok && a.Elements != nil {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slackgo.ButtonBlockElement); ok {
					out = append(out, btn.ActionID)
				}
			}
		}
	}
	return out
}

// idle processes what the inbox holds and waits for the detached work
// started so far.
// idle waits for the bot's work and delivers what the outbox holds.
func (h *harness) idle() {
	h.t.Helper()
	h.bot.idle()
	bottest.Settle(h.t, h.outbox)
}

func (b *Bot) idle() {
	b.inbox.Pump(context.Background())
	b.inbox.Wait()
	b.work.Wait()
}

// holdingTransport holds every Slack call but the methods it lets through
// until release, so a test can see what a handler did before its ack: a
// call made before the ack would hold the ack too.
type holdingTransport struct {
	pass    map[string]bool // Web API methods let through ("views.open")
	held    chan struct{}   // closed by release
	release func()
}

func newHoldingTransport(pass ...string) *holdingTransport {
	h := &holdingTransport{pass: map[string]bool{}, held: make(chan struct{})}
	for _, m := range pass {
		h.pass[m] = true
	}
	h.release = sync.OnceFunc(func() { close(h.held) })
	return h
}

func (h *holdingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !h.pass[strings.TrimPrefix(req.URL.Path, "/api/")] {
		select {
		case <-h.held:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// testInbox is an inbox on a store of its own, for bots a test builds by hand.
func testInbox(t testing.TB) *bot.Inbox { return bottest.NewInbox(t, flowstest.NewStore()) }

// retryAll moves the domain's clock past every retry's backoff, again and
// again, processing the inbox each time, until every item is finished or
// given up.
func (h *harness) retryAll() {
	h.t.Helper()
	for range 10 {
		h.clock.Advance(2 * time.Second)
		h.idle()
	}
}

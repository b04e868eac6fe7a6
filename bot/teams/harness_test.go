package teams

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

var t0 = time.Date(2025, 11, 23, 9, 0, 0, 0, time.UTC)

const (
	tenant    = "tenant-1"
	aliceConv = "a:alice-1on1"
	ownerConv = "a:owner-1on1"
	eveConv   = "a:eve-1on1"
	carolConv = "a:carol-1on1"
	orders    = "prod/Cluster0/sales/orders"
	invoices  = "prod/Cluster0/sales/invoices"
)

var (
	alice = teamstest.Member{ID: "29:alice", Name: "Alice", Email: "alice@example.com", AadObjectID: "aad-alice", TenantID: tenant}
	// owner has no email in Teams, only a user principal name: the fallback is what identifies them.
	owner = teamstest.Member{ID: "29:owner", Name: "Owner", UserPrincipalName: "Owner@Example.com", AadObjectID: "aad-owner", TenantID: tenant}
	eve   = teamstest.Member{ID: "29:eve", Name: "Eve", Email: "eve@example.com", AadObjectID: "aad-eve", TenantID: tenant}
	carol = teamstest.Member{ID: "29:carol", Name: "Carol", Email: "carol@example.com", AadObjectID: "aad-carol", TenantID: tenant}
)

// testKey is one RSA key for every fake in the package: generating one costs tens of
// milliseconds.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func testPolicy(t testing.TB) *flows.Policy {
	t.Helper()
	p, err := flows.Compile(flows.PolicySpec{
		Admins: []string{"admin@example.com"},
		Groups: map[string][]string{"dba": {"owner@example.com", "carol@example.com"}},
		// One Atlas project, whose owners (the dba group) approve what its clusters' owners do not.
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/*"},
			Roles: []string{"read"}, MaxDuration: "8h", Approvers: []string{"owners"}, RequireReason: true, PendingTTL: "1h",
		}, {
			Name: "invoices", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales/invoices"},
			Roles: []string{"read"}, MaxDuration: "4h", Approvers: []string{"group:dba"}, ExtendRequiresApproval: true,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testCatalog() *flowstest.Catalog {
	return flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
		{Name: "Cluster0", Owners: []string{"owner@example.com"}, Databases: map[string][]string{"sales": {"orders", "customers", "invoices"}}},
	}})
}

// contacts is an in-memory Store. Like store.DB, it appends the events of DeleteContact to the
// one audit log, here the flows store's.
type contacts struct {
	mu    sync.Mutex
	data  map[string][]byte
	audit *flowstest.Store
	down  error // answers every call while set: the store cannot be reached
}

// setDown makes every call answer err (nil: the store is back).
func (c *contacts) setDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = err
}

func (c *contacts) PutContact(_ context.Context, platform, key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return c.down
	}
	c.data[platform+"/"+key] = bytes.Clone(data)
	return nil
}

func (c *contacts) Contact(_ context.Context, platform, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return nil, c.down
	}
	data, ok := c.data[platform+"/"+key]
	if !ok {
		return nil, flows.Errorf(flows.ENOTFOUND, "no contact for %s", key)
	}
	return bytes.Clone(data), nil
}

func (c *contacts) DeleteContact(ctx context.Context, platform, key string, evs ...flows.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return c.down
	}
	if _, ok := c.data[platform+"/"+key]; !ok {
		return flows.Errorf(flows.ENOTFOUND, "no contact for %s", key)
	}
	delete(c.data, platform+"/"+key)
	return c.audit.AppendEvents(ctx, evs...)
}

// harness runs the real handler over httptest and the fake Bot Framework, with the chat engine
// and a real flows.Service on flowstest's fakes behind it. The stores (requests and audit
// log, message refs, contacts) outlive restarts; everything else is built anew.
type harness struct {
	t     testing.TB
	ctx   context.Context
	bf    *teamstest.BotFramework
	clock *flowstest.Clock
	prov  *flowstest.Provisioner
	logs  *bottest.Logs

	store    *flowstest.Store
	contacts *contacts

	engine *bot.Engine
	outbox *bot.Dispatcher
	svc    *flows.Service
	bot    *Bot
	inbox  *bot.Inbox
	// hold leaves what a delivery recorded in the inbox unprocessed after its ack, as a crash
	// right after the 200 would.
	hold bool
	srv  *httptest.Server
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	st := flowstest.NewStore()
	h := &harness{
		t: t, ctx: context.Background(),
		bf:       teamstest.New(teamstest.WithKey(testKey(), "test-key")),
		clock:    flowstest.NewClock(t0),
		prov:     flowstest.NewProvisioner(),
		logs:     &bottest.Logs{},
		store:    st,
		contacts: &contacts{data: map[string][]byte{}, audit: st},
	}
	t.Cleanup(h.bf.Close)
	for _, m := range []teamstest.Member{alice, owner, eve, carol} {
		h.bf.AddMember(teamstest.AllConversations, m)
	}
	h.start()
	t.Cleanup(func() {
		h.stop()
		// flowstest passwords look like pw-<username>-<n>: none may ever reach a log.
		if strings.Contains(h.logs.String(), "pw-jit-") {
			t.Errorf("a password reached the logs:\n%s", h.logs.String())
		}
	})
	return h
}

// start builds an engine, a service and a new Bot on the stores.
func (h *harness) start() {
	t := h.t
	t.Helper()
	log := h.logs.Logger()
	engine := bot.NewEngine(log)
	h.engine = engine
	// A new process holds no secret of the last one's.
	secrets := bot.NewSecrets(h.clock, 0, 0)
	svc, err := flows.NewService(flows.Config{Policy: testPolicy(t)}, flows.Deps{
		Store: h.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: h.prov}, Catalog: testCatalog(), Secrets: secrets, Clock: h.clock, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	engine.SetService(svc)
	h.outbox = bottest.NewDispatcher(t, h.store, engine, svc, secrets, h.clock, log)
	// The inbox runs on the domain's clock and is not started: the tests process it when they
	// say (idle), so they can look at what a delivery recorded before anything acts on it.
	inbox, err := bot.NewInbox(bot.InboxConfig{Store: h.store, Clock: h.clock, Log: log, Backoff: time.Second, MaxBackoff: time.Second,
		Answered: h.outbox.Schedule})
	if err != nil {
		t.Fatal(err)
	}
	h.inbox = inbox
	b, err := New(Config{
		AppID: h.bf.AppID(), AppPassword: h.bf.AppPassword(), TenantID: tenant,
		OpenIDMetadataURL: h.bf.MetadataURL(), TokenURL: h.bf.TokenURL(tenant),
		Runtime: bot.Runtime{HTTPClient: h.bf.Client(), Clock: h.clock, Inbox: inbox}, ServiceHosts: []string{"127.0.0.1"},
	}, engine, h.contacts, log)
	if err != nil {
		t.Fatal(err)
	}
	h.bot = b
	engine.Register(b)
	h.srv = httptest.NewServer(b.Handler())
}

// stop closes the server and the bot, as a shutdown would.
func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	if err := h.bot.Close(); err != nil {
		h.t.Errorf("bot.Close: %v", err)
	}
	if err := h.inbox.Close(); err != nil {
		h.t.Errorf("inbox.Close: %v", err)
	}
	h.srv = nil
}

// restart is a process restart: everything but the stores is gone.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *harness) url() string { return h.srv.URL + "/teams/messages" }

// deliver sends a signed activity to the bot, expects 200 and waits for the work it started.
func (h *harness) deliver(act schema.Activity) {
	h.t.Helper()
	resp, err := h.bf.Deliver(h.ctx, h.url(), act)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("deliver %s: status %d", act.Type, resp.StatusCode)
	}
	if !h.hold {
		h.idle()
	}
}

func (h *harness) say(m teamstest.Member, conv, text string) schema.Activity {
	h.t.Helper()
	act := h.bf.Message(conv, m, text)
	h.deliver(act)
	return act
}

func (h *harness) click(m teamstest.Member, conv, cardID string, value map[string]any) {
	h.t.Helper()
	h.deliver(h.bf.Submit(conv, m, cardID, value))
}

// install is the installationUpdate Teams sends when a person adds the app to their 1:1 chat.
func (h *harness) install(m teamstest.Member, conv string) {
	h.t.Helper()
	act := h.bf.Message(conv, m, "")
	act.Type = schema.InstallationUpdate
	act.Action = string(schema.InstallActionAdd)
	h.deliver(act)
}

// idle waits for the bot's work and delivers what the outbox holds.
func (h *harness) idle() {
	h.t.Helper()
	h.bot.idle()
	h.settle()
}

// activities and activitiesIn read the fake Bot Framework once the outbox
// has delivered what it holds.
func (h *harness) activities() []teamstest.Activity {
	h.t.Helper()
	h.settle()
	return h.bf.Activities()
}

func (h *harness) activitiesIn(conv string) []teamstest.Activity {
	h.t.Helper()
	h.settle()
	return h.bf.ActivitiesIn(conv)
}

// settle delivers what the outbox holds.
func (h *harness) settle() {
	h.t.Helper()
	bottest.Settle(h.t, h.outbox)
}

// sent returns the activities the bot sent (not updated) to a conversation,
// once the outbox has delivered what it holds.
func (h *harness) sent(conv string) []teamstest.Activity {
	h.t.Helper()
	h.settle()
	var out []teamstest.Activity
	for _, a := range h.bf.ActivitiesIn(conv) {
		if a.Op == teamstest.OpSend {
			out = append(out, a)
		}
	}
	return out
}

// last returns the last activity sent to conv and its first card.
func (h *harness) last(conv string) (teamstest.Activity, map[string]any) {
	h.t.Helper()
	s := h.sent(conv)
	if len(s) == 0 {
		h.t.Fatalf("nothing sent to %s", conv)
	}
	a := s[len(s)-1]
	cards := a.Cards()
	if len(cards) == 0 {
		h.t.Fatalf("last activity in %s has no card: %+v", conv, a.Activity)
	}
	return a, cards[0]
}

// sentWith returns the activities sent to conv whose first card's text contains s.
func (h *harness) sentWith(conv, s string) []teamstest.Activity {
	var out []teamstest.Activity
	for _, a := range h.sent(conv) {
		if cards := a.Cards(); len(cards) > 0 && strings.Contains(cardText(cards[0]), s) {
			out = append(out, a)
		}
	}
	return out
}

// current returns the card an activity shows now, after updates.
func (h *harness) current(conv, id string) map[string]any {
	h.t.Helper()
	h.settle()
	act, ok := h.bf.Current(conv, id)
	if !ok {
		h.t.Fatalf("activity %s in %s is gone", id, conv)
	}
	cards := teamstest.AdaptiveCards(act)
	if len(cards) == 0 {
		h.t.Fatalf("activity %s in %s has no card", id, conv)
	}
	return cards[0]
}

// cardText is the card's text with each RichTextBlock on one line ("Reason: INC-123").
func cardText(card map[string]any) string {
	var lines []string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if t["type"] == "RichTextBlock" {
				var line strings.Builder
				inl, _ := t["inlines"].([]any)
				for _, r := range inl {
					if m, ok := r.(map[string]any); ok {
						s, _ := m["text"].(string)
						line.WriteString(s)
					}
				}
				lines = append(lines, line.String())
				return
			}
			for _, k := range []string{"body", "items", "actions", "card"} {
				walk(t[k])
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(card)
	return strings.Join(lines, "\n")
}

// submitData is the data of the Action.Submit titled title, as Teams would merge it into the
// activity's value.
func submitData(t testing.TB, card map[string]any, title string) map[string]any {
	t.Helper()
	for _, a := range teamstest.CardActions(card) {
		if a.Title == title && a.Type == "Action.Submit" {
			out := map[string]any{}
			for k, v := range a.Data {
				out[k] = v
			}
			return out
		}
	}
	t.Fatalf("no Action.Submit %q in card:\n%s", title, cardText(card))
	return nil
}

func actionTitles(card map[string]any) []string {
	var out []string
	for _, a := range teamstest.CardActions(card) {
		out = append(out, a.Title)
	}
	return out
}

// only is the one request of a list (Mine, Pending).
func (h *harness) only(rs []*flows.Request, err error) *flows.Request {
	h.t.Helper()
	if err != nil || len(rs) != 1 {
		h.t.Fatalf("want 1 request, got %d (%v)", len(rs), err)
	}
	return rs[0]
}

// request reads a request as it is now in the store.
func (h *harness) request(id string) *flows.Request {
	h.t.Helper()
	r, err := h.store.Get(h.ctx, flows.RequestID(id))
	if err != nil {
		h.t.Fatalf("request %s: %v", id, err)
	}
	return r
}

// idle waits for the detached work started so far.
func (b *Bot) idle() {
	b.inbox.Pump(context.Background())
	b.inbox.Wait()
	b.work.Wait()
}

// testInbox is an inbox on a store of its own, for bots a test builds by hand.
func testInbox(t testing.TB) *bot.Inbox { return bottest.NewInbox(t, flowstest.NewStore()) }

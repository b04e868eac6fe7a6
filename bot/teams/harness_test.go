package teams

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store"
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
		Integrations: []flows.IntegrationSpec{{
			Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`,
		}},
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

// fanout hands notices to every notifier added, as cmd/jitbot's wiring does: the Bot is added
// after the service exists.
type fanout struct {
	mu sync.Mutex
	ns []flows.Notifier
}

func (f *fanout) add(n flows.Notifier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ns = append(f.ns, n)
}

func (f *fanout) Notify(ctx context.Context, n flows.Notice) error {
	f.mu.Lock()
	ns := append([]flows.Notifier(nil), f.ns...)
	f.mu.Unlock()
	var errs []error
	for _, x := range ns {
		if err := x.Notify(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// lockedBuffer collects logs from concurrent goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness runs the real handler over httptest, the fake Bot Framework, a real flows.Service
// with flowstest fakes, and the real store on disk.
type harness struct {
	t      testing.TB
	ctx    context.Context
	bf     *teamstest.BotFramework
	clock  *flowstest.Clock
	prov   *flowstest.Provisioner
	logs   *lockedBuffer
	dbPath string

	db     *store.DB
	notify *fanout
	svc    *flows.Service
	bot    *Bot
	srv    *httptest.Server
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{
		t: t, ctx: context.Background(),
		bf:     teamstest.New(teamstest.WithKey(testKey(), "test-key")),
		clock:  flowstest.NewClock(t0),
		prov:   flowstest.NewProvisioner(),
		logs:   &lockedBuffer{},
		dbPath: filepath.Join(t.TempDir(), "jitbot.db"),
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

// start opens the store and builds a service and a new Bot on it.
func (h *harness) start() {
	t := h.t
	t.Helper()
	db, err := store.Open(h.dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	h.notify = &fanout{}
	svc, err := flows.NewService(flows.Config{Policy: testPolicy(t)}, flows.Deps{
		Store: db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: h.prov}, Catalog: testCatalog(), Notifier: h.notify, Clock: h.clock,
		Log: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	b, err := New(Config{
		AppID: h.bf.AppID(), AppPassword: h.bf.AppPassword(), TenantID: tenant,
		OpenIDMetadataURL: h.bf.MetadataURL(), TokenURL: h.bf.TokenURL(tenant),
		HTTPClient: h.bf.Client(), Clock: h.clock, ServiceHosts: []string{"127.0.0.1"},
	}, svc, db, slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	h.bot = b
	h.notify.add(b)
	h.srv = httptest.NewServer(b.Handler())
}

// stop closes the server, the bot and the store, as a shutdown would.
func (h *harness) stop() {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	if err := h.bot.Close(); err != nil {
		h.t.Errorf("bot.Close: %v", err)
	}
	if err := h.db.Close(); err != nil {
		h.t.Errorf("db.Close: %v", err)
	}
	h.srv = nil
}

// restart is a process restart: everything in memory is gone, the store file stays.
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
	h.bot.idle()
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

// sent returns the activities the bot sent (not updated) to a conversation.
func (h *harness) sent(conv string) []teamstest.Activity {
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

func (h *harness) only(rs []*flows.Request, err error) *flows.Request {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	if len(rs) != 1 {
		h.t.Fatalf("want 1 request, got %d", len(rs))
	}
	return rs[0]
}

func (h *harness) request(id string) *flows.Request {
	h.t.Helper()
	r, err := h.db.Get(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// idle waits for the detached work started so far.
func (b *Bot) idle() { b.work.Wait() }

package bot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// The people of the engine's tests: alice asks, bob and carol own Cluster0,
// dave is an admin.
const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	carol = "carol@example.com"
	dave  = "dave@example.com"
)

var orders = flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"}

// world is an engine with two fake platforms, "slack" and "teams", on a
// real flows.Service with flowstest's fakes.
type world struct {
	t      *testing.T
	ctx    context.Context
	clock  *flowstest.Clock
	store  *flowstest.Store
	prov   *flowstest.Provisioner
	logs   *bottest.Logs
	engine *bot.Engine
	svc    *flows.Service
	outbox *bot.Dispatcher
	slack  *bottest.Platform
	teams  *bottest.Platform
}

type worldOption func(*flows.PolicySpec)

func extendNeedsApproval(spec *flows.PolicySpec) { spec.Flows[0].ExtendRequiresApproval = true }

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	spec := flows.PolicySpec{
		Admins: []string{dave},
		Groups: map[string][]string{"dba": {bob, carol}},
		Integrations: []flows.IntegrationSpec{{
			Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"group:dba"},
		}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read"}, DefaultDuration: "1h", MaxDuration: "8h", Approvers: []string{"owners"},
			Approvals: 1, PendingTTL: "1h",
		}},
	}
	for _, o := range opts {
		o(&spec)
	}
	policy, err := flows.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, ctx: t.Context(), clock: flowstest.NewClock(flowstest.T0), store: flowstest.NewStore(), prov: flowstest.NewProvisioner(),
		logs: &bottest.Logs{}, slack: bottest.NewPlatform("slack"), teams: bottest.NewPlatform("teams"),
	}
	w.engine = bot.NewEngine(w.logs.Logger())
	secrets := bot.NewSecrets(w.clock, 0, 0)
	w.svc, err = flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: w.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: w.prov}, Clock: w.clock, Secrets: secrets, Log: w.logs.Logger(),
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
			{Name: "Cluster0", Owners: []string{"group:dba"}, Databases: map[string][]string{"sales": {"orders"}}},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.engine.SetService(w.svc)
	w.engine.Register(w.slack)
	w.engine.Register(w.teams)
	w.outbox = bottest.NewDispatcher(t, w.store, w.engine, w.svc, secrets, w.clock, w.logs.Logger())
	t.Cleanup(func() {
		if strings.Contains(w.logs.String(), "pw-") {
			t.Errorf("a password reached the logs:\n%s", w.logs.String())
		}
	})
	return w
}

func (w *world) actor(platform, email string) bot.Actor {
	return bot.Actor{Platform: platform, Email: email, UserID: "id-" + email, Ref: "delivery-1"}
}

// ask submits alice's request for orders, as if typed on platform in the
// delivery named key.
func (w *world) ask(platform, key string) *flows.Request {
	w.t.Helper()
	cmd, err := bot.Parse("request prod/Cluster0/sales/orders read 1h INC-1")
	if err != nil {
		w.t.Fatal(err)
	}
	reply := w.engine.Run(w.ctx, w.actor(platform, alice), cmd, key)
	w.settle()
	if reply.Err != nil || reply.Card == nil || !strings.Contains(reply.Card.Title, "sent for approval") {
		w.t.Fatalf("submit: %+v", reply)
	}
	rs, err := w.svc.Mine(w.ctx, alice)
	if err != nil || len(rs) == 0 {
		w.t.Fatalf("alice's requests: %d, %v", len(rs), err)
	}
	return rs[0] // newest first
}

// settle delivers everything the outbox holds.
func (w *world) settle() { w.t.Helper(); bottest.Settle(w.t, w.outbox) }

func (w *world) get(id string) *flows.Request {
	w.t.Helper()
	r, err := w.store.Get(w.ctx, flows.RequestID(id))
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) refsOf(id string) []flows.MessageRef {
	w.t.Helper()
	refs, err := w.store.MessageRefs(w.ctx, flows.RequestID(id))
	if err != nil {
		w.t.Fatal(err)
	}
	return refs
}

func titles(ms []bottest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Card.Title)
	}
	return out
}

func buttons(c bot.Card) []string {
	var out []string
	for _, b := range c.Actions {
		out = append(out, b.ActionID)
	}
	return out
}

// TestApprovalCardsOnEveryPlatform: a new request's card reaches each
// approver on every platform that reaches them, and each approvals channel;
// every card is remembered, follows the decision, and is closed once final.
// The credentials go first, and only to the requester where she asked.
func TestApprovalCardsOnEveryPlatform(t *testing.T) {
	w := newWorld(t)
	w.slack.Add(alice, nil)
	w.slack.Add(bob, nil)
	w.slack.SetChannel("#db-access")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	w.teams.Add(alice, nil)
	w.teams.Add(bob, nil)
	w.teams.Add(carol, paris)

	r := w.ask("slack", "delivery-1")
	if got := titles(w.slack.To(bob)); !slices.Equal(got, []string{"Access request " + string(r.ID)}) {
		t.Errorf("bob in slack: %v", got)
	}
	if got := titles(w.slack.To("#db-access")); !slices.Equal(got, []string{"Access request " + string(r.ID)}) {
		t.Errorf("the approvals channel: %v", got)
	}
	if got := titles(w.teams.To(carol)); len(got) != 1 || len(w.teams.To(bob)) != 1 {
		t.Errorf("teams: carol %v, bob %d cards", got, len(w.teams.To(bob)))
	}
	// Each card is for its viewer: in their zone, with their buttons; the
	// channel's for any approver.
	carolCard := w.teams.To(carol)[0].Card
	if !strings.Contains(carolCard.Status, "CET") || !slices.Equal(buttons(carolCard), []string{"approve:" + string(r.ID), "deny:" + string(r.ID)}) {
		t.Errorf("carol's card: %s %v", carolCard.Status, buttons(carolCard))
	}
	if len(w.slack.To(alice))+len(w.teams.To(alice)) != 0 {
		t.Error("the requester was told of her own request by message")
	}
	var recipients []string
	for _, ref := range w.refsOf(string(r.ID)) {
		if ref.Kind != bot.KindApproval || ref.ID == "" || ref.Conversation == "" {
			t.Errorf("ref %+v", ref)
		}
		recipients = append(recipients, ref.Platform+":"+ref.Recipient)
	}
	slices.Sort(recipients)
	if want := []string{"slack:#db-access", "slack:" + bob, "teams:" + bob, "teams:" + carol}; !slices.Equal(recipients, want) {
		t.Errorf("refs %v, want %v", recipients, want)
	}

	if reply := w.engine.Click(w.ctx, w.actor("teams", carol), bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, bot.ClickInput{}); reply.Card != nil || reply.List != nil {
		t.Errorf("an approval answers through the cards, not a reply: %+v", reply)
	}
	// The activation's credentials go out before the card updates: the
	// dispatcher picks them first (they are sent beside one another, each
	// in its own conversation).
	if _, err := w.outbox.Expand(w.ctx); err != nil {
		t.Fatal(err)
	}
	pending, err := w.store.Pending(w.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	credentials, refreshes := 0, 0
	for _, d := range pending {
		switch d.What {
		case "credentials":
			credentials++
			if d.Priority != flows.PriorityCredentials || d.Conversation != "slack:dm:"+alice {
				t.Errorf("credentials delivery %+v", d)
			}
		case "refresh":
			refreshes++
			if d.Priority != flows.PriorityRefresh {
				t.Errorf("refresh delivery %+v", d)
			}
		}
	}
	if credentials != 1 || refreshes == 0 {
		t.Errorf("after the approval: %d credentials and %d card refreshes waiting", credentials, refreshes)
	}
	w.settle()
	if s := w.get(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("state %s", s)
	}
	creds := w.slack.To(alice)
	if len(creds) != 1 || !creds[0].Card.HasSecret() || len(w.teams.To(alice)) != 0 {
		t.Fatalf("credentials: slack %v, teams %v", titles(creds), titles(w.teams.To(alice)))
	}
	for _, m := range append(w.slack.Messages(), w.teams.Messages()...) {
		if m.Card.Title != "Access request "+string(r.ID) {
			continue
		}
		if len(m.Revisions) == 0 || len(m.Card.Actions) != 0 || !strings.Contains(m.Card.Status, "Approved by "+carol) {
			t.Errorf("card to %s after the approval: %s %v", m.To, m.Card.Status, buttons(m.Card))
		}
	}
	kinds := map[string]int{}
	for _, ref := range w.refsOf(string(r.ID)) {
		kinds[ref.Platform+":"+ref.Kind]++
	}
	if kinds["slack:"+bot.KindCredentials] != 1 || kinds["teams:"+bot.KindCredentials] != 0 {
		t.Errorf("credentials refs: %v", kinds)
	}

	// The end closes every card: the approvals, and the credentials lose
	// their password.
	if _, err := w.svc.Revoke(w.ctx, r.ID, alice, "done"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if m := w.slack.To(alice)[0]; m.Card.HasSecret() || !strings.Contains(m.Card.Title, "removed") {
		t.Errorf("credentials after the end: %s", m.Card.Title)
	}
	closed := 0
	for _, ref := range w.refsOf(string(r.ID)) {
		if ref.Kind == bot.KindClosed {
			closed++
		}
	}
	if closed != 5 {
		t.Errorf("%d messages closed, want the 4 cards and the credentials", closed)
	}
	if got := titles(w.slack.To(alice)); !slices.Contains(got, "Access revoked: request "+string(r.ID)) || len(w.teams.To(alice)) != 0 {
		t.Errorf("requester told: slack %v, teams %v", got, titles(w.teams.To(alice)))
	}
}

// TestUnreachableRequesterFailsTheCredentials: credentials for a requester
// whom the platform she asked from cannot reach any more are recorded
// undelivered, the admins are told and the grant is revoked (nobody can use
// it); another platform that reaches her does not get them.
func TestUnreachableRequesterFailsTheCredentials(t *testing.T) {
	w := newWorld(t)
	w.slack.Add(bob, nil)
	w.teams.Add(alice, nil) // reachable elsewhere does not count
	w.slack.Add(dave, nil)
	r := w.ask("slack", "delivery-2")
	w.engine.Click(w.ctx, w.actor("slack", bob), bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, bot.ClickInput{})
	w.settle()
	var undelivered []flows.Event
	for _, ev := range w.store.Events() {
		if ev.Type == flows.EventCredentialsUndelivered {
			undelivered = append(undelivered, ev)
		}
	}
	if len(undelivered) != 1 || !strings.Contains(undelivered[0].Message, "could not deliver the credentials to "+alice) {
		t.Fatalf("undelivered: %+v", undelivered)
	}
	if got := titles(w.slack.To(dave)); !slices.Contains(got, "Credentials not delivered: request "+string(r.ID)) {
		t.Errorf("admin told: %v", got)
	}
	if got := w.get(string(r.ID)); got.State != flows.StateRevoked || got.EndedBy != flows.SystemActor {
		t.Errorf("after undeliverable credentials: %s by %q", got.State, got.EndedBy)
	}
	for _, m := range w.teams.To(alice) {
		if m.Card.HasSecret() {
			t.Error("the credentials went to another platform")
		}
	}
}

// TestRun: every verb, as the engine answers it on any platform.
func TestRun(t *testing.T) {
	w := newWorld(t)
	w.slack.Add(alice, nil)
	w.slack.Add(bob, nil)
	run := func(platform, email, text string) bot.Reply {
		t.Helper()
		cmd, err := bot.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		return w.engine.Run(w.ctx, w.actor(platform, email), cmd, "")
	}
	if reply := run("teams", alice, "help"); reply.Card == nil || reply.Card.Title != "How to use jitbot on teams" || !strings.HasSuffix(reply.Card.Text, "Type the commands to the fake.") {
		t.Errorf("help: %+v", reply.Card)
	}
	if reply := run("slack", alice, "list"); reply.List == nil || len(reply.List.Items) != 0 || reply.List.Head().Text != "You have no requests under way. Ask the fake." {
		t.Errorf("empty list: %+v", reply.List)
	}
	if reply := run("slack", alice, ""); len(reply.Form) != 2 {
		t.Errorf("form: %+v", reply)
	}

	r := w.ask("teams", "delivery-5")
	if r.Origin != "teams" {
		t.Errorf("origin %q", r.Origin)
	}
	// The same delivery again is the same request.
	if again := w.ask("teams", "delivery-5"); again.ID != r.ID {
		t.Errorf("a replayed delivery made request %s", again.ID)
	}

	if reply := run("slack", alice, "list"); reply.List == nil || len(reply.List.Items) != 1 || reply.List.Items[0].RequestID != r.ID ||
		!slices.Equal(buttons(reply.List.Items[0].Card), []string{"cancel:" + string(r.ID)}) {
		t.Errorf("list: %+v", reply.List)
	}
	if reply := run("slack", bob, "pending"); reply.List == nil || len(reply.List.Items) != 1 ||
		!slices.Equal(buttons(reply.List.Items[0].Card), []string{"approve:" + string(r.ID), "deny:" + string(r.ID)}) {
		t.Errorf("pending: %+v", reply.List)
	}
	if reply := run("slack", carol, "cancel "+string(r.ID)); reply.Err == nil || !strings.Contains(reply.Card.Text, "only alice@example.com can cancel") {
		t.Errorf("carol's cancel: %+v", reply.Card)
	}
	if reply := run("slack", alice, "cancel "+string(r.ID)); reply.Card == nil || reply.Card.Text != "Cancelled." {
		t.Errorf("cancel: %+v", reply.Card)
	}

	r = w.ask("slack", "delivery-7")
	w.engine.Click(w.ctx, w.actor("slack", bob), bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, bot.ClickInput{})
	if reply := run("teams", alice, "extend "+string(r.ID)+" 1h"); reply.Card == nil || !strings.HasPrefix(reply.Card.Text, "Extended: access now ends at") {
		t.Errorf("extend: %+v", reply.Card)
	}
	if reply := run("teams", alice, "rotate "+string(r.ID)); reply.Card == nil || !strings.Contains(reply.Card.Text, "where you asked for access (slack)") {
		t.Errorf("rotate from elsewhere: %+v", reply.Card)
	}
	if reply := run("slack", alice, "rotate "+string(r.ID)); reply.Card == nil || !strings.Contains(reply.Card.Text, "sent on the fake;") {
		t.Errorf("rotate: %+v", reply.Card)
	}
	if reply := run("slack", alice, `revoke `+string(r.ID)+` "done early"`); reply.Card == nil || reply.Card.Text != "Revoked." || w.get(string(r.ID)).EndReason != "done early" {
		t.Errorf("revoke: %+v", reply.Card)
	}
	if reply := run("slack", alice, "revoke nosuchid1"); reply.Err == nil || !strings.Contains(reply.Card.Text, "there is no request nosuchid1") {
		t.Errorf("unknown id: %+v", reply.Card)
	}
}

// failingService fails every read of a person's requests with err.
type failingService struct {
	bot.Service
	err error
}

func (f failingService) Mine(context.Context, string) ([]*flows.Request, error) { return nil, f.err }

// noChoices lets nobody ask for anything.
type noChoices struct{ bot.Service }

func (noChoices) Options(context.Context, string) ([]flows.Choice, error) { return nil, nil }

// TestRefusals: what people are told when something fails: the safe message
// of a refusal, a generic failure with the delivery's reference for an
// internal error, and that jitbot is starting before it has its service.
func TestRefusals(t *testing.T) {
	logs := &bottest.Logs{}
	engine := bot.NewEngine(logs.Logger())
	who := bot.Actor{Platform: "slack", Email: alice, UserID: "UALICE", Ref: "1337.42"}
	list := bot.Command{Verb: bot.VerbList}
	if reply := engine.Run(t.Context(), who, list, ""); flows.ErrorCode(reply.Err) != flows.EUNAVAILABLE || !strings.Contains(reply.Card.Text, "starting") {
		t.Errorf("before the service: %+v", reply)
	}

	engine.SetService(failingService{err: errors.New("bolt: database not open")})
	reply := engine.Run(t.Context(), who, list, "")
	if reply.Card == nil || reply.Card.Status != "Reference: 1337.42" || strings.Contains(reply.Card.Text, "bolt") || reply.Card.Tone != bot.ToneAlert {
		t.Errorf("internal error: %+v", reply.Card)
	}
	if !strings.Contains(logs.String(), `"msg":"request failed"`) || !strings.Contains(logs.String(), "bolt: database not open") {
		t.Errorf("the internal error was not logged:\n%s", logs.String())
	}
	engine.SetService(failingService{err: flows.Errorf(flows.EFORBIDDEN, "not yours")})
	if reply := engine.Run(t.Context(), who, list, ""); reply.Card == nil || reply.Card.Text != "not yours" || reply.Card.Status != "" {
		t.Errorf("refusal: %+v", reply.Card)
	}
	if reply := engine.Click(t.Context(), who, bot.Action{Kind: "nonsense", RequestID: "abc"}, bot.ClickInput{}); flows.ErrorCode(reply.Err) != flows.EINVALID {
		t.Errorf("a button nobody made: %+v", reply)
	}
	if reply := engine.Run(t.Context(), who, bot.Command{Verb: "dance"}, ""); flows.ErrorCode(reply.Err) != flows.EINVALID {
		t.Errorf("a verb nobody parses: %+v", reply)
	}
	engine.SetService(noChoices{})
	if reply := engine.Run(t.Context(), who, bot.Command{Verb: bot.VerbForm}, ""); reply.Card == nil || reply.Card.Title != "Nothing to ask for yet" || reply.Form != nil {
		t.Errorf("a form with nothing to offer: %+v", reply)
	}
}

// TestClickOutcomes: who hears about a click's outcome in a reply, and who
// through the notices.
func TestClickOutcomes(t *testing.T) {
	w := newWorld(t, extendNeedsApproval)
	w.slack.Add(alice, nil)
	w.slack.Add(bob, nil)
	click := func(platform, email string, a bot.Action, reason string) bot.Reply {
		return w.engine.Click(w.ctx, w.actor(platform, email), a, bot.ClickInput{Reason: reason})
	}
	r := w.ask("slack", "delivery-8")
	deny := bot.Action{Kind: bot.ActionDeny, RequestID: r.ID}
	if reply := click("slack", bob, deny, strings.Repeat("x", bot.MaxReasonLength+1)); flows.ErrorCode(reply.Err) != flows.EINVALID {
		t.Errorf("an overlong reason: %+v", reply)
	}
	if reply := click("slack", alice, bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, ""); reply.Err == nil {
		t.Error("the requester approved her own request")
	}
	if reply := click("slack", bob, deny, "  use the replica  "); reply.Card != nil || reply.Err != nil {
		t.Errorf("deny: %+v", reply)
	}
	if d := w.get(string(r.ID)).Denial; d == nil || d.Reason != "use the replica" {
		t.Errorf("denial %+v", d)
	}

	r = w.ask("slack", "delivery-9")
	click("slack", bob, bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, "")
	// Extending needs approval here: the requester is told whom it waits for.
	if reply := click("slack", alice, bot.Action{Kind: bot.ActionExtend, RequestID: r.ID, Duration: time.Hour}, ""); reply.Card == nil ||
		!strings.HasPrefix(reply.Card.Text, "Asked ") {
		t.Errorf("extend: %+v", reply.Card)
	}
	click("slack", bob, bot.Action{Kind: bot.ActionApproveExtension, RequestID: r.ID, Extension: 1}, "")
	if w.get(string(r.ID)).Extension != nil {
		t.Fatal("the extension still waits")
	}
	// The requester revoking where she asked hears it from the notice; the
	// same click elsewhere, or by someone else, is answered.
	if reply := click("slack", alice, bot.Action{Kind: bot.ActionRotate, RequestID: r.ID}, ""); reply.Card == nil || !strings.Contains(reply.Card.Text, "sent on the fake") {
		t.Errorf("rotate: %+v", reply.Card)
	}
	if reply := click("slack", alice, bot.Action{Kind: bot.ActionRevoke, RequestID: r.ID}, ""); reply.Card != nil || reply.Err != nil {
		t.Errorf("revoke where she asked: %+v", reply)
	}
	if s := w.get(string(r.ID)).State; s != flows.StateRevoked {
		t.Fatalf("state %s", s)
	}

	r = w.ask("slack", "delivery-10")
	if reply := click("teams", alice, bot.Action{Kind: bot.ActionRevoke, RequestID: r.ID}, ""); reply.Card == nil || !strings.HasPrefix(reply.Card.Text, "Cancelled") {
		t.Errorf("a pending request revoked: %+v", reply.Card)
	}
	r = w.ask("slack", "delivery-11")
	if reply := click("teams", alice, bot.Action{Kind: bot.ActionCancel, RequestID: r.ID}, ""); reply.Card == nil || reply.Card.Text != "Cancelled." {
		t.Errorf("cancel: %+v", reply.Card)
	}
}

// TestOverview sorts a person's requests for a page of their own.
func TestOverview(t *testing.T) {
	w := newWorld(t)
	w.slack.Add(bob, nil)
	r := w.ask("slack", "delivery-12")
	ov, err := w.engine.Overview(w.ctx, w.actor("slack", alice))
	if err != nil || len(ov.Pending) != 1 || len(ov.Active) != 0 || len(ov.Waiting) != 0 || ov.Pending[0].RequestID != r.ID {
		t.Errorf("alice's overview: %+v %v", ov, err)
	}
	ov, err = w.engine.Overview(w.ctx, w.actor("slack", bob))
	if err != nil || len(ov.Waiting) != 1 || len(ov.Pending) != 0 {
		t.Errorf("bob's overview: %+v %v", ov, err)
	}
	if got, err := w.engine.Get(w.ctx, w.actor("slack", bob), r.ID); err != nil || got.ID != r.ID {
		t.Errorf("get: %v", err)
	}
}

func TestRegisterRefusesWiringMistakes(t *testing.T) {
	engine := bot.NewEngine(nil)
	engine.Register(bottest.NewPlatform("slack"))
	for name, p := range map[string]bot.Platform{"nameless": bottest.NewPlatform(""), "twice": bottest.NewPlatform("slack")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered", name)
				}
			}()
			engine.Register(p)
		}()
	}
}

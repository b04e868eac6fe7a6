package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// dworld is a flows.Service keeping its credentials in memory, an
// outbox on flowstest.Store, and a dispatcher sending through two fake
// platforms, "slack" and "teams", whose sends can be made to fail per
// recipient.
type dworld struct {
	t       testing.TB
	ctx     context.Context
	clock   *flowstest.Clock
	store   *outboxStore
	svc     *flows.Service
	secrets *bot.Secrets
	slack   *flakyPlatform
	teams   *flakyPlatform
	logs    *bottest.Logs
	d       *bot.Dispatcher
	cfg     bot.DispatcherConfig
	wall    *flowstest.Clock // real time, for pacing

	seenSlack, seenTeams int // operations newOps saw

	mu            sync.Mutex
	reissued      []flows.RequestID
	undeliverable []flows.RequestID
	// reissue, when set, stands in for the service's ReissueLost.
	reissue func(ctx context.Context, id flows.RequestID, issued time.Time) error
	// inboxLag, when set, is the dispatchers' DispatcherDeps.InboxLag.
	inboxLag func() time.Duration
	// platforms, when set, are the dispatchers' (else slack and teams).
	platforms func() []bot.Platform
}

func newDWorld(t testing.TB, cfg bot.DispatcherConfig) *dworld {
	t.Helper()
	return newDWorldOn(t, cfg, "")
}

// newDWorldOn is newDWorld with its service on replica (flows.Config.Replica).
func newDWorldOn(t testing.TB, cfg bot.DispatcherConfig, replica string) *dworld {
	t.Helper()
	policy, err := flows.Compile(flows.PolicySpec{
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
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &dworld{t: t, ctx: t.Context(), clock: flowstest.NewClock(flowstest.T0), store: &outboxStore{Store: flowstest.NewStore()},
		slack: newFlaky("slack"), teams: newFlaky("teams"), logs: &bottest.Logs{}, cfg: cfg,
		wall: flowstest.NewClock(flowstest.T0)}
	w.secrets = bot.NewSecrets(w.clock, time.Hour, 100)
	w.svc, err = flows.NewService(flows.Config{Policy: policy, MaxLiveRequests: 100000, Replica: replica}, flows.Deps{
		Store: w.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Clock: w.clock,
		Secrets: keeperOf(w), Log: w.logs.Logger(),
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
			{Name: "Cluster0", Owners: []string{"group:dba"}, Databases: map[string][]string{"sales": {"orders"}}},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.d = w.dispatcher(w.secrets)
	t.Cleanup(func() {
		if strings.Contains(w.logs.String(), "pw-") {
			t.Errorf("a password reached the logs:\n%s", w.logs.String())
		}
		w.noSecretAtRest()
	})
	return w
}

// keeperOf keeps in the world's current keeper: a restart replaces it.
func keeperOf(w *dworld) flows.SecretKeeper { return worldKeeper{w} }

type worldKeeper struct{ w *dworld }

func (k worldKeeper) keeper() *bot.Secrets {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	return k.w.secrets
}
func (k worldKeeper) Keep(id flows.RequestID, issued time.Time, c flows.Credentials) {
	k.keeper().Keep(id, issued, c)
}
func (k worldKeeper) Lookup(id flows.RequestID, issued time.Time) (flows.Credentials, bool) {
	return k.keeper().Lookup(id, issued)
}
func (k worldKeeper) Forget(id flows.RequestID, issued time.Time) { k.keeper().Forget(id, issued) }

// dispatcher is a new dispatcher on the world's store: what a restart makes.
func (w *dworld) dispatcher(secrets flows.SecretKeeper) *bot.Dispatcher {
	w.t.Helper()
	return w.replicaDispatcher(secrets, "", nil)
}

// replicaDispatcher is the dispatcher of replica self, which alive tells
// whether another replica is alive.
func (w *dworld) replicaDispatcher(secrets flows.SecretKeeper, self string, alive func(string) bool) *bot.Dispatcher {
	w.t.Helper()
	platforms := w.platforms
	if platforms == nil {
		platforms = func() []bot.Platform { return []bot.Platform{w.slack, w.teams} }
	}
	d, err := bot.NewDispatcher(w.cfg, bot.DispatcherDeps{
		Self: self, Alive: alive, InboxLag: w.inboxLag,
		Store:     w.store,
		Platforms: platforms,
		Audience:  w.svc.Audience,
		Secrets:   secrets,
		Reissue: func(ctx context.Context, id flows.RequestID, issued time.Time) error {
			w.mu.Lock()
			w.reissued = append(w.reissued, id)
			reissue := w.reissue
			w.mu.Unlock()
			if reissue != nil {
				return reissue(ctx, id, issued)
			}
			return w.svc.ReissueLost(ctx, id, issued)
		},
		OnUndeliverable: func(_ context.Context, id flows.RequestID, _ string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.undeliverable = append(w.undeliverable, id)
		},
		Clock: w.clock,
		Wall:  w.wall,
		Rand:  func() float64 { return 0.5 }, // no jitter: waits are exact
		Log:   w.logs.Logger(),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// grantLostInRestart has alice's request approved and expanded, then the
// process die before anything is sent: a new dispatcher on an empty secret
// keeper (the old memory is gone), whose reissues go to reissue (nil: the
// service's ReissueLost).
func (w *dworld) grantLostInRestart(reissue func(context.Context, flows.RequestID, time.Time) error) *flows.Request {
	w.t.Helper()
	w.everyone()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob)
	w.expand() // then the process dies: nothing sent
	secrets := bot.NewSecrets(w.clock, time.Hour, 100)
	w.mu.Lock()
	w.secrets, w.reissue = secrets, reissue
	w.mu.Unlock()
	w.d = w.dispatcher(secrets)
	return r
}

func (w *dworld) ask(origin string) *flows.Request {
	w.t.Helper()
	return w.askAs(alice, origin)
}

func (w *dworld) askAs(requester, origin string) *flows.Request {
	w.t.Helper()
	r, err := w.svc.Submit(w.ctx, flows.SubmitInput{Requester: requester, Resource: orders, Roles: []string{"read"},
		Duration: time.Hour, Reason: "INC-1", Origin: origin})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *dworld) approve(id flows.RequestID, by string) {
	w.t.Helper()
	if _, err := w.svc.Decide(w.ctx, flows.DecideInput{RequestID: id, Actor: by, Approve: true}); err != nil {
		w.t.Fatal(err)
	}
}

// expand expands everything in the audit log.
func (w *dworld) expand() {
	w.t.Helper()
	for range 100 {
		n, err := w.d.Expand(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	w.t.Fatal("expansion does not end")
}

// deliver runs delivery rounds until one settles nothing.
func (w *dworld) deliver() {
	w.t.Helper()
	for range 100000 {
		n, err := w.d.Deliver(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	w.t.Fatal("delivery does not end")
}

func (w *dworld) pending() []flows.Delivery {
	w.t.Helper()
	ds, err := w.store.Pending(w.ctx, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return ds
}

func (w *dworld) cursor() uint64 {
	w.t.Helper()
	c, err := w.store.Cursor(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *dworld) lastSeq() uint64 {
	w.t.Helper()
	recs, err := w.store.AuditAfter(w.ctx, 0, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return recs[len(recs)-1].Seq
}

func (w *dworld) events(t flows.EventType) []flows.Event {
	var out []flows.Event
	for _, ev := range w.store.Events() {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// noSecretAtRest checks that no delivery and no audit record holds a
// password of the fake provisioner ("pw-...").
func (w *dworld) noSecretAtRest() {
	ds, _ := w.store.Pending(context.Background(), 0)
	b, _ := json.Marshal(ds)
	a, _ := json.Marshal(w.store.Events())
	if strings.Contains(string(b), "pw-") || strings.Contains(string(a), "pw-") {
		w.t.Error("a password is in the outbox or the audit log")
	}
}

func conversations(ds []flows.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Conversation+" "+d.What)
	}
	slices.Sort(out)
	return out
}

// outboxStore is flowstest.Store whose Delivered can be made to fail
// after recording nothing (the send-to-commit window).
type outboxStore struct {
	*flowstest.Store
	mu             sync.Mutex
	failDelivered  int
	deliveredCalls int
	// failSending fails that many marks (Sending), as a deposed leader's
	// fenced writes fail.
	failSending int
	// enqueueLimit, when set, fails every Enqueue of more deliveries (a
	// store whose large transactions lose every race), and enqueueSizes
	// records what each Enqueue was asked to write.
	enqueueLimit int
	enqueueSizes []int
	// enqueueGate, when set, holds every Enqueue until it is closed, after
	// telling enqueueEntered.
	enqueueGate, enqueueEntered chan struct{}
	// waitingReads and manyWaitingReads count the reads of deliveries
	// one at a time and together.
	waitingReads, manyWaitingReads int
}

func (s *outboxStore) Waiting(ctx context.Context, id uint64) (flows.Delivery, error) {
	s.mu.Lock()
	s.waitingReads++
	s.mu.Unlock()
	return s.Store.Waiting(ctx, id)
}

func (s *outboxStore) ManyWaiting(ctx context.Context, ids []uint64) ([]flows.Delivery, error) {
	s.mu.Lock()
	s.manyWaitingReads++
	s.mu.Unlock()
	return s.Store.ManyWaiting(ctx, ids)
}

func (s *outboxStore) Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error) {
	s.mu.Lock()
	s.enqueueSizes = append(s.enqueueSizes, len(ds))
	limit, gate, entered := s.enqueueLimit, s.enqueueGate, s.enqueueEntered
	s.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	if limit > 0 && len(ds) > limit {
		return nil, errors.New("gave up after 15 attempts lost to other writers")
	}
	return s.Store.Enqueue(ctx, cursor, ds...)
}

func (s *outboxStore) Delivered(ctx context.Context, id uint64, ref *flows.MessageRef) error {
	s.mu.Lock()
	s.deliveredCalls++
	if s.failDelivered > 0 {
		s.failDelivered--
		s.mu.Unlock()
		return errors.New("disk full")
	}
	s.mu.Unlock()
	return s.Store.Delivered(ctx, id, ref)
}

func (s *outboxStore) Sending(ctx context.Context, id uint64, mark flows.SendMark) (*flows.SendMark, error) {
	s.mu.Lock()
	if s.failSending > 0 {
		s.failSending--
		s.mu.Unlock()
		return nil, errors.New("the leadership was lost: the write is fenced")
	}
	s.mu.Unlock()
	return s.Store.Sending(ctx, id, mark)
}

// flakyPlatform is bottest.Platform whose sends to some people fail.
type flakyPlatform struct {
	*bottest.Platform
	mu    sync.Mutex
	fails map[string][]error // by email: the next sends' errors, in order
	sends map[string]int     // by email: sends tried
	// gates hold sends to a person until closed, telling started first.
	gates   map[string]chan struct{}
	started chan string
	// sent, when set, hears of every message sent, by email.
	sent chan string
}

// block holds the sends to email until gate is closed; the returned
// channel hears of each send that starts waiting.
func (p *flakyPlatform) block(email string, gate chan struct{}) <-chan string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gates == nil {
		p.gates = map[string]chan struct{}{}
		p.started = make(chan string, 100)
	}
	p.gates[email] = gate
	return p.started
}

// notify has every message sent told on a new channel.
func (p *flakyPlatform) notify() <-chan string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = make(chan string, 100)
	return p.sent
}

func newFlaky(name string) *flakyPlatform {
	return &flakyPlatform{Platform: bottest.NewPlatform(name), fails: map[string][]error{}, sends: map[string]int{}}
}

func (p *flakyPlatform) failNext(email string, errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails[email] = append(p.fails[email], errs...)
}

func (p *flakyPlatform) tried(email string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sends[email]
}

func (p *flakyPlatform) Send(ctx context.Context, to bot.Person, c bot.Card) (flows.MessageRef, error) {
	p.mu.Lock()
	p.sends[to.Email]++
	if errs := p.fails[to.Email]; len(errs) > 0 {
		p.fails[to.Email] = errs[1:]
		p.mu.Unlock()
		return flows.MessageRef{}, errs[0]
	}
	gate, sent := p.gates[to.Email], p.sent
	if gate != nil {
		p.started <- to.Email
	}
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return flows.MessageRef{}, ctx.Err()
		}
	}
	ref, err := p.Platform.Send(ctx, to, c)
	if err == nil && sent != nil {
		sent <- to.Email
	}
	return ref, err
}

type rateLimited time.Duration

func (e rateLimited) Error() string             { return "rate limited" }
func (e rateLimited) RetryAfter() time.Duration { return time.Duration(e) }

type permanent string

func (e permanent) Error() string   { return string(e) }
func (e permanent) Permanent() bool { return true }

var (
	_ bot.RateLimited    = rateLimited(0)
	_ bot.PermanentError = permanent("")
)

// everyone: alice on both, bob on both, carol on teams only, dave on slack
// only; slack's approvals channel #db-access.
func (w *dworld) everyone() {
	w.slack.Add(alice, nil)
	w.teams.Add(alice, nil)
	w.slack.Add(bob, nil)
	w.teams.Add(bob, nil)
	w.teams.Add(carol, nil)
	w.slack.Add(dave, nil)
	w.slack.SetChannel("#db-access")
}

// TestDispatchExpandsCardsWithoutChatCalls: a new request becomes one
// card delivery per approver per platform and one per approvals channel,
// written with the cursor, without asking any platform anything; sent, the
// cards reach whoever each platform reaches and are remembered.
func TestDispatchExpandsCardsWithoutChatCalls(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	r := w.ask("slack")
	w.expand()
	want := []string{"slack:channel:#db-access card", "slack:dm:bob@example.com card", "slack:dm:carol@example.com card",
		"teams:dm:bob@example.com card", "teams:dm:carol@example.com card"}
	if got := conversations(w.pending()); !slices.Equal(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
	if w.cursor() != w.lastSeq() {
		t.Errorf("cursor %d, last audit record %d", w.cursor(), w.lastSeq())
	}
	if w.slack.Finds()+w.teams.Finds() != 0 {
		t.Error("expansion asked a platform")
	}
	w.deliver()
	if len(w.pending()) != 0 {
		t.Errorf("left: %v", conversations(w.pending()))
	}
	title := "Access request " + string(r.ID)
	for _, got := range [][]string{titles(w.slack.To(bob)), titles(w.teams.To(bob)), titles(w.teams.To(carol)), titles(w.slack.To("#db-access"))} {
		if !slices.Equal(got, []string{title}) {
			t.Errorf("got %v, want one %q", got, title)
		}
	}
	refs, _ := w.store.MessageRefs(w.ctx, r.ID)
	if len(refs) != 4 {
		t.Errorf("refs %+v", refs)
	}
	if len(w.slack.To(alice))+len(w.teams.To(alice)) != 0 {
		t.Error("the requester was told of her own request")
	}
}

// TestDispatchCredentialsFirstThenRefreshes: an approval sends the
// credentials, from memory, to the requester where she asked and nowhere
// else, before any card refresh; the cards follow the decision and close.
func TestDispatchCredentialsFirstThenRefreshes(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1})
	w.everyone()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	before := len(w.slack.Ops()) + len(w.teams.Ops())
	w.approve(r.ID, bob)
	w.expand()
	var creds, refreshes int
	for _, d := range w.pending() {
		switch d.What {
		case "credentials":
			creds++
			if d.Conversation != "slack:dm:alice@example.com" || d.Priority != flows.PriorityCredentials {
				t.Errorf("credentials delivery %+v", d)
			}
		case "refresh":
			refreshes++
			if d.Priority != flows.PriorityRefresh || d.Coalesce == "" || d.Ref == nil {
				t.Errorf("refresh %+v", d)
			}
		default:
			t.Errorf("unexpected delivery %+v", d)
		}
	}
	if creds != 1 || refreshes != 4 {
		t.Errorf("%d credentials and %d refreshes, want 1 and 4", creds, refreshes)
	}
	// Workers=1: one message per round, the credentials first.
	if _, err := w.d.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	ops := slices.Concat(w.slack.Ops(), w.teams.Ops())
	if len(ops) != before+1 {
		t.Fatalf("first round: %d operations", len(ops)-before)
	}
	first := w.slack.Ops()[len(w.slack.Ops())-1]
	if first.Kind != bottest.OpSend || first.To != alice || !first.Card.HasSecret() {
		t.Errorf("first op after the approval: %+v", first)
	}
	w.deliver()
	if len(w.teams.To(alice)) != 0 {
		t.Error("credentials went to a platform she did not ask from")
	}
	for _, m := range slices.Concat(w.slack.To(bob), w.teams.To(bob), w.teams.To(carol), w.slack.To("#db-access")) {
		if len(m.Revisions) != 1 {
			t.Errorf("card to %s: %d revisions", m.To, len(m.Revisions))
		}
	}
	refs, _ := w.store.MessageRefs(w.ctx, r.ID)
	closed := 0
	for _, ref := range refs {
		if ref.Kind == bot.KindClosed {
			closed++
		}
	}
	if closed != 0 { // active: the approval cards change again when access ends
		t.Errorf("%d cards closed while the grant is active", closed)
	}
	if w.secrets.Len() != 0 {
		t.Error("a sent secret is still held")
	}
}

// TestDispatchSilentEvents: events that tell nobody move the cursor and
// write nothing.
func TestDispatchSilentEvents(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	if err := w.store.AppendEvents(w.ctx,
		flows.Event{Type: flows.EventContactForgotten, Actor: dave, At: flowstest.T0, Message: alice},
		flows.Event{Type: flows.EventMessageUndelivered, Actor: flows.SystemActor, At: flowstest.T0}); err != nil {
		t.Fatal(err)
	}
	w.expand()
	if len(w.pending()) != 0 || w.cursor() != 2 {
		t.Errorf("deliveries %v, cursor %d", conversations(w.pending()), w.cursor())
	}
}

// TestDispatchAdminsAndOrder: findings about no request go to the admins
// on every platform; one conversation's messages go one at a time, in
// order.
func TestDispatchAdminsAndOrder(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	for _, name := range []string{"jit-one", "jit-two", "jit-three"} {
		if err := w.store.AppendEvents(w.ctx, flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: flowstest.T0, Principal: name}); err != nil {
			t.Fatal(err)
		}
	}
	w.expand()
	if got := len(w.pending()); got != 6 { // dave on slack and teams, three each
		t.Errorf("%d deliveries, want 6", got)
	}
	if n, _ := w.d.Deliver(w.ctx); n != 2 { // one per conversation (teams: dave unknown, dropped)
		t.Errorf("first round settled %d, want 2", n)
	}
	w.deliver()
	var got []string
	for _, m := range w.slack.To(dave) {
		got = append(got, m.Card.Subtitle)
	}
	if want := []string{"jit-one", "jit-two", "jit-three"}; !slices.Equal(got, want) {
		t.Errorf("dave got %v, want %v", got, want)
	}
}

// TestDispatchCoalescesRefreshes: refreshes of one card waiting together
// become one update, showing the latest state.
func TestDispatchCoalescesRefreshes(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob) // approved, provisioning, activated
	if _, err := w.svc.Revoke(w.ctx, r.ID, alice, "done"); err != nil {
		t.Fatal(err)
	}
	w.expand()
	perCard := map[string]int{}
	for _, d := range w.pending() {
		if d.What == "refresh" && d.Ref != nil {
			perCard[d.Coalesce]++
		}
	}
	if len(perCard) != 4 {
		t.Errorf("refreshes of %d cards, want 4", len(perCard))
	}
	for k, n := range perCard {
		if n != 1 {
			t.Errorf("%s: %d refreshes waiting", k, n)
		}
	}
	w.deliver()
	m := w.slack.To(bob)[0]
	if len(m.Revisions) != 1 || !strings.Contains(m.Card.Status+m.Card.Title, "evoked") {
		t.Errorf("bob's card: %d revisions, now %q / %q", len(m.Revisions), m.Card.Title, m.Card.Status)
	}
}

// TestDispatchPriorityBetweenConversations: the requester's credentials go
// before approval cards, which go before refreshes, until a refresh has
// waited a minute.
func TestDispatchPriorityBetweenConversations(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1})
	w.everyone()
	r1 := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r1.ID, bob) // credentials to alice, refreshes of 4 cards
	w.slack.SetChannel("")
	w.askAs(dave, "teams") // cards to bob (2) and carol, behind refreshes in their conversations
	w.expand()
	w.seenSlack, w.seenTeams = len(w.slack.Ops()), len(w.teams.Ops())
	var got []string
	for range 20 { // Workers=1: one conversation per round
		n, err := w.d.Deliver(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, w.newOps()...)
	}
	if len(got) != 8 || got[0] != "send "+alice || got[len(got)-1] != "update #db-access" {
		t.Errorf("order %v: the credentials first, the channel's refresh (nothing urgent behind it) last", got)
	}
	if len(w.pending()) != 0 {
		t.Errorf("left %v", conversations(w.pending()))
	}

	// A refresh that waited a minute goes before a newer approval card.
	if _, err := w.svc.Revoke(w.ctx, r1.ID, alice, "done"); err != nil {
		t.Fatal(err)
	}
	w.expand()
	w.clock.Advance(time.Minute)
	w.askAs(carol, "teams") // a card to bob on both platforms
	w.expand()
	if _, err := w.d.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	if ops := w.newOps(); len(ops) != 1 || !strings.HasPrefix(ops[0], "update ") {
		t.Errorf("after a minute: %v, want a refresh first (older)", ops)
	}
	w.deliver()
	if len(w.pending()) != 0 {
		t.Errorf("left %v", conversations(w.pending()))
	}
}

// newOps are the platform operations done since the last call.
func (w *dworld) newOps() []string {
	s, tm := w.slack.Ops(), w.teams.Ops()
	var out []string
	for _, op := range s[w.seenSlack:] {
		out = append(out, op.Kind+" "+op.To)
	}
	for _, op := range tm[w.seenTeams:] {
		out = append(out, op.Kind+" "+op.To)
	}
	w.seenSlack, w.seenTeams = len(s), len(tm)
	return out
}

// TestDispatchRetryAfterHoldsOnlyThatConversation: a 429 postpones bob's
// card by its Retry-After, while carol's goes; backoff doubles after
// other failures; both arrive in the end.
func TestDispatchRetryAfterHoldsOnlyThatConversation(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{BackoffBase: time.Second})
	w.everyone()
	w.slack.SetChannel("")
	w.slack.Add(carol, nil)
	w.slack.failNext(bob, rateLimited(30*time.Second))
	w.slack.failNext(carol, errors.New("connection reset"), errors.New("connection reset"))
	w.ask("teams")
	w.expand()
	w.deliver()
	if len(w.teams.To(bob)) != 1 || len(w.teams.To(carol)) != 1 {
		t.Error("teams waited for slack")
	}
	byConv := map[string]flows.Delivery{}
	for _, d := range w.pending() {
		byConv[d.Conversation] = d
	}
	if d := byConv["slack:dm:bob@example.com"]; !d.NotBefore.Equal(flowstest.T0.Add(30 * time.Second)) {
		t.Errorf("bob's card not before %v, want +30s", d.NotBefore)
	}
	if d := byConv["slack:dm:carol@example.com"]; d.Attempts != 1 || !d.NotBefore.Equal(flowstest.T0.Add(time.Second)) {
		t.Errorf("carol's card: %d attempts, not before %v, want 1 and +1s", d.Attempts, d.NotBefore)
	}
	w.clock.Advance(time.Second)
	w.deliver()
	if d := w.pending(); len(d) != 2 || d[1].Attempts != 2 || !d[1].NotBefore.Equal(flowstest.T0.Add(3*time.Second)) {
		t.Errorf("after the second failure: %+v, want carol's not before +3s (1s then 2s)", d)
	}
	w.clock.Advance(2 * time.Second)
	w.deliver()
	if len(w.slack.To(carol)) != 1 || len(w.slack.To(bob)) != 0 {
		t.Errorf("at +3s carol has %d, bob %d cards, want 1 and 0", len(w.slack.To(carol)), len(w.slack.To(bob)))
	}
	w.clock.Advance(27 * time.Second)
	w.deliver()
	if len(w.slack.To(bob)) != 1 || len(w.pending()) != 0 {
		t.Errorf("after Retry-After bob has %d cards; left %v", len(w.slack.To(bob)), conversations(w.pending()))
	}
}

// TestDispatchPacing: a paced platform's conversation takes its next post
// only after the pace has passed in real time, whatever the domain's clock
// does; other conversations and other platforms are not held, and updates
// of a card are not paced.
func TestDispatchPacing(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Pacing: map[string]time.Duration{"slack": time.Second}})
	w.everyone()
	w.slack.SetChannel("")
	first := w.ask("slack")
	second := w.askAs(carol, "slack")
	w.expand()
	w.deliver()
	if len(w.slack.To(bob)) != 1 || len(w.teams.To(bob)) != 2 || len(w.slack.To(dave)) != 0 {
		t.Fatalf("first round: bob has %d slack and %d teams cards, want 1 and 2", len(w.slack.To(bob)), len(w.teams.To(bob)))
	}
	w.clock.Advance(time.Hour) // the domain's clock does not pace
	w.deliver()
	if len(w.slack.To(bob)) != 1 {
		t.Fatal("bob's second slack card went out at once: a moved domain clock paced it")
	}
	w.wall.Advance(999 * time.Millisecond)
	w.deliver()
	if len(w.slack.To(bob)) != 1 {
		t.Fatal("bob's second slack card went out before the pace")
	}
	w.wall.Advance(time.Millisecond)
	w.deliver()
	if len(w.slack.To(bob)) != 2 {
		t.Fatalf("after the pace bob has %d slack cards, want 2", len(w.slack.To(bob)))
	}
	// An approval refreshes bob's cards at once: updates are not paced.
	w.approve(first.ID, carol)
	w.approve(second.ID, bob)
	w.expand()
	w.deliver()
	for _, m := range w.slack.To(bob) {
		if len(m.Revisions) == 0 {
			t.Errorf("bob's card %q was not updated at once", m.Card.Title)
		}
	}
}

// TestDispatchPermanentFailures: a card the platform refuses for good is
// dropped with an audit event while the other approvers get theirs;
// credentials refused for good are dropped as undelivered and reported.
func TestDispatchPermanentFailures(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	w.teams.failNext(bob, permanent("account_inactive"))
	r := w.ask("slack")
	w.expand()
	w.deliver()
	if len(w.teams.To(bob)) != 0 || len(w.teams.To(carol)) != 1 || len(w.slack.To(bob)) != 1 {
		t.Error("the other approvers did not get their cards")
	}
	if evs := w.events(flows.EventMessageUndelivered); len(evs) != 1 || evs[0].RequestID != r.ID || !strings.Contains(evs[0].Message, "account_inactive") {
		t.Errorf("undelivered events %+v", evs)
	}
	w.slack.failNext(alice, permanent("user_not_found"))
	w.approve(r.ID, bob)
	w.expand()
	w.deliver()
	if evs := w.events(flows.EventCredentialsUndelivered); len(evs) != 1 {
		t.Errorf("credentials undelivered events %+v", evs)
	}
	if !slices.Equal(w.undeliverable, []flows.RequestID{r.ID}) {
		t.Errorf("OnUndeliverable %v", w.undeliverable)
	}
	if len(w.pending()) != 0 || w.secrets.Len() != 0 {
		t.Errorf("left %v, %d secrets", conversations(w.pending()), w.secrets.Len())
	}
	// Admins hear of it from the event itself.
	w.expand()
	w.deliver()
	if got := titles(w.slack.To(dave)); len(got) != 1 || !strings.Contains(got[0], "not delivered") {
		t.Errorf("dave: %v", got)
	}
}

// TestDispatchRestartLosesNothing: deliveries expanded before a crash are
// sent by the next process's dispatcher; the credentials, whose secret
// died with the process, are reissued instead (once), and the new ones
// sent.
func TestDispatchRestartLosesNothing(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	r := w.grantLostInRestart(nil)
	cursor := w.cursor()
	w.deliver() // within KeepGrace: the secret may be on its way; nothing reissued
	if len(w.reissued) != 0 || len(w.slack.To(alice)) != 0 {
		t.Fatalf("reissued %v at once; alice has %d messages", w.reissued, len(w.slack.To(alice)))
	}
	// Waiting for the grace to end in one step, not attempted every second.
	w.clock.Advance(5 * time.Second)
	w.deliver()
	for _, dl := range w.pending() {
		if dl.What == "credentials" && (dl.Attempts != 1 || !dl.NotBefore.Equal(flowstest.T0.Add(10*time.Second))) {
			t.Fatalf("the credentials waiting for their grace: %d attempts, not before %v; want 1, until the grace ends", dl.Attempts, dl.NotBefore)
		}
	}
	if w.cursor() != cursor {
		t.Error("the new dispatcher expanded again")
	}
	w.clock.Advance(5 * time.Second)
	w.deliver() // starts the reissue, beside the senders
	w.d.WaitReissues()
	if !slices.Equal(w.reissued, []flows.RequestID{r.ID}) {
		t.Errorf("reissued %v", w.reissued)
	}
	w.clock.Advance(5 * time.Second)
	w.deliver() // finds it done: the old delivery goes
	w.expand()
	w.deliver()
	got := w.slack.To(alice)
	if len(got) != 1 || !got[0].Card.HasSecret() || !strings.HasPrefix(got[0].Card.Title, "New credentials") {
		t.Errorf("alice got %v, want the reissued credentials", titles(got))
	}
	if m := w.slack.To(bob); len(m) != 1 || len(m[0].Revisions) == 0 {
		t.Error("bob's card was not brought up to date after the restart")
	}
	if len(w.pending()) != 0 || len(w.reissued) != 1 {
		t.Errorf("left %v; reissued %v", conversations(w.pending()), w.reissued)
	}
}

// TestDispatchReissuesBesideTheSenders: a reissue (a new secret set in
// Atlas and applied: seconds, more on a busy cluster) runs beside the
// senders: with one sender, the other conversations' messages go out
// while it is under way, and the credentials follow once it is done.
func TestDispatchReissuesBesideTheSenders(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1})
	release := make(chan struct{})
	var returned atomic.Bool
	w.grantLostInRestart(func(ctx context.Context, id flows.RequestID, issued time.Time) error {
		select { // an Atlas apply that takes its time
		case <-release:
		case <-time.After(3 * time.Second):
		}
		defer returned.Store(true)
		return w.svc.ReissueLost(ctx, id, issued)
	})
	w.clock.Advance(10 * time.Second)
	before := len(w.slack.To(bob))
	second := w.askAs(dave, "slack") // bob's next card
	w.expand()
	w.deliver() // alice's credentials first: the reissue starts
	w.deliver() // then the rest
	if returned.Load() {
		t.Fatal("the sender waited for the reissue")
	}
	if got := w.slack.To(bob); len(got) != before+1 || !strings.Contains(got[len(got)-1].Card.Title, string(second.ID)) {
		t.Fatalf("bob got %v while the reissue was under way, want the card of %s", titles(got), second.ID)
	}
	close(release)
	w.d.WaitReissues()
	w.reissuedCredentialsGo()
}

// reissuedCredentialsGo has the dispatcher find a reissue done (its old
// delivery goes), expand the new credentials and send them, and checks
// that alice got them, and nothing else.
func (w *dworld) reissuedCredentialsGo() {
	w.t.Helper()
	w.clock.Advance(5 * time.Second)
	w.deliver()
	w.expand()
	w.deliver()
	if got := w.slack.To(alice); len(got) != 1 || !got[0].Card.HasSecret() || !strings.HasPrefix(got[0].Card.Title, "New credentials") {
		w.t.Fatalf("alice got %v, want the reissued credentials", titles(got))
	}
}

// TestDispatchLostMessageOfAGrantWithoutSecret: the credentials message of
// a grant that holds no secret (network access, Atlas UI roles, a
// passwordless user), lost in a restart, goes out without its details at
// once; it used to be retried as a failed reissue, holding back everything
// else to that person for minutes.
func TestDispatchLostMessageOfAGrantWithoutSecret(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.grantLostInRestart(func(context.Context, flows.RequestID, time.Time) error { return flows.ErrNothingToReissue })
	w.clock.Advance(10 * time.Second)
	w.deliver()
	w.d.WaitReissues()
	w.clock.Advance(5 * time.Second)
	w.deliver()
	w.expand()
	w.deliver()
	got := w.slack.To(alice)
	if len(got) != 1 || got[0].Card.HasSecret() || !strings.Contains(got[0].Card.Title, "granted") {
		t.Errorf("alice got %v, want the grant's message without its details", titles(got))
	}
	if len(w.pending()) != 0 {
		t.Errorf("left %v", conversations(w.pending()))
	}
	if strings.Contains(w.logs.String(), "will retry") {
		t.Errorf("the lost message was retried:\n%s", w.logs.String())
	}
}

// TestDispatchRecordsWhatItSentOnTheNextTry: a message the platform
// accepted but whose delivery could not be recorded is recorded on the
// next try, with its reference, and not sent again.
func TestDispatchRecordsWhatItSentOnTheNextTry(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1}) // the credentials go first: theirs is the failed record
	w.everyone()
	w.slack.SetChannel("")
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob)
	w.expand()
	w.store.mu.Lock()
	w.store.failDelivered = 1
	w.store.mu.Unlock()
	w.deliver()
	if len(w.pending()) == 0 {
		t.Fatal("the failed record removed the delivery")
	}
	w.clock.Advance(time.Minute) // past the hold on the conversation
	w.deliver()
	if got := w.slack.To(alice); len(got) != 1 || w.slack.tried(alice) != 1 {
		t.Fatalf("alice got %d messages (%d sends), want the credentials once", len(got), w.slack.tried(alice))
	}
	if len(w.pending()) != 0 {
		t.Errorf("left %v", conversations(w.pending()))
	}
	refs, err := w.store.MessageRefs(t.Context(), r.ID)
	if err != nil || !slices.ContainsFunc(refs, func(ref flows.MessageRef) bool { return ref.Kind == bot.KindCredentials }) {
		t.Errorf("the credentials message was not remembered: %+v %v", refs, err)
	}
	// The metrics tell it.
	counts := map[string]int64{}
	for _, c := range w.d.Stats() {
		if c.Platform == "slack" && c.What == "credentials" {
			counts[c.Outcome] = c.N
		}
	}
	if counts[bot.OutcomeNotRecorded] != 1 || counts[bot.OutcomeFound] != 1 || counts[bot.OutcomeSent] != 0 || counts[bot.OutcomeRepeated] != 0 {
		t.Errorf("slack credentials outcomes %v, want one not recorded, then found", counts)
	}
}

// TestDispatchSlowSendHoldsOnlyItsConversation: while a send to bob on
// slack hangs, Run's other worker keeps sending everything else (teams'
// cards to bob and carol, one after the other, not in rounds that would
// wait for the hung send); released, bob's slack cards follow in order.
func TestDispatchSlowSendHoldsOnlyItsConversation(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 2})
	w.everyone()
	w.slack.SetChannel("")
	gate := make(chan struct{})
	started := w.slack.block(bob, gate)
	slackSent, teamsSent := w.slack.notify(), w.teams.notify()
	var ids []flows.RequestID
	for i := range 3 {
		ids = append(ids, w.askAs("user"+strconv.Itoa(i)+"@example.com", "slack").ID)
	}
	w.expand()

	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.d.Run(ctx)
	}()
	released := false
	defer func() {
		if !released {
			close(gate)
		}
		cancel()
		<-done
	}()
	// A guard against a hang, not a wait: everything here is prompt.
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	recv := func(ch <-chan string, what string) string {
		t.Helper()
		select {
		case s := <-ch:
			return s
		case <-guard.C:
			t.Fatalf("still waiting for %s", what)
			return ""
		}
	}

	recv(started, "the send to bob on slack")
	got := map[string]int{}
	for range 6 {
		got[recv(teamsSent, "teams' cards while slack's send to bob hangs")]++
	}
	if got[bob] != 3 || got[carol] != 3 {
		t.Errorf("teams sent %v while slack's send to bob hung, want 3 cards each to bob and carol", got)
	}
	if w.slack.tried(bob) != 1 || len(w.slack.To(bob)) != 0 {
		t.Errorf("slack: %d sends to bob tried, %d arrived, want the first one hanging", w.slack.tried(bob), len(w.slack.To(bob)))
	}

	close(gate)
	released = true
	for range 3 {
		recv(slackSent, "bob's cards on slack once released")
	}
	var want []string
	for _, id := range ids {
		want = append(want, "Access request "+string(id))
	}
	if got := titles(w.slack.To(bob)); !slices.Equal(got, want) {
		t.Errorf("bob got %v on slack, want %v in order", got, want)
	}
}

// BenchmarkDispatch expands and delivers the messages of 1,000 requests
// (each: a card to 2 approvers on 2 platforms and to a channel, 5
// deliveries, one of which slack drops: carol is on teams only) on the
// memory store and the fake platforms.
func BenchmarkDispatch(b *testing.B) {
	var deliveries int
	for b.Loop() {
		b.StopTimer()
		w := newDWorld(b, bot.DispatcherConfig{})
		w.everyone()
		for i := range 1000 {
			w.askAs("user"+strconv.Itoa(i)+"@example.com", "slack")
		}
		b.StartTimer()
		w.expand()
		n := len(w.pending())
		w.deliver()
		deliveries += n
	}
	b.ReportMetric(float64(deliveries)/b.Elapsed().Seconds(), "deliveries/s")
}

// A store that fails large enqueues (etcd, where a large transaction loses
// every race to small ones) gets smaller expansions until one commits, and
// the outbox moves on; after successes the expansions grow back.
func TestExpansionShrinksWhenTheStoreFailsIt(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Batch: 64})
	for i := range 20 {
		w.askAs("p"+strconv.Itoa(i)+"@example.com", "slack")
	}
	w.store.mu.Lock()
	w.store.enqueueLimit = 8
	w.store.mu.Unlock()
	failures := 0
	for range 200 {
		n, err := w.d.Expand(w.ctx)
		if err != nil {
			failures++
			continue
		}
		if n == 0 {
			break
		}
	}
	if failures == 0 {
		t.Fatal("no enqueue failed: the test proves nothing")
	}
	cur, err := w.store.Cursor(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := w.store.AuditAfter(w.ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := last[len(last)-1].Seq; cur != want {
		t.Fatalf("the outbox cursor is at %d after %d failed expansions, want every record expanded (%d)", cur, failures, want)
	}
	// Once the store takes them again, the batch grows back.
	w.store.mu.Lock()
	w.store.enqueueLimit, w.store.enqueueSizes = 0, nil
	w.store.mu.Unlock()
	for i := range 40 {
		w.askAs("q"+strconv.Itoa(i)+"@example.com", "slack")
	}
	w.expand()
	w.store.mu.Lock()
	sizes := slices.Clone(w.store.enqueueSizes)
	w.store.mu.Unlock()
	if len(sizes) < 2 || sizes[len(sizes)-1] <= sizes[0] {
		t.Fatalf("enqueue sizes after the store recovered: %v, want them growing", sizes)
	}
}

// ExpandLag says how old the last event expanded was, and 0 once the
// expansion found nothing left: the least any message still waits.
func TestExpandLag(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	w.ask("slack")
	w.clock.Advance(7 * time.Second)
	if n, err := w.d.Expand(w.ctx); err != nil || n == 0 {
		t.Fatalf("expanded %d: %v", n, err)
	}
	if got := w.d.ExpandLag(); got != 7*time.Second {
		t.Fatalf("lag %v after expanding a 7 s old event, want 7s", got)
	}
	w.expand()
	if got := w.d.ExpandLag(); got != 0 {
		t.Fatalf("lag %v with nothing left, want 0", got)
	}
}

// While an expansion's enqueue is under way (on etcd, one or several
// transactions), the senders go on with the conversations it cannot
// coalesce into (alice's: her credentials, revoked meanwhile, are
// dropped), and hold back those it may: bob's and carol's cards, whose
// waiting refreshes the revocation's refreshes update in place, go out
// after it, with the revocation. The senders used to wait for the whole
// enqueue.
func TestSendersGoOnDuringAnEnqueue(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob)
	w.expand() // refreshes of bob's and carol's cards wait, unsent; so do alice's credentials
	cards := func(who string) []bottest.Message { return append(w.slack.To(who), w.teams.To(who)...) }
	revised := func(who string) int {
		n := 0
		for _, m := range cards(who) {
			n += len(m.Revisions)
		}
		return n
	}
	bobBefore, carolBefore := revised(bob), revised(carol)
	if _, err := w.svc.Revoke(w.ctx, r.ID, dave, "INC-1 is over"); err != nil {
		t.Fatal(err)
	}
	w.store.mu.Lock()
	w.store.enqueueGate, w.store.enqueueEntered = make(chan struct{}), make(chan struct{}, 1)
	gate, entered := w.store.enqueueGate, w.store.enqueueEntered
	w.store.mu.Unlock()
	expanded := make(chan error, 1)
	go func() {
		_, err := w.d.Expand(w.ctx)
		expanded <- err
	}()
	<-entered
	w.store.mu.Lock()
	w.store.enqueueGate = nil
	w.store.mu.Unlock()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		w.deliver()
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("the senders waited for the enqueue")
	}
	if revised(bob) != bobBefore || revised(carol) != carolBefore {
		t.Fatalf("bob's or carol's card was refreshed while an enqueue that coalesces into its refresh was under way")
	}
	for _, dl := range w.pending() {
		if dl.What == "credentials" {
			t.Fatalf("alice's credentials (no longer any use: the access is revoked) are still waiting: %+v", dl)
		}
	}
	close(gate)
	if err := <-expanded; err != nil {
		t.Fatal(err)
	}
	w.expand()
	w.deliver()
	for _, who := range []string{bob, carol} {
		got := cards(who)
		before := map[string]int{bob: bobBefore, carol: carolBefore}[who]
		if len(got) == 0 || revised(who) <= before {
			t.Fatalf("%s has %d cards, none revised", who, len(got))
		}
		for _, m := range got {
			if card := fmt.Sprintf("%+v", m.Card); !strings.Contains(strings.ToLower(card), "revoked") {
				t.Errorf("%s's card after the enqueue: %s, want it revised to say revoked", who, card)
			}
		}
	}
}

// The heads that follow the ones sent are read together, one read for
// several conversations, not one read each under the dispatcher's lock.
func TestNextHeadsAreReadTogether(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	w.everyone()
	for _, who := range []string{alice, dave, "erin@example.com"} {
		w.askAs(who, "slack")
	}
	w.expand()
	if n, err := w.d.Deliver(w.ctx); err != nil || n < 3 {
		t.Fatalf("the first round settled %d: %v", n, err)
	}
	w.store.mu.Lock()
	one, many := w.store.waitingReads, w.store.manyWaitingReads
	w.store.mu.Unlock()
	if one != 0 || many != 0 {
		t.Fatalf("the first heads, held whole since their enqueue, were read: %d alone, %d together", one, many)
	}
	if n, err := w.d.Deliver(w.ctx); err != nil || n < 3 {
		t.Fatalf("the second round settled %d: %v", n, err)
	}
	w.store.mu.Lock()
	one, many = w.store.waitingReads, w.store.manyWaitingReads
	w.store.mu.Unlock()
	if one != 0 || many != 1 {
		t.Fatalf("the next heads were read %d times alone and %d together; want once together", one, many)
	}
	w.deliver()
	for _, who := range []string{bob, carol} {
		if got := append(w.slack.To(who), w.teams.To(who)...); len(got) < 3 {
			t.Errorf("%s got %v, want the three cards", who, titles(got))
		}
	}
}

// Answers handed over unnumbered (a store replicas share numbers them on
// the leader) only wake the dispatcher: the inbox's worker does not wait
// for its lock, which a load of a long outbox holds for seconds.
func TestUnnumberedAnswersDoNotWaitForTheLock(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{})
	var once sync.Once
	hold := w.d.HoldLock()
	release := func() { once.Do(hold) }
	defer release()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.d.Schedule([]flows.Delivery{{Conversation: "slack:dm:alice@example.com", What: "reply"}})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("handing over an unnumbered answer waited for the dispatcher's lock")
	}
}

// TestDispatchYieldsToALaggingInbox: while the people acting wait on the
// inbox (its lag over YieldAfter), the dispatcher has at most YieldWorkers
// messages in flight, the most urgent; it takes all its workers back once
// the inbox keeps up.
func TestDispatchYieldsToALaggingInbox(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 4, YieldWorkers: 1, YieldAfter: time.Second})
	var lag atomic.Int64
	w.inboxLag = func() time.Duration { return time.Duration(lag.Load()) }
	w.d = w.dispatcher(w.secrets)
	w.everyone()
	for i := range 4 {
		w.askAs("user"+strconv.Itoa(i)+"@example.com", "slack")
	}
	w.expand()
	convs := len(slices.Compact(slices.Sorted(slices.Values(conversations(w.pending())))))
	if convs < 4 {
		t.Fatalf("%d conversations waiting, want at least 4", convs)
	}

	lag.Store(int64(5 * time.Second))
	if n, err := w.d.Deliver(w.ctx); n != 1 || err != nil {
		t.Fatalf("a round while the inbox lags 5 s: %d sent (%v), want 1", n, err)
	}
	if !w.d.Yielding() {
		t.Error("Yielding is false while the inbox lags")
	}
	lag.Store(int64(time.Second)) // not over YieldAfter
	if n, err := w.d.Deliver(w.ctx); n != 4 || err != nil {
		t.Fatalf("a round once the inbox keeps up: %d sent (%v), want 4", n, err)
	}
	if w.d.Yielding() {
		t.Error("Yielding is true once the inbox keeps up")
	}
}

// TestDispatchNothingWaitsForeverBehindAnswers: answers to the people
// acting go first, but a credentials message that waited RefreshWait
// counts as one of them and goes by its age (under load the answers never
// ran out, and the credentials never went).
func TestDispatchNothingWaitsForeverBehindAnswers(t *testing.T) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1})
	w.everyone()
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob) // credentials to alice, and refreshes
	w.expand()
	w.clock.Advance(time.Minute)
	// Newer answers, to people with nothing else waiting (the fake
	// platform renders no answers: one picked first is dropped unsent).
	var answers []flows.Delivery
	for i := range 3 {
		who := "actor" + strconv.Itoa(i) + "@example.com"
		answers = append(answers, flows.Delivery{Platform: "slack", Conversation: "slack:dm:" + who, Recipient: who, What: "reply",
			Priority: flows.PriorityActor, Payload: []byte(`{"text":"done"}`), CreatedAt: w.clock.Now()})
	}
	stored, err := w.store.Enqueue(w.ctx, 0, answers...)
	if err != nil {
		t.Fatal(err)
	}
	w.d.Schedule(stored)
	w.seenSlack, w.seenTeams = len(w.slack.Ops()), len(w.teams.Ops())
	if _, err := w.d.Deliver(w.ctx); err != nil {
		t.Fatal(err)
	}
	if ops := w.newOps(); len(ops) != 1 || ops[0] != "send "+alice {
		t.Errorf("first after a minute: %v, want the credentials to %s (older than the answers)", ops, alice)
	}
}

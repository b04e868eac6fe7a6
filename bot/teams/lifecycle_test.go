package teams

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// approved runs a request of alice's through the owner's approval and returns it active.
func (h *harness) approved(resource, reason string) *flows.Request {
	h.t.Helper()
	h.say(alice, aliceConv, "access request "+resource+" read 1h "+reason)
	rs, err := h.svc.Mine(h.ctx, "alice@example.com")
	if err != nil || len(rs) == 0 {
		h.t.Fatalf("no request: %v", err)
	}
	cardAct, card := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(h.t, card, "Approve"))
	r := h.request(string(rs[0].ID))
	if r.State != flows.StateActive {
		h.t.Fatalf("not active: %s", r.State)
	}
	return r
}

// TestExtensionNeedsApproval: an extension asked in Teams goes to the approvers as a card of
// its own, whose outcome stays on it when the grant is revoked later.
func TestExtensionNeedsApproval(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	r := h.approved(invoices, "")
	approvalCard := h.sent(ownerConv)[0]

	h.say(alice, aliceConv, "access extend "+string(r.ID)+" 1h")
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "Asked carol@example.com, owner@example.com to approve 1h more.") {
		t.Fatalf("extend answer:\n%s", cardText(c))
	}
	extAct, ext := h.last(ownerConv)
	if !strings.Contains(cardText(ext), "Extension 1 of request "+string(r.ID)) || !slices.Equal(actionTitles(ext), []string{"Approve", "Deny", "Deny extension"}) {
		t.Fatalf("extension card:\n%s %v", cardText(ext), actionTitles(ext))
	}
	if d := submitData(t, ext, "Approve"); d[dataKey] != "approve-ext:"+string(r.ID)+":1" {
		t.Fatalf("extension approve data %v", d)
	}

	h.click(owner, ownerConv, extAct.ActivityID, submitData(t, ext, "Approve"))
	r = h.request(string(r.ID))
	if !r.ExpiresAt.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("expires at %s", r.ExpiresAt)
	}
	extDone := cardText(h.current(ownerConv, extAct.ActivityID))
	if !strings.Contains(extDone, "Approved by owner@example.com") || !strings.Contains(extDone, "access now ends at Sun 23 Nov 11:00 UTC") {
		t.Errorf("extension card after approval:\n%s", extDone)
	}
	if len(h.sentWith(aliceConv, "Access extended: request "+string(r.ID))) != 1 {
		t.Error("the requester was not told")
	}

	// Revoking from the credentials card: the confirmation's submit.
	creds := h.sentWith(aliceConv, "Access granted")[0]
	h.click(alice, aliceConv, creds.ActivityID, submitData(t, creds.Cards()[0], "Yes, revoke"))
	if r = h.request(string(r.ID)); r.State != flows.StateRevoked {
		t.Fatalf("after revoke: %s", r.State)
	}
	// A revoke ends access: the password is gone because access ended, not because a new
	// password replaced it.
	wantCreds := strings.Join([]string{
		"Credentials of request " + string(r.ID) + " removed",
		"read on " + invoices,
		"Username",
		r.Principal,
		"This message held the password of " + r.Principal + "; it was removed because access to " + invoices + " ended.",
		"Removed at Sun 23 Nov 09:00 UTC",
	}, "\n")
	if got := cardText(h.current(aliceConv, creds.ActivityID)); got != wantCreds {
		t.Errorf("credentials after revoke:\n%s\nwant:\n%s", got, wantCreds)
	}
	if got := cardText(h.current(ownerConv, approvalCard.ActivityID)); !strings.Contains(got, "Revoked by alice@example.com") {
		t.Errorf("approval card after revoke:\n%s", got)
	}
	if got := cardText(h.current(ownerConv, extAct.ActivityID)); got != extDone {
		t.Errorf("a settled extension card changed on revoke:\n%s", got)
	}
	if len(h.sentWith(aliceConv, "Access revoked: request "+string(r.ID))) != 1 {
		t.Error("no revoke notice")
	}
}

// TestExtendAndRotate: Extend on the reminder and rotate by command, each replacing the card
// it made obsolete.
func TestExtendAndRotate(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	r := h.approved(orders, "INC-1")

	h.clock.Set(r.RemindAt)
	if _, err := h.svc.Sweep(h.ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rem := h.sentWith(aliceConv, "Access ends soon")[0]
	h.click(alice, aliceConv, rem.ActivityID, submitData(t, rem.Cards()[0], "Extend 30m"))
	if r = h.request(string(r.ID)); !r.ExpiresAt.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("expires at %s", r.ExpiresAt)
	}
	c := h.current(aliceConv, rem.ActivityID)
	if len(actionTitles(c)) != 0 || !strings.Contains(cardText(c), "Active until Sun 23 Nov 10:30 UTC") {
		t.Errorf("reminder after extending:\n%s %v", cardText(c), actionTitles(c))
	}
	if len(h.sentWith(aliceConv, "Access extended")) != 1 {
		t.Error("no extension notice")
	}

	first := h.sentWith(aliceConv, "Access granted")[0]
	h.say(alice, aliceConv, "access rotate "+string(r.ID))
	if got := h.sentWith(aliceConv, "New credentials were sent here"); len(got) != 1 {
		t.Errorf("rotate answers: %d", len(got))
	}
	if got := h.sentWith(aliceConv, "New credentials: request "+string(r.ID)); len(got) != 1 || !strings.Contains(cardText(got[0].Cards()[0]), "pw-"+r.Principal+"-2") {
		t.Fatalf("new credentials: %d", len(got))
	}
	if got := cardText(h.current(aliceConv, first.ActivityID)); !strings.Contains(got, "a new password replaced it") || strings.Contains(got, "pw-") {
		t.Errorf("old credentials after rotation:\n%s", got)
	}
}

// TestTimeZones: times are shown in the zone the Teams client reported, also after a restart,
// when only the stored contact remembers it.
func TestTimeZones(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	act := h.bf.Message(aliceConv, alice, "access request "+orders+" read 1h INC-1")
	act.LocalTimezone = "Europe/Paris"
	h.deliver(act)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "until Sun 23 Nov 11:00 CET") {
		t.Errorf("confirmation:\n%s", cardText(c))
	}
	h.restart()
	cardAct, card := h.last(ownerConv)
	if !strings.Contains(cardText(card), "decide by Sun 23 Nov 10:00 UTC") {
		t.Errorf("approver without a zone sees UTC:\n%s", cardText(card))
	}
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	creds := h.sentWith(aliceConv, "Access granted")
	if len(creds) != 1 || !strings.Contains(cardText(creds[0].Cards()[0]), "Expires: Sun 23 Nov 11:00 CET") {
		t.Fatalf("credentials after a restart:\n%s", cardText(creds[0].Cards()[0]))
	}
	// A zone Teams would never send is ignored; the one stored stays.
	odd := h.bf.Message(aliceConv, alice, "access list")
	odd.LocalTimezone = "../../etc/passwd"
	h.deliver(odd)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "Active until Sun 23 Nov 11:00 CET") {
		t.Errorf("list:\n%s", cardText(c))
	}
}

func TestNewChecksItsConfig(t *testing.T) {
	h := newHarness(t)
	good := Config{AppID: "app", AppPassword: "pw", TenantID: tenant, Runtime: bot.Runtime{Inbox: testInbox(t)}}
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	for name, tc := range map[string]struct {
		cfg    Config
		engine Engine
		st     Store
	}{
		"no app id":        {with(func(c *Config) { c.AppID = "" }), h.engine, h.contacts},
		"no password":      {with(func(c *Config) { c.AppPassword = "" }), h.engine, h.contacts},
		"no tenant":        {with(func(c *Config) { c.TenantID = "" }), h.engine, h.contacts},
		"blank tenant":     {with(func(c *Config) { c.TenantID = "  " }), h.engine, h.contacts},
		"unknown app type": {with(func(c *Config) { c.AppType = "any_tenant" }), h.engine, h.contacts},
		"bad service host": {with(func(c *Config) { c.ServiceHosts = []string{"https://smba.trafficmanager.net/"} }), h.engine, h.contacts},
		"bare wildcard":    {with(func(c *Config) { c.ServiceHosts = []string{"*.com"} }), h.engine, h.contacts},
		"no engine":        {good, nil, h.contacts},
		"no store":         {good, h.engine, nil},
		"no inbox":         {with(func(c *Config) { c.Inbox = nil }), h.engine, h.contacts},
		"negative timeout": {with(func(c *Config) { c.WorkTimeout = -time.Second }), h.engine, h.contacts},
		"http metadata":    {with(func(c *Config) { c.OpenIDMetadataURL = "http://login.example.com/x" }), h.engine, h.contacts},
		"http token url":   {with(func(c *Config) { c.TokenURL = "http://login.example.com/token" }), h.engine, h.contacts},
	} {
		_, err := New(tc.cfg, tc.engine, tc.st, nil)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if strings.Contains(name, "tenant") && (err == nil || !strings.Contains(err.Error(), "teams: tenant_id: required: the Directory (tenant) ID")) {
			t.Errorf("%s: error %v does not say tenant_id is required", name, err)
		}
	}
	if _, err := New(with(func(c *Config) { c.Inbox = testInbox(t) }), h.engine, h.contacts, nil); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestPing(t *testing.T) {
	h := newHarness(t)
	if err := h.bot.Ping(h.ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.bot.Ping(h.ctx); err != nil {
		t.Fatal(err)
	}
	if h.bf.TokensIssued() != 1 || h.bf.MetadataFetches() != 1 {
		t.Errorf("tokens %d, metadata fetches %d: Ping should reuse what it fetched", h.bf.TokensIssued(), h.bf.MetadataFetches())
	}

	// A bot whose password Microsoft refuses is not ready.
	b, err := New(Config{
		AppID: h.bf.AppID(), AppPassword: "wrong", TenantID: tenant, OpenIDMetadataURL: h.bf.MetadataURL(),
		TokenURL: h.bf.TokenURL(tenant), Runtime: bot.Runtime{HTTPClient: h.bf.Client(), Inbox: testInbox(t)},
	}, h.engine, h.contacts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(h.ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("Ping with a wrong password: %v", err)
	}
}

// TestCloseIsBounded: Close waits for work in flight, but not forever; afterwards deliveries
// are still recorded in the inbox, for the next process.
func TestCloseIsBounded(t *testing.T) {
	h := newHarness(t)
	b, err := New(Config{
		AppID: h.bf.AppID(), AppPassword: h.bf.AppPassword(), TenantID: tenant, OpenIDMetadataURL: h.bf.MetadataURL(),
		TokenURL: h.bf.TokenURL(tenant), Runtime: bot.Runtime{HTTPClient: h.bf.Client(), Inbox: testInbox(t)},
	}, h.engine, h.contacts, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Close's deadline and grace both pass at once: it must give up on the
	// work rather than wait for it.
	deadline, grace := make(chan time.Time), make(chan time.Time)
	close(deadline)
	close(grace)
	b.work.SetCloseTimers(deadline, grace)
	release, finished := make(chan struct{}), make(chan struct{})
	b.work.Go(h.ctx, "stuck", func(context.Context) {
		// Stuck, deaf to its context, until Close has given up on it. The
		// timer only ends it if Close waits for it, which is then reported.
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		close(finished)
	})
	if err := b.Close(); err == nil {
		t.Error("Close reported no leftover work")
	}
	select {
	case <-finished:
		t.Error("Close waited for work deaf to its cancellation")
	default:
	}
	close(release)
	<-finished

	rec := httptest.NewRecorder()
	req, err := teamstest.NewActivityRequest(h.ctx, "http://bot/teams/messages", h.bf.Message(aliceConv, alice, "access list"), h.bf.MintToken(teamstest.TokenClaims{}))
	if err != nil {
		t.Fatal(err)
	}
	b.Handler().ServeHTTP(rec, req)
	// A delivery still reaching the handler is recorded in the inbox, which outlives the
	// bot: the next process runs it.
	if rec.Code != http.StatusOK {
		t.Errorf("delivery after Close: %d", rec.Code)
	}
}

// TestConversationUpdateStoresTheChat: adding the bot to a 1:1 chat is enough for jitbot to
// reach the person later; a removal or a channel stores nothing.
func TestConversationUpdateStoresTheChat(t *testing.T) {
	h := newHarness(t)
	removed := h.bf.Message("a:eve-removed", eve, "")
	removed.Type = schema.InstallationUpdate
	removed.Action = "remove-upgrade"
	h.deliver(removed)
	channel := h.bf.Message("19:channel@thread.tacv2", eve, "")
	channel.Type = schema.ConversationUpdate
	channel.Conversation.ConversationType = "channel"
	channel.MembersAdded = []schema.ChannelAccount{channel.Recipient}
	h.deliver(channel)
	if _, err := h.contacts.Contact(h.ctx, Platform, "eve@example.com"); err == nil {
		t.Fatal("a removal or a channel was stored as a contact")
	}

	added := h.bf.Message(ownerConv, owner, "")
	added.Type = schema.ConversationUpdate
	added.MembersAdded = []schema.ChannelAccount{added.Recipient}
	h.deliver(added)
	data, err := h.contacts.Contact(h.ctx, Platform, "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var ref schema.ConversationReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if ref.Conversation.ID != ownerConv || ref.ServiceURL != h.bf.ServiceURL() || ref.User.ID != owner.ID || ref.ActivityID != "" {
		t.Fatalf("stored reference %+v", ref)
	}
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	if len(h.sent(ownerConv)) != 1 {
		t.Fatal("the owner was not reached")
	}
}

// TestAdminAlerts: when Atlas refuses the user, the requester and the admins reachable in
// Teams are told, and the approval card says so.
func TestAdminAlerts(t *testing.T) {
	h := newHarness(t)
	admin := teamstest.Member{ID: "29:admin", Email: "admin@example.com", AadObjectID: "aad-admin", TenantID: tenant}
	h.bf.AddMember(teamstest.AllConversations, admin)
	h.install(owner, ownerConv)
	h.install(admin, "a:admin-1on1")
	h.prov.Fail = func(op string, _ flows.Grant) error {
		if op == "create" {
			return flows.Errorf(flows.EINVALID, "Atlas refused the user: role read is not allowed here")
		}
		return nil
	}
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	cardAct, card := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	r := h.only(h.svc.Requests(h.ctx, flows.Query{Requester: "alice@example.com"}))
	if r.State != flows.StateFailed {
		t.Fatalf("state %s", r.State)
	}
	for _, conv := range []string{"a:admin-1on1", aliceConv} {
		if got := h.sentWith(conv, "Could not set up access: request "+string(r.ID)); len(got) != 1 ||
			!strings.Contains(cardText(got[0].Cards()[0]), "Problem: Atlas refused the user") {
			t.Errorf("alert in %s: %d", conv, len(got))
		}
	}
	if got := cardText(h.current(ownerConv, cardAct.ActivityID)); !strings.Contains(got, "access could not be set up: Atlas refused the user") {
		t.Errorf("approval card:\n%s", got)
	}
}

// TestEveryApproversCardFollows: when one approver decides, the cards of the others lose their
// buttons and say who decided.
func TestEveryApproversCardFollows(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.install(carol, carolConv)
	h.say(alice, aliceConv, "access request "+invoices+" read 1h")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	ownerCard, _ := h.last(ownerConv)
	carolAct, carolCard := h.last(carolConv)
	if !strings.Contains(cardText(carolCard), "Waiting for 1 approval from carol@example.com and owner@example.com") {
		t.Fatalf("carol's card:\n%s", cardText(carolCard))
	}
	h.click(carol, carolConv, carolAct.ActivityID, submitData(t, carolCard, "Approve"))
	if h.request(string(r.ID)).State != flows.StateActive {
		t.Fatal("not approved")
	}
	for conv, id := range map[string]string{ownerConv: ownerCard.ActivityID, carolConv: carolAct.ActivityID} {
		c := h.current(conv, id)
		if got := cardText(c); !strings.Contains(got, "Approved by carol@example.com") || len(actionTitles(c)) != 0 {
			t.Errorf("card in %s:\n%s %v", conv, got, actionTitles(c))
		}
	}
	// The owner, too late, is told why nothing happened.
	h.click(owner, ownerConv, ownerCard.ActivityID, map[string]any{dataKey: "deny:" + string(r.ID), inputReason: "no"})
	if _, c := h.last(ownerConv); !strings.Contains(cardText(c), "cannot deny request "+string(r.ID)+": it is already active (approved by carol@example.com)") {
		t.Errorf("late deny:\n%s", cardText(c))
	}
}
